"""An app that needs a secret: GET / -> 200 `authorized` when API_KEY is set, else 500 `missing API_KEY`.

GET /health -> ok. Listens on 0.0.0.0:$PORT (default 8000). It never prints the key.
"""

import os
import signal
import sys
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
        if self.path == "/health":
            self._send(200, "ok")
        elif self.path == "/":
            if os.environ.get("API_KEY", "").strip():
                self._send(200, "authorized\n")
            else:
                self._send(500, "missing API_KEY\n")
        else:
            self._send(404, "not found\n")

    def log_message(self, format: str, *args) -> None:
        print(f"{self.command} {self.path}", flush=True)


if __name__ == "__main__":
    # as PID 1 in a container, Python ignores SIGTERM unless it handles it: stop at once on `docker stop`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = int(os.environ.get("PORT", "8000"))
    print(f"app on 0.0.0.0:{port}; API_KEY is {'set' if os.environ.get('API_KEY') else 'NOT set'}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
