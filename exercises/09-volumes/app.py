"""Notes: a tiny HTTP app that keeps its notes in a file, so a volume can keep them.

POST /notes   appends the request body as one line to $DATA_DIR/notes.txt (default /data)
GET  /notes   returns the file (empty when there are no notes yet)
GET  /        a short greeting;  GET /health  -> ok
"""

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA_DIR = Path(os.environ.get("DATA_DIR", "/data"))
NOTES = DATA_DIR / "notes.txt"


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
            self._send(200, f"Notes app: POST /notes to add a note, GET /notes to read them (stored in {NOTES})\n")
        elif self.path == "/health":
            self._send(200, "ok")
        elif self.path == "/notes":
            self._send(200, NOTES.read_text() if NOTES.exists() else "")
        else:
            self._send(404, "not found\n")

    def do_POST(self) -> None:
        if self.path != "/notes":
            self._send(404, "not found\n")
            return
        length = int(self.headers.get("Content-Length") or 0)
        note = self.rfile.read(length).decode("utf-8", "replace").replace("\n", " ").strip()
        if not note:
            self._send(400, "send the note as the request body\n")
            return
        try:
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            with NOTES.open("a") as notes:
                notes.write(note + "\n")
        except OSError as exc:
            self._send(500, f"cannot write {NOTES}: {exc}\n")
            return
        self._send(201, f"saved: {note}\n")

    def log_message(self, format: str, *args) -> None:
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", flush=True)


if __name__ == "__main__":
    # as PID 1 in a container, Python ignores SIGTERM unless it handles it: stop at once on `docker stop`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = int(os.environ.get("PORT", "8000"))
    print(f"notes app on 0.0.0.0:{port}, notes in {NOTES}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
