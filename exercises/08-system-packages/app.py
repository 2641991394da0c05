"""What kind of file is it? POST any bytes to / and get libmagic's answer (the engine behind the `file` command);
GET / names the type of a sample PDF header. Port 8000.

`python-magic` is a thin Python layer over the C library libmagic: pip installs the Python part only. Without
the Debian package `libmagic1` in the image, `import magic` fails with `ImportError: failed to find libmagic`.
"""

import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import magic

SAMPLE = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"


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
            self._send(200, f"sample.pdf is: {magic.from_buffer(SAMPLE)}\n")
        else:
            self._send(404, "not found\n")

    def do_POST(self) -> None:
        length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
        self._send(200, magic.from_buffer(self.rfile.read(length)) + "\n")

    def log_message(self, format: str, *args) -> None:
        print(f"{self.command} {self.path}", flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as PID 1, stop at once on `docker stop`
    print(f"file types on 0.0.0.0:8000 (libmagic {magic.version()})", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
