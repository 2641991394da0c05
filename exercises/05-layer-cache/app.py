"""Sizes app: a small web app with one dependency, `humanize` (pinned in requirements.txt).

GET /        -> 200 "Hello! 1234567 bytes is 1.2 MB (humanize 4.9.0)"
GET /size/N  -> 200 N bytes in human units, e.g. /size/2048 -> "2.0 kB"
GET /health  -> 200 "ok"
Listens on 0.0.0.0:$PORT (default 8000).
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version

import humanize


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/":
            self._send(200, f"Hello! 1234567 bytes is {humanize.naturalsize(1234567)} (humanize {version('humanize')})\n")
        elif self.path.startswith("/size/") and self.path[6:].isdigit():
            self._send(200, humanize.naturalsize(int(self.path[6:])) + "\n")
        elif self.path == "/health":
            self._send(200, "ok")
        else:
            self._send(404, "not found\n")

    def log_message(self, format: str, *args) -> None:
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    print(f"sizes app listening on 0.0.0.0:{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
