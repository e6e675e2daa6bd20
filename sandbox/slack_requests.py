"""Requests as Slack sends them to the app: a slash command, a button press, signed with
the app's signing secret."""
from __future__ import annotations

import itertools
import json
import time

from .slack_messages import Message, message_json

# Slack still sends its deprecated verification token field; the stand-in sends a fake one.
LEGACY_TOKEN = "legacy-verification-token"  # nosec B105 # not a secret
_TRIGGER = itertools.count(1000)


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
        "message": {**message_json(message), "bot_id": "B0BOT"},
        "trigger_id": f"{next(_TRIGGER)}.sandbox", "response_url": response_url,
        "actions": [{"type": "button", "action_id": button.get("action_id"), "block_id": block_id,
                     "text": button.get("text"), "value": button.get("value", ""),
                     "action_ts": f"{time.time():.6f}"}],
    }
    return urlencode({"payload": json.dumps(payload)})
