"""A tiny web app for exercise 16: `GET /` greets you (and says who it runs as), `GET /health` answers `ok`.

While the file /tmp/unhealthy exists, `/health` answers 503 instead: `docker exec <container> touch
/tmp/unhealthy` and watch your HEALTHCHECK turn the container `unhealthy` (`rm` it to recover).

Standard library only. Listens on 0.0.0.0:$PORT (default 8000) and logs every request to stderr,
so `docker logs` shows your HEALTHCHECK calling /health.
"""

import getpass
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UNHEALTHY_FLAG = os.environ.get("UNHEALTHY_FLAG", "/tmp/unhealthy")


def whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # a uid with no name in /etc/passwd
        return f"uid {os.getuid()}"


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
            self._send(200, f"Hello from a well-behaved container! (running as {whoami()})\n")
        elif self.path == "/health":
            if os.path.exists(UNHEALTHY_FLAG):
                self._send(503, f"unhealthy ({UNHEALTHY_FLAG} exists)\n")
            else:
                self._send(200, "ok\n")
        else:
            self._send(404, "not found\n")


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"listening on 0.0.0.0:{port} as {whoami()}", flush=True)
    server.serve_forever()
