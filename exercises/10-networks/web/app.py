"""The web front: GET / fetches $API_URL/items and renders `Items: a, b, c`. GET /health -> ok.

API_URL has no default on purpose: Compose must tell the web where the api is.
"""

import json
import os
import signal
import sys
import urllib.request
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
            return
        if self.path != "/":
            self._send(404, "not found\n")
            return
        api_url = os.environ.get("API_URL", "").rstrip("/")
        if not api_url:
            self._send(500, "API_URL is not set: tell the web where the api is (e.g. http://api:8000)\n")
            return
        try:
            with urllib.request.urlopen(f"{api_url}/items", timeout=3) as response:
                items = json.load(response)
        except Exception as exc:  # show the learner what went wrong
            self._send(502, f"could not fetch {api_url}/items: {exc}\n")
            return
        self._send(200, "Items: " + ", ".join(str(item) for item in items) + "\n")

    def log_message(self, format: str, *args) -> None:
        print(f"web: {self.command} {self.path}", flush=True)


if __name__ == "__main__":
    # as PID 1 in a container, Python ignores SIGTERM unless it handles it: stop at once on `docker stop`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = int(os.environ.get("PORT", "8000"))
    print(f"web on 0.0.0.0:{port}, API_URL={os.environ.get('API_URL', '(not set)')}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
