"""A Slack message as a person would see it: Block Kit rendered as text, mrkdwn references
as they read, and the buttons one could press."""
from __future__ import annotations

import re
from typing import Callable

from .slack_messages import Message


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


def buttons_of(m: Message) -> list[tuple[str, dict]]:
    """(block_id, button) for every clickable (non-link) button of a message."""
    found = []
    for block in m.blocks:
        elements = block.get("elements", []) if block.get("type") == "actions" else \
            [block["accessory"]] if block.get("accessory") else []
        found += [(block.get("block_id", ""), e) for e in elements
                  if e.get("type") == "button" and not e.get("url")]
    return found
