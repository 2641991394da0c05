"""The menu api: GET / -> `Today's menu: soup, bread, tea`; GET /health -> ok. Port 8000.

It loads the menu from the db once, when it starts (as many apps load their settings or cache):
DB_HOST  the db's host name (in Compose: its service name). Required, no default.
If the db cannot be reached at that moment, the api keeps running but answers 503 with the reason:
read it with `docker compose logs api`.
"""

import json
import os
import signal
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def load_menu() -> tuple[list[str] | None, str]:
    """The menu from the db, or None and why not."""
    host = os.environ.get("DB_HOST")
    if not host:
        return None, "DB_HOST is not set: the api does not know where the db is"
    try:
        with urllib.request.urlopen(f"http://{host}:7000/menu", timeout=3) as response:
            return json.load(response), ""
    except Exception as exc:
        return None, f"could not load the menu from http://{host}:7000 at start-up ({exc}): was the db ready?"


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
            self._send(200, "ok\n")
        elif self.path == "/":
            if MENU is None:
                self._send(503, f"no menu: {PROBLEM}\n")
            else:
                self._send(200, f"Today's menu: {', '.join(MENU)}\n")
        else:
            self._send(404, "not found\n")

    def log_message(self, format: str, *args) -> None:
        print(f"{self.command} {self.path}", flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as PID 1, stop at once on `docker stop`
    MENU, PROBLEM = load_menu()
    print("api: menu loaded" if MENU is not None else f"api: ERROR {PROBLEM}", flush=True)
    print("api: listening on 0.0.0.0:8000", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
