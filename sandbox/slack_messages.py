"""What a Slack channel holds, as the stand-in keeps it: messages and the changes a person
watching the channel would notice."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

BOT_USER = "U0BLUEGREEN"


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
class Change:
    """What a person watching the channel would notice: kind is post | update | delete |
    ephemeral | topic."""
    kind: str
    channel: str
    message: Message | None = None
    topic: str | None = None


def parse_blocks(value: Any) -> list[dict]:
    """Blocks as an API call carries them: a list, or its JSON text (form-encoded calls)."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    return list(value or [])


def copy_message(m: Message) -> Message:
    return Message(m.channel, m.ts, m.text, json.loads(json.dumps(m.blocks)), m.user,
                   m.ephemeral_for, m.edits)


def message_json(m: Message) -> dict:
    return {"type": "message", "user": m.user, "ts": m.ts, "text": m.text, "blocks": m.blocks}
