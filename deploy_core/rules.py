"""The rules of DESIGN.md as pure functions: state in, a ``Decision`` out.

Each says whether an operation may go ahead, why not, and which named waiver (if any)
would clear the refusal ("force", later "allow-contract"; None: nothing waives it). The
runbooks call these and tell the story; the rules are tested in microseconds
(tests/unit/test_rules.py). Later rules — the schema, the watch, freezes, the CI gate —
belong here beside them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import COLOURS, other
from .refs import short
from .web import same_release


@dataclass(frozen=True)
class Decision:
    ok: bool
    reason: str = ""
    waiver: str | None = None      # "force", "allow-contract", or None: nothing waives it
    needs: str | None = None       # what a person can do next (errors.NEXT_STEP), if anything


ALLOW = Decision(True)


def refuse(reason: str, waiver: str | None = None, needs: str | None = None) -> Decision:
    return Decision(False, reason, waiver, needs)


def forced(reason: str) -> Decision:
    """A promote refusal that ``force`` waives."""
    return refuse(reason, "force", "promote-force")


# -- promote ------------------------------------------------------------------------------
def promote_target(live: str | None, to: str | None) -> tuple[str | None, Decision]:
    """Where a promote sends traffic: ``to``, else the idle colour. When no colour is
    live, ``to`` is needed; a colour that is already live is refused. Nothing waives these."""
    if to is not None and to not in COLOURS:
        return None, refuse(f"--to must be blue or green, not {to!r}")
    if live is None and to is None:
        return None, refuse("no colour is live, so there is no idle colour to promote",
                            needs="promote-to")
    target = to or other(live or "")
    if target == live:
        return target, refuse(f"{target} is already live")
    return target, ALLOW


def may_promote(colour: str, latest: Any, state: Any, running: Any = None) -> Decision:
    """May ``colour`` (idle) be promoted? Its latest deploy (``latest``, a store
    Deployment) passed health and smoke and nothing changed the colour since: the store's
    colour row (``state``) still points at that deploy and, when known, what its hosts run
    (``running``, see running.py) is that release. ``force`` waives this."""
    if latest is None:
        return forced(f"nothing has been deployed to {colour} yet: deploy a release first")
    what = f"the last deploy to {colour} (#{latest.id}, {latest.ref} @ {short(latest.sha)})"
    if latest.status == "running":
        return forced(f"{what} is still running")
    if latest.status != "succeeded":
        return forced(f"{what} {latest.status}" + (f": {latest.error}" if latest.error else ""))
    if not latest.promotable:
        note = f": {latest.promotable_note}" if latest.promotable_note else ""
        return forced(f"{what} is not promotable{note}")
    if state is None or state.deployment_id != latest.id or state.sha != latest.sha:
        return forced(f"{colour} has changed since {what}")
    if running is not None and running.sha is not None and not running.matches(latest.sha):
        how = "serves" if running.proven else "has checked out"
        return forced(f"{colour} {how} {short(running.sha)} now, not {short(latest.sha)}: it has "
                      f"changed since {what}")
    return ALLOW


# -- rollback -----------------------------------------------------------------------------
def may_rollback(live: str | None, last: Any, target_latest: Any, now: str | None,
                 now_proven: bool = False) -> Decision:
    """May traffic go back to the colour that was live before the last switch (``last``, a
    store Switch)? Only if that switch led to the colour live now, no deploy went to the
    old colour since, and it still runs (``now``: read from its hosts, else recorded) the
    release it ran then. Nothing waives these."""
    if last is None or last.from_colour is None:
        return refuse("no switch has been made yet: there is nothing to roll back to")
    if last.to_colour != live:
        return refuse(f"the last switch went to {last.to_colour} but {live} is live now "
                      f"(switched outside bluegreen?)", needs="promote-to")
    target = last.from_colour
    before = short(last.from_sha)
    if target_latest is not None and last.finished_at is not None \
            and target_latest.started_at > last.finished_at:
        return refuse(f"{target} no longer runs {before}, the release that was live before: "
                      f"{target_latest.ref} @ {short(target_latest.sha)} (deploy "
                      f"#{target_latest.id}, {target_latest.status}) is there now. Promote it, "
                      f"or deploy {before} again")
    if last.from_sha and now and not same_release(now, last.from_sha):
        how = "serves" if now_proven else "runs"
        return refuse(f"{target} no longer runs {before}, the release that was live before: it "
                      f"{how} {short(now)} now. Deploy {before} again, or choose it anyway",
                      needs="promote-to")
    return ALLOW


def replaces_rollback_target(colour: str, sha: str | None, last: Any) -> bool:
    """Would a rollback go to ``colour`` now, to the release ``sha`` it runs — so that a
    deploy there replaces the rollback target?"""
    return bool(sha) and last is not None and last.from_colour == colour \
        and last.from_sha == sha
