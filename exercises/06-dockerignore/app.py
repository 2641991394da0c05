"""Quotes app: a small web app whose folder is full of things that must not end up in the image.

GET /        -> 200 "Quote of the day: ..."
GET /files   -> 200 the files in the app's folder, one a line (see what your .dockerignore kept out)
GET /health  -> 200 "ok"
Listens on 0.0.0.0:$PORT (default 8000).
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

QUOTE = "Quote of the day: a small build context is a fast build context."
HERE = Path(__file__).resolve().parent


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
            self._send(200, QUOTE + "\n")
        elif self.path == "/files":
            self._send(200, "".join(f"{p.name}{'/' if p.is_dir() else ''}\n" for p in sorted(HERE.iterdir())))
        elif self.path == "/health":
            self._send(200, "ok")
        else:
            self._send(404, "not found\n")

    def log_message(self, format: str, *args) -> None:
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    print(f"quotes app listening on 0.0.0.0:{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
