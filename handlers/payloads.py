"""The requests Slack sends us, and what makes a body one Slack never sends.

Slash commands arrive as form fields, button clicks as a JSON ``payload`` field (over
HTTP), or both as an envelope's JSON ``payload`` (Socket Mode). Bolt indexes into them
without checking (``body["actions"][0]["action_id"]``), so a body of the wrong shape
would end in a 500 and a traceback; ``problem`` names what is wrong before Bolt reads it.
Bolt answers Slack's own ``ssl_check`` and ``url_verification``.

One guard for every way a request arrives (signatures exist only over HTTP):

    read(text, headers)        HTTP and the demo: Bolt's request, or a Refusal
    socket_refusal(payload)    Socket Mode: a Refusal, or None to hand it to Bolt
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from slack_bolt.request import BoltRequest

from . import texts

MAX_BODY = 1 << 20          # bytes; Slack's largest payloads (a click carries its message) are far smaller
_COMMAND_FIELDS = ("command", "text", "user_id", "user_name", "channel_id", "channel_name",
                   "response_url", "trigger_id", "team_id")


@dataclass(frozen=True)
class Refusal:
    """A request refused before Bolt: the HTTP status that says so, and why in words."""
    status: int
    why: str

    @property
    def text(self) -> str:
        """The sentence the sender sees."""
        return texts.unreadable(self.why)


TOO_LARGE = Refusal(413, "it is too large")
NOT_SLACKS = Refusal(400, "it is not a form or JSON Slack sends")


def refusal(body: Any, size: int) -> Refusal | None:
    """Why a parsed request of ``size`` bytes is refused before Bolt, or None."""
    if size > MAX_BODY:
        return TOO_LARGE
    wrong = problem(body)
    return Refusal(400, wrong) if wrong else None


def read(text: str, headers: Mapping[str, str | Sequence[str]],
         query: str | None = None) -> BoltRequest | Refusal:
    """A request body as posted (form or JSON text): Bolt's request for it, or why not."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY:
        return TOO_LARGE
    try:
        request = BoltRequest(body=text, query=query, headers=dict(headers))
    except Exception:  # noqa: BLE001 - malformed JSON, or a body Bolt cannot take apart
        return NOT_SLACKS
    return refusal(request.body, size) or request


def socket_refusal(payload: Any) -> Refusal | None:
    """Why a Socket Mode envelope's ``payload`` is refused before Bolt, or None; its size
    is that of the JSON it arrived as."""
    try:
        size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
                   .encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError, RecursionError):
        return NOT_SLACKS
    return refusal(payload, size)


def problem(body: Any) -> str | None:
    """Why ``body`` (a parsed request) is not a request bluegreen handles, or None."""
    if not isinstance(body, dict):
        return "the body is not a JSON object or form"
    if "ssl_check" in body or body.get("type") == "url_verification":
        return None
    if "command" in body:
        return _command_problem(body)
    if body.get("type") == "block_actions":
        return _click_problem(body)
    return "bluegreen handles slash commands and button clicks only"


def _command_problem(body: dict) -> str | None:
    wrong = [k for k in _COMMAND_FIELDS if k in body and not isinstance(body[k], str)]
    if wrong:
        return f"{', '.join(wrong)} must be text"
    if not body["command"].startswith("/"):
        return "command must be a slash command"
    return None


def _click_problem(body: dict) -> str | None:
    user = body.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return "user must be an object with an id"
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        return "actions must be a list of the buttons clicked"
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            return "each action must be an object with an action_id"
        if not isinstance(action.get("value", ""), str):
            return "a button's value must be text"
    container = body.get("container", {})
    if not isinstance(container, dict):
        return "container must be an object"
    needed = [("channel", "id")]
    if container.get("is_ephemeral") is not True:      # Slack leaves ephemeral messages out
        needed.append(("message", "ts"))
    for key, field in needed:
        if not isinstance(body.get(key), dict) or not isinstance(body[key].get(field), str):
            return f"{key} must be an object with its {field}"
    if not isinstance(body.get("message", {}), dict) or \
            not isinstance(body.get("message", {}).get("blocks", []), list):
        return "message must be an object with a list of blocks"
    if not isinstance(body.get("response_url"), str):
        return "response_url is missing"
    return None
