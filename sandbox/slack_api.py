"""A local stand-in for the Slack Web API: a real threaded HTTP server that keeps state.

It answers like Slack (``{"ok": true, ...}`` with ``channel`` and ``ts``), checks the
bot token, refuses methods it does not know, records every call, and keeps each
channel's messages by ts, so tests and the demo can read what the channel shows now.
Fault knobs make a method answer 429 (with Retry-After) or 5xx for the next N calls.
``render_message`` shows a message's Block Kit as the text a person would see.
"""
from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)
# Slack still sends its deprecated verification token field; the stand-in sends a fake one.
LEGACY_TOKEN = "legacy-verification-token"  # nosec B105 # not a secret
BOT_USER = "U0BLUEGREEN"
METHODS = ("auth.test", "chat.postMessage", "chat.update", "chat.postEphemeral",
           "conversations.setTopic", "conversations.info", "apps.connections.open")


class _HTTPServer(ThreadingHTTPServer):
    """A threaded server that takes bursts of connections (the default backlog is 5)."""
    request_queue_size = 128
    daemon_threads = True


@dataclass
class Message:
    channel: str
    ts: str
    text: str = ""
    blocks: list[dict] = field(default_factory=list)
    user: str = BOT_USER
    ephemeral_for: str | None = None   # a user ID: only they see it
    edits: int = 0


@dataclass(frozen=True)
class Call:
    method: str          # "chat.update", or "response_url"
    args: dict[str, Any]
    status: int
    answer: dict[str, Any]


@dataclass(frozen=True)
class Change:
    """What a person watching the channel would notice: kind is post | update | delete |
    ephemeral | topic."""
    kind: str
    channel: str
    message: Message | None = None
    topic: str | None = None


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
        self._server = _HTTPServer((host, port), _handler_for(self))
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
            return [_copy(m) for m in self._messages.get(channel, {}).values()]

    def message(self, channel: str, ts: str) -> Message | None:
        with self._cond:
            m = self._messages.get(channel, {}).get(ts)
            return _copy(m) if m else None

    def topic(self, channel: str) -> str:
        with self._cond:
            return self._topics.get(channel, "")

    def ephemeral(self, user: str | None = None) -> list[Message]:
        with self._cond:
            return [_copy(m) for m in self._ephemeral if user in (None, m.ephemeral_for)]

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
    def _answer(self, method: str, args: dict[str, Any], auth: str | None) -> tuple[int, dict, dict]:
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
                    _blocks(args.get("blocks")))
        self._messages[m.channel][m.ts] = m
        self._notify(Change("post", m.channel, _copy(m)))
        return {"ok": True, "channel": m.channel, "ts": m.ts, "message": _as_json(m)}

    def _chat_update(self, args: dict) -> dict:
        if err := self._channel_error(args):
            return err
        m = self._messages[args["channel"]].get(str(args.get("ts")))
        if m is None:
            return {"ok": False, "error": "message_not_found"}
        if "text" in args:
            m.text = args["text"] or ""
        if "blocks" in args:
            m.blocks = _blocks(args["blocks"])
        m.edits += 1
        self._notify(Change("update", m.channel, _copy(m)))
        return {"ok": True, "channel": m.channel, "ts": m.ts, "text": m.text,
                "message": _as_json(m)}

    def _chat_postEphemeral(self, args: dict) -> dict:
        if err := self._channel_error(args):
            return err
        if not args.get("user"):
            return {"ok": False, "error": "user_not_found"}
        m = Message(args["channel"], self._new_ts(), args.get("text") or "",
                    _blocks(args.get("blocks")), ephemeral_for=args["user"])
        self._ephemeral.append(m)
        self._notify(Change("ephemeral", m.channel, _copy(m)))
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

    def _respond(self, key: str, body: dict) -> int:
        with self._cond:
            where = self._responses.get(key)
            self._record("response_url", {"key": key, **body}, 200 if where else 404, {})
            if where is None:
                return 404
            channel, user, source_ts = where
            text, blocks = body.get("text") or "", _blocks(body.get("blocks"))
            source = self._messages.get(channel, {}).get(source_ts or "")
            if body.get("delete_original") and source:
                del self._messages[channel][source.ts]
                self._notify(Change("delete", channel, _copy(source)))
            elif body.get("replace_original") and source:
                source.text, source.blocks = text, blocks
                source.edits += 1
                self._notify(Change("update", channel, _copy(source)))
            elif body.get("response_type") == "in_channel":
                m = Message(channel, self._new_ts(), text, blocks)
                self._messages.setdefault(channel, {})[m.ts] = m
                self._notify(Change("post", channel, _copy(m)))
            else:
                m = Message(channel, self._new_ts(), text, blocks, ephemeral_for=user)
                self._ephemeral.append(m)
                self._notify(Change("ephemeral", channel, _copy(m)))
            self._cond.notify_all()
            return 200


def _handler_for(api: SlackAPI) -> type[BaseHTTPRequestHandler]:
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
            args = _parse_body(raw, self.headers.get("Content-Type") or "")
            args.update({k: v[-1] for k, v in parse_qs(parts.query).items()})
            if parts.path.startswith("/response/") and self.command == "POST":
                status = api._respond(parts.path.removeprefix("/response/"), args)
                self._reply(status, b"ok" if status == 200 else b"no_such_response_url",
                            "text/plain")
            elif parts.path.startswith("/api/"):
                method = parts.path.removeprefix("/api/")
                status, answer, headers = api._answer(method, args,
                                                      self.headers.get("Authorization"))
                self._reply(status, json.dumps(answer).encode(),
                            "application/json; charset=utf-8", headers)
            else:
                self._reply(404, b"not found", "text/plain")

        do_GET = do_POST = _serve

    return Handler


def _parse_body(raw: bytes, ctype: str) -> dict[str, Any]:
    if not raw:
        return {}
    text = raw.decode("utf-8")
    if "json" in ctype:
        data = json.loads(text)
        return data if isinstance(data, dict) else {}
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _blocks(value: Any) -> list[dict]:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    return list(value or [])


def _copy(m: Message) -> Message:
    return Message(m.channel, m.ts, m.text, json.loads(json.dumps(m.blocks)), m.user,
                   m.ephemeral_for, m.edits)


def _as_json(m: Message) -> dict:
    return {"type": "message", "user": m.user, "ts": m.ts, "text": m.text, "blocks": m.blocks}


# -- rendering Block Kit as the text a person would see ------------------------------------

def render_message(m: Message, users: dict[str, str] | None = None,
                   channels: dict[str, str] | None = None,
                   number: Callable[[dict, Message], int | None] | None = None) -> str:
    """Blocks as text; ``number(button, message)`` may give a button a number to press."""
    if not m.blocks:
        return mrkdwn(m.text, users, channels)
    lines: list[str] = []
    for block in m.blocks:
        lines.extend(_render_block(block, m, users, channels, number))
    return "\n".join(lines)


def _render_block(block: dict, m: Message, users, channels, number) -> list[str]:
    kind = block.get("type")
    text = lambda t: mrkdwn((t or {}).get("text", ""), users, channels)  # noqa: E731
    if kind == "header":
        title = text(block.get("text"))
        return [title, "═" * min(len(title), 60)]
    if kind == "divider":
        return ["─" * 40]
    if kind == "section":
        out = [text(block.get("text"))] if block.get("text") else []
        out += ["  " + text(f) for f in block.get("fields", [])]
        if block.get("accessory", {}).get("type") == "button":
            out.append(_button(block["accessory"], m, number))
        return out
    if kind == "context":
        return ["  " + " · ".join(text(e) for e in block.get("elements", []) if "text" in e)]
    if kind == "actions":
        return ["  ".join(_button(e, m, number) for e in block.get("elements", [])
                          if e.get("type") == "button")]
    return [f"[{kind} block]"]


def _button(e: dict, m: Message, number) -> str:
    n = number(e, m) if number else None
    label = e.get("text", {}).get("text", "")
    shown = f"[{n}: {label}]" if n is not None else f"[{label}]"
    if e.get("url"):
        shown += f" → {e['url']}"
    return shown


_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]+))?>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\s](?:[^*\n]*[^*\s])?)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_([^_\s](?:[^_\n]*[^_\s])?)_(?![\w_])")


def mrkdwn(text: str, users: dict[str, str] | None = None,
           channels: dict[str, str] | None = None) -> str:
    """Slack's mrkdwn references as they read: <@U1> → @alice, <#C1> → #deploys,
    <url|label> → label (url)."""
    def sub(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return "@" + (label or (users or {}).get(target[1:], target[1:]))
        if target.startswith("#"):
            return "#" + (label or (channels or {}).get(target[1:], target[1:]))
        if target.startswith("!"):
            return "@" + target[1:]
        return f"{label} ({target})" if label and label != target else target
    parts = text.split("```")
    for i in range(0, len(parts), 2):            # outside code blocks: *bold* reads as bold
        parts[i] = _ITALIC.sub(r"\1", _BOLD.sub(r"\1", _LINK.sub(sub, parts[i])))
    for i in range(1, len(parts), 2):            # a code block reads as indented lines
        parts[i] = "\n" + "\n".join("    " + line for line in parts[i].strip("\n").splitlines()) + "\n"
    text = "".join(parts).replace("\n\n", "\n")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# -- requests as Slack sends them to the app -----------------------------------------------

def signed_headers(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack sends with a request: signed with the app's signing secret."""
    from slack_sdk.signature import SignatureVerifier
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or ""}


def slash_command_body(command: str, text: str, *, user_id: str, user_name: str,
                       channel_id: str, response_url: str, channel_name: str = "deploys") -> str:
    from urllib.parse import urlencode
    return urlencode({
        "token": LEGACY_TOKEN, "team_id": "T0SANDBOX", "team_domain": "sandbox",
        "channel_id": channel_id, "channel_name": channel_name, "user_id": user_id,
        "user_name": user_name, "command": command, "text": text, "api_app_id": "A0BLUEGREEN",
        "is_enterprise_install": "false", "response_url": response_url,
        "trigger_id": f"{next(_TRIGGER)}.sandbox"})


def block_actions_body(button: dict, message: Message, *, user_id: str, user_name: str,
                       response_url: str, block_id: str = "") -> str:
    """The payload Slack posts when a person clicks ``button`` on ``message``."""
    from urllib.parse import urlencode
    payload = {
        "type": "block_actions", "api_app_id": "A0BLUEGREEN", "token": LEGACY_TOKEN,
        "team": {"id": "T0SANDBOX", "domain": "sandbox"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": "T0SANDBOX"},
        "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel,
                      "is_ephemeral": message.ephemeral_for is not None},
        "channel": {"id": message.channel, "name": "deploys"},
        "message": {**_as_json(message), "bot_id": "B0BOT"},
        "trigger_id": f"{next(_TRIGGER)}.sandbox", "response_url": response_url,
        "actions": [{"type": "button", "action_id": button.get("action_id"), "block_id": block_id,
                     "text": button.get("text"), "value": button.get("value", ""),
                     "action_ts": f"{time.time():.6f}"}],
    }
    return urlencode({"payload": json.dumps(payload)})


def buttons_of(m: Message) -> list[tuple[str, dict]]:
    """(block_id, button) for every clickable (non-link) button of a message."""
    found = []
    for block in m.blocks:
        elements = block.get("elements", []) if block.get("type") == "actions" else \
            [block["accessory"]] if block.get("accessory") else []
        found += [(block.get("block_id", ""), e) for e in elements
                  if e.get("type") == "button" and not e.get("url")]
    return found


_TRIGGER = itertools.count(1000)
