"""A local stand-in for the Slack Web API: a real threaded HTTP server that keeps state.

It answers like Slack (``{"ok": true, ...}`` with ``channel`` and ``ts``), checks the
bot token, refuses methods it does not know, records every call, and keeps each
channel's messages by ts, so tests and the demo can read what the channel shows now.
Fault knobs make a method answer 429 (with Retry-After) or 5xx for the next N calls.
``render_message`` shows a message's Block Kit as the text a person would see.

Beside it: slack_messages.py (Message, Change), slack_http.py (the HTTP side),
slack_render.py (what a person sees), slack_requests.py (what Slack sends the app);
their names tests and the demo use are importable from here too.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .slack_http import HTTPServer, handler_for
from .slack_messages import BOT_USER, Change, Message, copy_message, message_json, parse_blocks
from .slack_render import buttons_of, mrkdwn, render_message
from .slack_requests import LEGACY_TOKEN, block_actions_body, signed_headers, slash_command_body

__all__ = ["BOT_USER", "LEGACY_TOKEN", "METHODS", "Call", "Change", "Message", "SlackAPI",
           "block_actions_body", "buttons_of", "mrkdwn", "render_message", "signed_headers",
           "slash_command_body"]
log = logging.getLogger(__name__)
METHODS = ("auth.test", "chat.postMessage", "chat.update", "chat.postEphemeral",
           "conversations.setTopic", "conversations.info", "apps.connections.open")


@dataclass(frozen=True)
class Call:
    method: str          # "chat.update", or "response_url"
    args: dict[str, Any]
    status: int
    answer: dict[str, Any]


class SlackAPI:
    """``with SlackAPI() as slack: WebClient(token=slack.token, base_url=slack.url)``."""

    def __init__(self, *, token: str = "xoxb-sandbox-token", app_token: str = "xapp-sandbox-token",
                 host: str = "127.0.0.1", port: int = 0,
                 channels: dict[str, str] | None = None, users: dict[str, str] | None = None,
                 on_change: Callable[[Change], None] | None = None) -> None:
        self.token = token
        self.app_token = app_token
        self.socket_url: str | None = None     # what apps.connections.open hands out (Socket Mode)
        self.channels = dict(channels or {"C0DEPLOYS": "deploys"})
        self.users = {BOT_USER: "bluegreen", **(users or {})}
        self.on_change = on_change
        self.calls: list[Call] = []
        self._messages: dict[str, dict[str, Message]] = {c: {} for c in self.channels}
        self._ephemeral: list[Message] = []
        self._topics: dict[str, str] = {c: "" for c in self.channels}
        self._responses: dict[str, tuple[str, str, str | None]] = {}
        self._faults: dict[str, list[tuple[int, int]]] = {}
        self._ts = itertools.count(1)
        self._cond = threading.Condition()
        self._server = HTTPServer((host, port), handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The Web API base URL (what ``$SLACK_API_URL`` holds)."""
        return self.base + "/api/"

    def start(self) -> SlackAPI:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="slack-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SlackAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests read ---------------------------------------------------------------
    def messages(self, channel: str) -> list[Message]:
        """The channel's messages as it shows them now, oldest first."""
        with self._cond:
            return [copy_message(m) for m in self._messages.get(channel, {}).values()]

    def message(self, channel: str, ts: str) -> Message | None:
        with self._cond:
            m = self._messages.get(channel, {}).get(ts)
            return copy_message(m) if m else None

    def topic(self, channel: str) -> str:
        with self._cond:
            return self._topics.get(channel, "")

    def ephemeral(self, user: str | None = None) -> list[Message]:
        with self._cond:
            return [copy_message(m) for m in self._ephemeral if user in (None, m.ephemeral_for)]

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def clear_calls(self) -> None:
        """Forget the calls and private answers so far (messages and topics stay)."""
        with self._cond:
            self.calls.clear()
            self._ephemeral.clear()

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every call); return it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"Slack stand-in: condition not met in {timeout}s")
                self._cond.wait(min(left, 0.1))

    def response_url(self, channel: str, user: str, message_ts: str | None = None) -> str:
        """A response_url for a slash command (or, with ``message_ts``, a button press)."""
        key = f"R{next(self._ts):06d}"
        with self._cond:
            self._responses[key] = (channel, user, message_ts)
        return f"{self.base}/response/{key}"

    # -- fault knobs -------------------------------------------------------------------
    def fail_next(self, method: str, times: int = 1, status: int = 500) -> None:
        with self._cond:
            self._faults.setdefault(method, []).extend([(status, 0)] * times)

    def rate_limit_next(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        with self._cond:
            self._faults.setdefault(method, []).extend([(429, retry_after)] * times)

    # -- serving -----------------------------------------------------------------------
    def answer(self, method: str, args: dict[str, Any], auth: str | None) -> tuple[int, dict, dict]:
        """A Web API call (slack_http.py hands it over): its status, answer and headers."""
        with self._cond:
            faults = self._faults.get(method)
            if faults:
                status, retry_after = faults.pop(0)
                answer = {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"}
                headers = {"Retry-After": str(retry_after)} if status == 429 else {}
                return self._record(method, args, status, answer), answer, headers
            token = (auth or "").removeprefix("Bearer ").strip() or args.get("token")
            if method not in METHODS:
                answer = {"ok": False, "error": "unknown_method"}
            elif not token:
                answer = {"ok": False, "error": "not_authed"}
            elif method == "apps.connections.open":
                answer = self._apps_connections_open(token)
            elif token != self.token:
                answer = {"ok": False, "error": "invalid_auth"}
            else:
                answer = getattr(self, "_" + method.replace(".", "_"))(args)
            self._cond.notify_all()
            return self._record(method, args, 200, answer), answer, {}

    def _record(self, method: str, args: dict, status: int, answer: dict) -> int:
        self.calls.append(Call(method, {k: v for k, v in args.items() if k != "token"}, status,
                               answer))
        return status

    def _notify(self, change: Change) -> None:
        if self.on_change:
            try:
                self.on_change(change)
            except Exception:  # noqa: BLE001 - a printer must not break the server
                log.debug("change printer failed", exc_info=True)

    def _new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _channel_error(self, args: dict) -> dict | None:
        if "channel" not in args:
            return {"ok": False, "error": "channel_not_found"}
        if args["channel"] not in self._messages:
            return {"ok": False, "error": "channel_not_found"}
        return None

    def _apps_connections_open(self, token: str) -> dict:
        if token == self.token:
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        if not self.socket_url:
            return {"ok": False, "error": "socket_mode_not_enabled"}
        return {"ok": True, "url": self.socket_url}

    def _auth_test(self, args: dict) -> dict:
        return {"ok": True, "url": "https://sandbox.slack.com/", "team": "Sandbox",
                "user": "bluegreen", "team_id": "T0SANDBOX", "user_id": BOT_USER, "bot_id": "B0BOT"}

    def _chat_postMessage(self, args: dict) -> dict:
        if err := self._channel_error(args):
            return err
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        m = Message(args["channel"], self._new_ts(), args.get("text") or "",
                    parse_blocks(args.get("blocks")))
        self._messages[m.channel][m.ts] = m
        self._notify(Change("post", m.channel, copy_message(m)))
        return {"ok": True, "channel": m.channel, "ts": m.ts, "message": message_json(m)}

    def _chat_update(self, args: dict) -> dict:
        if err := self._channel_error(args):
            return err
        m = self._messages[args["channel"]].get(str(args.get("ts")))
        if m is None:
            return {"ok": False, "error": "message_not_found"}
        if "text" in args:
            m.text = args["text"] or ""
        if "blocks" in args:
            m.blocks = parse_blocks(args["blocks"])
        m.edits += 1
        self._notify(Change("update", m.channel, copy_message(m)))
        return {"ok": True, "channel": m.channel, "ts": m.ts, "text": m.text,
                "message": message_json(m)}

    def _chat_postEphemeral(self, args: dict) -> dict:
        if err := self._channel_error(args):
            return err
        if not args.get("user"):
            return {"ok": False, "error": "user_not_found"}
        m = Message(args["channel"], self._new_ts(), args.get("text") or "",
                    parse_blocks(args.get("blocks")), ephemeral_for=args["user"])
        self._ephemeral.append(m)
        self._notify(Change("ephemeral", m.channel, copy_message(m)))
        return {"ok": True, "message_ts": m.ts}

    def _conversations_setTopic(self, args: dict) -> dict:
        if err := self._channel_error(args):
            return err
        topic = args.get("topic") or ""
        if len(topic) > 250:
            return {"ok": False, "error": "too_long"}
        self._topics[args["channel"]] = topic
        self._notify(Change("topic", args["channel"], topic=topic))
        return {"ok": True, "channel": self._channel_json(args["channel"])}

    def _conversations_info(self, args: dict) -> dict:
        if err := self._channel_error(args):
            return err
        return {"ok": True, "channel": self._channel_json(args["channel"])}

    def _channel_json(self, channel: str) -> dict:
        return {"id": channel, "name": self.channels[channel], "is_channel": True,
                "topic": {"value": self._topics[channel], "creator": BOT_USER, "last_set": 0}}

    def respond(self, key: str, body: dict) -> int:
        """A post to a response_url this stand-in handed out: its status."""
        with self._cond:
            where = self._responses.get(key)
            self._record("response_url", {"key": key, **body}, 200 if where else 404, {})
            if where is None:
                return 404
            channel, user, source_ts = where
            text, blocks = body.get("text") or "", parse_blocks(body.get("blocks"))
            source = self._messages.get(channel, {}).get(source_ts or "")
            if body.get("delete_original") and source:
                del self._messages[channel][source.ts]
                self._notify(Change("delete", channel, copy_message(source)))
            elif body.get("replace_original") and source:
                source.text, source.blocks = text, blocks
                source.edits += 1
                self._notify(Change("update", channel, copy_message(source)))
            elif body.get("response_type") == "in_channel":
                m = Message(channel, self._new_ts(), text, blocks)
                self._messages.setdefault(channel, {})[m.ts] = m
                self._notify(Change("post", channel, copy_message(m)))
            else:
                m = Message(channel, self._new_ts(), text, blocks, ephemeral_for=user)
                self._ephemeral.append(m)
                self._notify(Change("ephemeral", channel, copy_message(m)))
            self._cond.notify_all()
            return 200
