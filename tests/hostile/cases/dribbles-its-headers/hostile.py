"""Answers every request one byte a second, headers that never end: each read is quick, the answer never is."""
import socket
import threading
import time


def answer(connection):
    try:
        connection.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: ":
            connection.sendall(bytes([byte]))
            time.sleep(1)
        while True:  # a header line that never ends
            connection.sendall(b"z")
            time.sleep(1)
    except OSError:
        connection.close()


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", 8000))
server.listen(128)
while True:
    connection, _ = server.accept()
    threading.Thread(target=answer, args=(connection,), daemon=True).start()
