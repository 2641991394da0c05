"""The notebook's `http_get`: it waits (through dockyard.polling) for an app that starts late. A real local server."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from dockyard import notebook as nb


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello <learner>")

    def log_message(self, *args):
        pass


def test_http_get_waits_for_an_app_that_starts_late():
    port = free_port()
    servers = []

    def start_late():
        time.sleep(0.8)  # the app is still starting when the first requests go out
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Hello)
        servers.append(server)
        server.serve_forever()

    threading.Thread(target=start_late, daemon=True).start()
    try:
        assert nb.http_get(f"http://127.0.0.1:{port}/", timeout_s=10, show=False) == "hello <learner>"
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_http_get_says_what_it_waited_for():
    with pytest.raises(RuntimeError, match=r"nothing answered at http://127\.0\.0\.1:\d+/ within 1 s"):
        nb.http_get(f"http://127.0.0.1:{free_port()}/", timeout_s=1, show=False)
