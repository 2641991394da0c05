"""A small status service: GET / -> `ok, visit N` (the count is kept in /tmp/visits); GET /health -> ok.

It writes only to /tmp, so it runs in a read-only container as long as /tmp is writable (a tmpfs).
It logs one line per request to stdout and stops at once on SIGTERM.
"""

import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COUNT = Path("/tmp/visits")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body, status = "ok", 200
        else:
            try:
                visits = int(COUNT.read_text()) + 1 if COUNT.exists() else 1
                COUNT.write_text(str(visits))
                body, status = f"ok, visit {visits}", 200
            except OSError as error:  # a read-only /tmp: the container needs a tmpfs there
                body, status = f"cannot write {COUNT}: {error.strerror}", 500
        data = (body + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print(f"{self.address_string()} {format % args}", flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("listening on :8000", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
