"""Block Kit for operation messages, built with slack_sdk.models so it is valid by
construction. Words come from texts.py; this module only arranges them."""
from __future__ import annotations

import time
from typing import Any, Iterable

from slack_sdk.models.blocks import (ActionsBlock, Block, ButtonElement, ConfirmObject,
                                     ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock)

from deploy_core.errors import Cancelled

from . import texts
from .progress import OperationView

SECTION_LIMIT = 2900

# action_id → what the button does; a button's value carries the id it was made for.
PROMOTE, DISCARD, ROLLBACK, VIEW_LOG, UNLOCK = "promote", "discard", "rollback", "view_log", "unlock"


def dicts(blocks: Iterable[Block]) -> list[dict]:
    return [b.to_dict() for b in blocks]


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text[:3000]))


def context(*parts: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=p[:2000]) for p in parts if p][:10])


def message(text: str) -> list[dict]:
    return dicts([section(text)])


# --- the operation message -------------------------------------------------------------

def operation(view: OperationView, now: float | None = None) -> tuple[str, list[dict]]:
    """(fallback text, blocks) for an operation's message in its current state."""
    now = time.time() if now is None else now
    title = texts.operation_title(view.kind, view.colour, view.ref, view.from_colour, view.forced)
    parts: list[Block] = [section(title),
                          context(texts.started_by(view.actor, view.replaces, view.colour,
                                                   view.replaces_rollback_target,
                                                   view.replaces_foreign, view.replaces_proven))]
    if view.steps:
        parts.append(section(_steps_text(view, now)))
    for level, text in view.notices[-5:]:
        parts.append(context(("⚠️ " if level == "warning" else "ℹ️ ") + texts.mrkdwn_escape(text)))
    failed = [s for s in view.steps.values() if s.ok is False and s.tail]
    if failed and not (view.finished and view.finished.ok):
        parts.append(section(f"Last lines of *{texts.mrkdwn_escape(failed[-1].name)}*"
                             f"{' on ' + failed[-1].host if failed[-1].host else ''}:\n"
                             + texts.code_block(failed[-1].tail[-12:], 2700)))
    blocks = dicts(parts) + view.outcome
    text = view.outcome_text or title.strip("*")
    return text, blocks[:50]


def _steps_text(view: OperationView, now: float) -> str:
    lines = []
    for s in view.steps.values():
        state = "running" if s.ok is None else ("ok" if s.ok else "failed")
        elapsed = now - s.started if s.ok is None else s.elapsed
        detail = s.detail if s.ok is False else ""
        if s.ok is None and s.last_line:
            detail = s.last_line[:80]
        if s.name == "resolve" and s.ok and view.sha:
            detail = f"{view.ref} → {texts.short(view.sha)}"
        if s.name == "release" and s.ok:
            detail = f"serves {s.detail}"
        lines.append(texts.step_line(texts.STEP_ICON[state], s.name, s.host, elapsed, detail))
    dropped = 0
    while len("\n".join(lines)) > SECTION_LIMIT and len(lines) > 1:
        lines.pop(0)
        dropped += 1
    if dropped:
        lines.insert(0, f"… {dropped} earlier steps")
    return "\n".join(lines)


def deploy_ready(result: Any, elapsed: float) -> list[dict]:
    """Outcome of a deploy that passed: Promote and Discard, the replaced release, links."""
    value = str(result.deployment_id)
    return dicts([
        section(texts.deploy_ready(result.ref, result.sha, result.colour, elapsed, result.evidence)),
        context(texts.replaced_release(result.replaced_sha, result.colour,
                                       result.replaced_rollback_target, result.replaced_foreign),
                texts.try_it(result.host_urls)),
        ActionsBlock(block_id="deploy_actions", elements=[
            ButtonElement(text="Promote", action_id=PROMOTE, value=value, style="primary",
                          confirm=ConfirmObject(
                              title="Promote this release?",
                              text=f"Switch traffic to {result.colour} @ "
                                   f"{texts.short(result.sha)} ({result.ref}).",
                              confirm="Promote", deny="Not yet")),
            ButtonElement(text="Discard", action_id=DISCARD, value=value),
        ]),
    ])


def switched(result: Any) -> list[dict]:
    """Outcome of a verified switch; a promote offers Rollback."""
    parts: list[Block] = [section(texts.switched(result.kind, result.to_colour, result.to_sha,
                                                 result.from_colour, result.from_sha,
                                                 result.elapsed, result.forced))]
    if result.kind == "promote" and result.from_colour:
        parts.append(ActionsBlock(block_id="switch_actions", elements=[
            ButtonElement(text="Rollback", action_id=ROLLBACK, value=str(result.switch_id),
                          style="danger", confirm=ConfirmObject(
                              title="Roll back?",
                              text=f"Switch traffic back to {result.from_colour} @ "
                                   f"{texts.short(result.from_sha)}.",
                              confirm="Roll back", deny="Cancel"))]))
    return dicts(parts)


def failure_text(view: OperationView, error: BaseException) -> str:
    text = texts.error_text(error)
    if not view.started:
        return texts.refused(view.kind, text, view.ref)
    return texts.failed(view.kind, text, view.ref, view.sha, view.colour,
                        cancelled=isinstance(error, Cancelled))


def failure(view: OperationView, error: BaseException, log_id: int | None) -> list[dict]:
    parts: list[Block] = [section(failure_text(view, error))]
    if log_id is not None:
        parts.append(ActionsBlock(block_id="failure_actions", elements=[
            ButtonElement(text="View log", action_id=VIEW_LOG, value=str(log_id))]))
    return dicts(parts)


def release_notes(app: str, result: Any) -> list[dict]:
    return dicts([HeaderBlock(text=texts.release_notes_title(app, result.to_colour,
                                                             result.to_sha)[:150]),
                  section(texts.release_notes(result.notes))])


def lock_reminder(lock: Any) -> list[dict]:
    return dicts([
        section(texts.lock_reminder(lock.holder, lock.reason, lock.since)),
        ActionsBlock(block_id="lock_actions", elements=[
            ButtonElement(text="Unlock", action_id=UNLOCK, value=lock.since.isoformat())]),
    ])


def without_actions(blocks: list[dict], note: str) -> list[dict]:
    """A message's blocks with its buttons replaced by a note (who acted, or why not)."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    return kept + dicts([context(note)])
