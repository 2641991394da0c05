"""The items API: GET /items -> a JSON list; GET /health -> ok. Listens on 0.0.0.0:$PORT (default 8000)."""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEMS = ["apples", "bread", "coffee"]


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/items":
            self._send(200, json.dumps(ITEMS).encode(), "application/json")
        elif self.path == "/health":
            self._send(200, b"ok", "text/plain")
        else:
            self._send(404, b"not found\n", "text/plain")

    def log_message(self, format: str, *args) -> None:
        print(f"api: {self.command} {self.path}", flush=True)


if __name__ == "__main__":
    # as PID 1 in a container, Python ignores SIGTERM unless it handles it: stop at once on `docker stop`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = int(os.environ.get("PORT", "8000"))
    print(f"api on 0.0.0.0:{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
