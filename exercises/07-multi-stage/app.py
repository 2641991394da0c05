"""A tiny web app for exercise 07: `GET /` answers with a sentence built by the `humanize` package.

`humanize` comes from requirements.txt, so the app only starts when the dependency made it
into the final image. Listens on 0.0.0.0:$PORT (default 8000); `GET /health` answers `ok`.
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import humanize  # installed in the builder stage, copied into the final one


def greeting() -> str:
    size = humanize.naturalsize(48_000_000)
    return f"Hello from a multi-stage build! The builder stage's compilers weigh about {size}; you left them behind.\n"


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
            self._send(200, greeting())
        elif self.path == "/health":
            self._send(200, "ok\n")
        else:
            self._send(404, "not found\n")


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    print(f"listening on 0.0.0.0:{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
