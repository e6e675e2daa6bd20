"""The requests Slack sends us, and what makes a body one Slack never sends.

Slash commands arrive as form fields, button clicks as a JSON ``payload`` field. Bolt
indexes into both without checking (``body["actions"][0]["action_id"]``), so a body of
the wrong shape would end in a 500 and a traceback; ``problem`` names what is wrong
before Bolt reads it. Bolt answers Slack's own ``ssl_check`` and ``url_verification``.
"""
from __future__ import annotations

from typing import Any

_COMMAND_FIELDS = ("command", "text", "user_id", "user_name", "channel_id", "channel_name",
                   "response_url", "trigger_id", "team_id")


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
