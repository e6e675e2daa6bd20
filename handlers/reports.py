"""Block Kit for the answers only the asker sees: status, history, log, help."""
from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock

from . import texts
from .blocks import context, dicts, section

MAX_LOG_STEPS = 20


def status(app: str, st: Any) -> list[dict]:
    parts: list[Block] = [HeaderBlock(text=f"{app}: blue-green status")]
    if st.router != "ok":
        parts.append(section(f"⚠️ Router: *{st.router}* — {texts.mrkdwn_escape(st.router_detail)}"))
    for name in ("blue", "green"):
        c = st.colours.get(name)
        if c is None:
            continue
        role = "live" if name == st.live else ("idle" if name == st.idle else "—")
        health = "healthy" if c.healthy else "*not healthy*"
        line = f"{texts.colour(name)} *{role}* @ {texts.colour_release(c)} · {health}"
        dep = c.deployment
        if role == "idle" and dep is not None:
            line += (f"\nLast deploy #{dep.id}: `{dep.ref}` {dep.status} "
                     f"({'promotable' if c.promotable else 'not promotable'})")
        parts.append(section(line))
        parts.append(context(*[f"{'✅' if h.healthy else '❌'} <{h.url}|{h.name}> "
                               f"{texts.mrkdwn_escape(h.detail[:100])} · runs "
                               f"{texts.release(h.running, proven=h.running_proven) if h.running else 'unknown'}"
                               for h in c.hosts]))
    if st.lock:
        parts.append(section(texts.lock_line(st.lock)))
    else:
        parts.append(context("🔓 No lock: deploys are open."))
    if st.recent:
        parts += [DividerBlock(), section("*Recent*\n" + "\n".join(_line(h) for h in st.recent))]
    return dicts(parts)


def history(items: list) -> list[dict]:
    if not items:
        return dicts([section("Nothing has been deployed or switched yet.")])
    lines = [_line(h) for h in items]
    text = "\n".join(lines)
    while len(text) > 2900:
        lines.pop()
        text = "\n".join(lines)
    return dicts([section("*History* (newest first)"), section(text)])


def _line(h: Any) -> str:
    icon = {"succeeded": "✅", "failed": "❌", "running": "⏳", "cancelled": "✋",
            "interrupted": "⚠️"}.get(h.status, "•")
    if h.kind == "deploy":
        what = f"deploy #{h.id} `{h.ref}` @ `{texts.short(h.sha)}` → {h.colour}"
    else:
        what = f"{h.kind} #{h.id} {h.from_colour or '—'} → {h.colour} @ `{texts.short(h.sha)}`"
    return f"{icon} {what} · {h.status} · {texts.who(h.actor)} · {texts.when(h.started_at)}"


def log(dep: Any, steps: list) -> list[dict]:
    title = f"Deploy #{dep.id}: {dep.ref} @ {texts.short(dep.sha)} → {dep.colour} ({dep.status})"
    parts: list[Block] = [HeaderBlock(text=title[:150])]
    if dep.error:
        parts.append(section(texts.mrkdwn_escape(dep.error)))
    shown = steps[-MAX_LOG_STEPS:]
    if len(steps) > len(shown):
        parts.append(context(f"{len(steps) - len(shown)} earlier steps not shown"))
    for s in shown:
        status = "running" if s.exit_status is None else f"exit {s.exit_status}"
        seconds = (s.finished_at - s.started_at).total_seconds() if s.finished_at else 0.0
        head = f"*{texts.mrkdwn_escape(s.name[:200])}* on {s.host} · {status} · {texts.seconds(seconds)}"
        lines = s.output.splitlines()[-30:]
        parts.append(section(head + "\n" + texts.code_block(lines, 2600)))
    if not steps:
        parts.append(context("No steps were recorded."))
    return dicts(parts)


def help_blocks() -> list[dict]:
    return dicts([section(texts.HELP)])
