"""Hello app: the smallest web app worth putting in an image (Python standard library only).

GET /        -> 200 "Hello from Docker!"
GET /health  -> 200 "ok"
Listens on 0.0.0.0:$PORT (default 8000), so it can be reached from outside its container.
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
            self._send(200, "Hello from Docker!\n")
        elif self.path == "/health":
            self._send(200, "ok")
        else:
            self._send(404, "not found\n")

    def log_message(self, format: str, *args) -> None:
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    print(f"hello app listening on 0.0.0.0:{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
