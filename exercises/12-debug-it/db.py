"""A stand-in for a database that is slow to start, as real ones are (Postgres replays its log, a search
engine loads its index): it spends LOAD_SECONDS "loading" before it accepts any connection.

GET /menu   -> today's menu, as JSON
GET /health -> 200 `ok` once loaded (503 while /tmp/unhealthy exists: the course's way to test a healthcheck)
Port 7000.
"""

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MENU = ["soup", "bread", "tea"]


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: bytes, kind: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/health":
            if os.path.exists("/tmp/unhealthy"):
                self._send(503, b"unhealthy\n")
            else:
                self._send(200, b"ok\n")
        elif self.path == "/menu":
            self._send(200, json.dumps(MENU).encode(), "application/json")
        else:
            self._send(404, b"not found\n")

    def log_message(self, format: str, *args) -> None:
        print(f"{self.command} {self.path}", flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as PID 1, stop at once on `docker stop`
    seconds = float(os.environ.get("LOAD_SECONDS", "4"))
    print(f"db: loading data ({seconds:g}s), not accepting connections yet", flush=True)
    time.sleep(seconds)
    print("db: ready on 0.0.0.0:7000", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 7000), Handler).serve_forever()
