"""The frontend of the RAG stack: a page with a question box that asks the api for you. Port 8501.

GET /             -> the page
GET /ask?q=...    -> the page with the api's answer
API_URL           where the api is, required (in Compose: http://<its service name>:8000)
"""

import html
import json
import os
import signal
import sys
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!doctype html><title>Ask the docs</title><h1>Ask the docs</h1>
<form action="/ask"><input name="q" size="60" value="{question}"><button>Ask</button></form>{answer}"""


def ask_api(question: str) -> str:
    api = os.environ.get("API_URL")
    if not api:
        return "<p class=error>API_URL is not set: the frontend does not know where the api is</p>"
    url = f"{api.rstrip('/')}/ask?" + urllib.parse.urlencode({"q": question})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            data = json.load(response)
    except urllib.error.HTTPError as exc:
        data = {"error": exc.read().decode(errors="replace")[:300]}
    except Exception as exc:
        return f"<p class=error>cannot reach the api at {html.escape(api)}: {html.escape(str(exc))}</p>"
    if "error" in data:
        return f"<p class=error>the api said: {html.escape(str(data['error']))}</p>"
    cached = " (cached)" if data.get("cached") else ""
    return (f"<p class=answer>{html.escape(data['answer'])}</p>"
            f"<p class=source>from {html.escape(data['source'])}{cached}</p>")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/health":
            status, body = 200, "ok\n"
        elif url.path in ("/", "/ask"):
            question = (urllib.parse.parse_qs(url.query).get("q") or [""])[0]
            answer = ask_api(question) if question else ""
            status, body = 200, PAGE.format(question=html.escape(question), answer=answer)
        else:
            status, body = 404, "not found\n"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        print(f"{self.command} {self.path}", flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as PID 1, stop at once on `docker stop`
    print(f"frontend on 0.0.0.0:8501, api at {os.environ.get('API_URL')}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8501), Handler).serve_forever()
