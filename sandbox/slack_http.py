"""The Slack stand-in's HTTP side: Web API calls under ``/api/``, response_url posts under
``/response/``, bodies form-encoded or JSON as Slack's clients send them."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from .slack_api import SlackAPI


class HTTPServer(ThreadingHTTPServer):
    """A threaded server that takes bursts of connections (the default backlog is 5)."""
    request_queue_size = 128
    daemon_threads = True


def handler_for(api: SlackAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            args = parse_body(raw, self.headers.get("Content-Type") or "")
            args.update({k: v[-1] for k, v in parse_qs(parts.query).items()})
            if parts.path.startswith("/response/") and self.command == "POST":
                status = api.respond(parts.path.removeprefix("/response/"), args)
                self._reply(status, b"ok" if status == 200 else b"no_such_response_url",
                            "text/plain")
            elif parts.path.startswith("/api/"):
                method = parts.path.removeprefix("/api/")
                status, answer, headers = api.answer(method, args,
                                                     self.headers.get("Authorization"))
                self._reply(status, json.dumps(answer).encode(),
                            "application/json; charset=utf-8", headers)
            else:
                self._reply(404, b"not found", "text/plain")

        do_GET = do_POST = _serve

    return Handler


def parse_body(raw: bytes, ctype: str) -> dict[str, Any]:
    if not raw:
        return {}
    text = raw.decode("utf-8")
    if "json" in ctype:
        data = json.loads(text)
        return data if isinstance(data, dict) else {}
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
