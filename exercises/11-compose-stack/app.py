"""A visit counter kept in Redis: GET / -> `Visits: N`; GET /health -> ok.

Settings come from the environment (no defaults: Compose must provide them, from `.env`):
REDIS_HOST  the Redis server's host name (in Compose: its service name)
REDIS_PORT  its port (6379)
The Redis client is a tiny one written with the standard library (INCR and PING only).
"""

import os
import signal
import sys
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def redis_command(*args: str) -> str:
    """Send one command in the Redis protocol (RESP) and return the reply as text."""
    host, port = os.environ.get("REDIS_HOST"), os.environ.get("REDIS_PORT")
    if not host or not port:
        raise RuntimeError("REDIS_HOST and REDIS_PORT must be set (put them in .env and use env_file)")
    request = f"*{len(args)}\r\n" + "".join(f"${len(arg.encode())}\r\n{arg}\r\n" for arg in args)
    with socket.create_connection((host, int(port)), timeout=3) as connection:
        connection.sendall(request.encode())
        reply = connection.makefile("rb").readline().decode().strip()
    if reply.startswith("-"):
        raise RuntimeError(f"redis error: {reply[1:]}")
    return reply[1:]


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, "ok")
        elif self.path == "/":
            try:
                visits = redis_command("INCR", "visits")
            except Exception as exc:
                self._send(500, f"cannot reach redis: {exc}\n")
                return
            self._send(200, f"Visits: {visits}\n")
        else:
            self._send(404, "not found\n")

    def log_message(self, format: str, *args) -> None:
        print(f"{self.command} {self.path}", flush=True)


if __name__ == "__main__":
    # as PID 1 in a container, Python ignores SIGTERM unless it handles it: stop at once on `docker stop`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = int(os.environ.get("PORT", "8000"))
    print(f"counter on 0.0.0.0:{port}, redis at {os.environ.get('REDIS_HOST')}:{os.environ.get('REDIS_PORT')}",
          flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
