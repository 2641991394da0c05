"""Accepts every connection on port 8000 and never says a word (nor closes it)."""
import socket

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", 8000))
server.listen(128)
held = []
while True:
    connection, _ = server.accept()
    held.append(connection)
