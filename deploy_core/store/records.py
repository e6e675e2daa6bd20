"""The plain values the store hands out: callers never see ORM objects or SQL."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Deployment:
    id: int
    colour: str
    ref: str
    sha: str | None
    actor: str
    status: str                      # running | succeeded | failed | cancelled | interrupted
    replaces_sha: str | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    smoke_ok: bool | None
    promotable: bool
    promotable_note: str | None      # e.g. "discarded by U0ALICE"
    cancel_requested_by: str | None


@dataclass(frozen=True)
class StepRecord:
    id: int
    deployment_id: int
    host: str
    name: str
    command: str
    exit_status: int | None
    output: str                      # bounded, see ``bound_output``
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True)
class ColourState:
    """The release bluegreen last deployed to a colour successfully."""

    colour: str
    sha: str | None
    deployment_id: int | None
    updated_at: datetime


@dataclass(frozen=True)
class Switch:
    id: int
    kind: str                        # promote | rollback
    from_colour: str | None
    to_colour: str
    from_sha: str | None
    to_sha: str | None
    actor: str
    forced: bool
    status: str                      # running | succeeded | failed | interrupted
    verified: bool
    error: str | None
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class HistoryItem:
    """One line of history: a deployment (kind "deploy") or a switch ("promote"/"rollback")."""

    kind: str
    id: int
    colour: str                      # the deployment's colour, or the switch's target
    ref: str | None                  # None for switches
    sha: str | None                  # the deployed sha, or the switch's to_sha
    actor: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    from_colour: str | None = None   # switches only


@dataclass(frozen=True)
class Interrupted:
    """An operation whose owner died, found and closed by ``Store.recover``.

    ``id`` is the deployment or switch id, None when the owner died before attaching one."""

    kind: str                        # deploy | promote | rollback (or the lock's kind)
    id: int | None
    holder: str
    colour: str | None
    started_at: datetime


def bound_output(text: str, limit: int) -> str:
    """Keep the first and last parts of ``text`` within ``limit`` characters, marking the cut."""
    if len(text) <= limit:
        return text
    marker = f"\n… {len(text)} characters cut …\n"   # longest the marker can be
    keep = limit - len(marker)
    if keep <= 0:
        return text[-limit:]
    head = keep // 2
    tail = keep - head
    cut = len(text) - keep
    return f"{text[:head]}\n… {cut} characters cut …\n{text[len(text) - tail:]}"
