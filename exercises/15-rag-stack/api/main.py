"""The "ask the docs" api of the RAG stack, offline: it finds the passage of sample_data/ that best answers a
question (the retrieval half of RAG) and caches each answer in Redis, as you would cache a costly LLM call.

GET /ask?q=<question> -> {"answer", "source", "cached", "llm"};  GET /health -> ok.  Port 8000.

OPENAI_API_KEY  required (a real app would call the LLM with it; this one never calls anyone, it only
                checks the key arrived and shows its first characters)
REDIS_HOST      Redis's host name (default `redis`, its service name), port 6379
"""

import json
import os
import re
import signal
import socket
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WORDS = re.compile(r"[a-z]+")
PASSAGES = [(path.name, para.strip()) for path in sorted(Path("sample_data").glob("*.txt"))
            for para in path.read_text().split("\n\n") if para.strip()]


def redis(*args: str) -> str | None:
    """One Redis command (RESP over a socket): the reply as text, None for a missing key."""
    request = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection((os.environ.get("REDIS_HOST", "redis"), 6379), timeout=3) as connection:
        connection.sendall(request.encode())
        stream = connection.makefile("rb")
        head = stream.readline().decode().rstrip("\r\n")
        if head.startswith("-"):
            raise RuntimeError(head[1:])
        if head.startswith("$"):
            return None if head == "$-1" else stream.read(int(head[1:]) + 2)[:-2].decode()
        return head[1:]


def best_passage(question: str) -> tuple[str, str]:
    asked = set(WORDS.findall(question.lower()))
    source, text = max(PASSAGES, key=lambda item: len(asked & set(WORDS.findall(item[1].lower()))))
    return source, text


def ask(question: str) -> tuple[int, dict]:
    key = os.environ.get("OPENAI_API_KEY", "")
    if not key.startswith("sk-"):
        return 500, {"error": "OPENAI_API_KEY is not set (put it in .env; compose fills in ${OPENAI_API_KEY})"}
    cache_key = "answer:" + " ".join(sorted(set(WORDS.findall(question.lower()))))
    try:
        cached = redis("GET", cache_key)
        if cached is not None:
            return 200, {**json.loads(cached), "cached": True}
        source, text = best_passage(question)
        answer = {"answer": text, "source": source, "llm": f"offline stand-in (key {key[:6]}…)"}
        redis("SET", cache_key, json.dumps(answer))
    except (OSError, RuntimeError) as exc:
        return 500, {"error": f"cannot reach redis at {os.environ.get('REDIS_HOST', 'redis')}:6379 ({exc})"}
    return 200, {**answer, "cached": False}


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, data) -> None:
        body = (json.dumps(data) if not isinstance(data, str) else data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(data, str) else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/health":
            self._send(200, "ok\n")
        elif url.path == "/ask":
            question = (urllib.parse.parse_qs(url.query).get("q") or [""])[0]
            self._send(*ask(question))
        else:
            self._send(404, {"error": "not found"})

    def log_message(self, format: str, *args) -> None:
        print(f"{self.command} {self.path}", flush=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as PID 1, stop at once on `docker stop`
    print(f"api on 0.0.0.0:8000, {len(PASSAGES)} passages, redis at {os.environ.get('REDIS_HOST', 'redis')}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
