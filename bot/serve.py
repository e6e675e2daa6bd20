"""Serve the App over WSGI: Bolt at POST /slack/events (it checks Slack's
signature), the bot's own health at GET /healthz; nothing else."""
from __future__ import annotations

import json
from typing import Callable, Iterable

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

EVENTS_PATH = "/slack/events"


def make_wsgi(bolt: App) -> Callable[[dict, Callable], Iterable[bytes]]:
    events = SlackRequestHandler(bolt, path=EVENTS_PATH)

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            body = json.dumps({"ok": True}).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        return events(environ, start_response)
    return wsgi
