"""A notes service: GET / shows the owner's notes, GET /notes.json the same as JSON, GET /health -> ok.

Everything it keeps is in /data: notes.txt (one note a line, added with `python add_note.py "text"`)
and starts.log (one line each time the service starts). The owner's name comes from $NOTES_OWNER.
"""
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATA = os.environ.get("NOTES_DIR", "/data")
OWNER = os.environ.get("NOTES_OWNER", "").strip() or "nobody"
PORT = int(os.environ.get("PORT", "8000"))


def read_lines(name):
    try:
        with open(os.path.join(DATA, name), encoding="utf-8") as handle:
            return [line.rstrip("\n") for line in handle if line.strip()]
    except FileNotFoundError:
        return []


def state():
    return {"owner": OWNER, "notes": read_lines("notes.txt"), "starts": len(read_lines("starts.log"))}


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, text, kind="text/plain; charset=utf-8"):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        now = state()
        if self.path == "/health":
            self.reply(200, "ok\n")
        elif self.path == "/notes.json":
            self.reply(200, json.dumps(now) + "\n", "application/json")
        elif self.path == "/":
            lines = [f"Notes of {now['owner']} ({len(now['notes'])} notes, started {now['starts']} times)"]
            lines += [f"- {note}" for note in now["notes"]]
            self.reply(200, "\n".join(lines) + "\n")
        else:
            self.reply(404, "not found\n")

    def log_message(self, fmt, *args):
        print(f"notes: {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", flush=True)


def main():
    os.makedirs(DATA, exist_ok=True)
    with open(os.path.join(DATA, "starts.log"), "a", encoding="utf-8") as handle:
        handle.write(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `docker stop` stops it at once
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    now = state()
    print(f"notes: listening on 0.0.0.0:{PORT} for {now['owner']}, {len(now['notes'])} notes in {DATA}, "
          f"start number {now['starts']}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
