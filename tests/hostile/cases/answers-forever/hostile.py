"""Answers every request with a body that never ends (no Content-Length, no end), as fast as it can."""
import socket
import threading

chunk = b"spam " * 13000


def answer(connection):
    try:
        connection.recv(65536)
        connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        while True:
            connection.sendall(chunk)
    except OSError:
        connection.close()


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", 8000))
server.listen(128)
while True:
    connection, _ = server.accept()
    threading.Thread(target=answer, args=(connection,), daemon=True).start()
