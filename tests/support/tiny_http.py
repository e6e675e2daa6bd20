"""A tiny threaded HTTP server answering GETs from a function: test backends that
say their colour, fail with 500, and the like."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

Answer = Callable[[str], tuple[int, str]]   # path -> (status, body)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, text = self.server.answer(self.path)  # type: ignore[attr-defined]
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class TinyHTTP:
    """``TinyHTTP(("127.0.0.12", 8091), lambda path: (200, "blue"))``; ``stop()`` when done."""

    def __init__(self, address: tuple[str, int], answer: Answer) -> None:
        self.server = ThreadingHTTPServer(address, _Handler)
        self.server.answer = answer  # type: ignore[attr-defined]
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        return "http://%s:%d" % self.address

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def saying(text: str) -> Answer:
    """Answer every GET with 200 and ``text``."""
    return lambda path: (200, text)
