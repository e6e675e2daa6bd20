"""Serve the App over WSGI: Bolt at POST /slack/events, the bot's own health at
GET /healthz; nothing else.

Before Bolt reads a request: a bounded body, Slack's signature checked on it (401
otherwise, also for a timestamp that is not a number: Bolt's own check, which still
runs, would raise on it and answer 500), and a body of a shape Slack sends (400 with a
sentence otherwise: Bolt would fail on malformed JSON or a wrong shape with a 500). The
size and shape checks are ``handlers.payloads``, which Socket Mode and the demo use too."""
from __future__ import annotations

import json
from typing import Callable, Iterable
from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_sdk.signature import SignatureVerifier

from handlers import payloads
from handlers.payloads import MAX_BODY

from .app import context_of

EVENTS_PATH = "/slack/events"


def make_wsgi(bolt: App) -> Callable[[dict, Callable], Iterable[bytes]]:
    verifier = SignatureVerifier(context_of(bolt).env.get("SLACK_SIGNING_SECRET") or "-")

    def events(environ: dict) -> WsgiHttpResponse:
        request = WsgiHttpRequest(environ)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refuse(payloads.Refusal(400, "its length is not a number"))
        if length > MAX_BODY:
            return _refuse(payloads.TOO_LARGE)
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        body = _signed(verifier, raw, environ)
        if body is None:
            if _ssl_check(raw):
                return WsgiHttpResponse(200, {}, "")
            return WsgiHttpResponse(401, {"content-type": ["application/json"]},
                                    json.dumps({"error": "invalid request"}))
        bolt_request = payloads.read(body, request.get_headers(), request.query_string)
        if isinstance(bolt_request, payloads.Refusal):
            return _refuse(bolt_request)
        answer = bolt.dispatch(bolt_request)
        return WsgiHttpResponse(answer.status, answer.headers, answer.body)

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/healthz" and method in ("GET", "HEAD"):
            response = WsgiHttpResponse(200, {"content-type": ["application/json"]},
                                        json.dumps({"ok": True}))
        elif path == EVENTS_PATH and method == "POST":
            response = events(environ)
        else:
            response = WsgiHttpResponse(404, {"content-type": ["text/plain;charset=utf-8"]},
                                        "Not Found")
        start_response(response.status, response.get_headers())
        return response.get_body()
    return wsgi


def _signed(verifier: SignatureVerifier, raw: bytes, environ: dict) -> str | None:
    """The body as text when Slack's signature and timestamp check out, else None."""
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
    if not (timestamp.isascii() and timestamp.isdigit()) or not signature:
        return None
    try:
        body = raw.decode("utf-8")
        return body if verifier.is_valid(body, timestamp, signature) else None
    except (ValueError, TypeError):      # not UTF-8, or a signature that is not ASCII
        return None


def _ssl_check(raw: bytes) -> bool:
    """Slack's certificate check of a slash command URL: answered empty, as Bolt does."""
    return parse_qs(raw.decode("latin-1")).get("ssl_check") == ["1"]


def _refuse(refusal: payloads.Refusal) -> WsgiHttpResponse:
    """A refusal the sender can read (Slack shows its text only to the person)."""
    return WsgiHttpResponse(refusal.status, {"content-type": ["application/json"]},
                            json.dumps({"response_type": "ephemeral", "text": refusal.text}))
