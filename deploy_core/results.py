"""Values the pipeline returns: status, deploy and switch results, check items."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import LockInfo
from .events import Commit


@dataclass(frozen=True)
class HostStatus:
    name: str
    url: str
    healthy: bool
    detail: str
    running: str | None = None       # the sha it runs (see running.py), None when unknown
    running_proven: bool = False     # read from release_path, not just checked out
    running_detail: str = ""


@dataclass(frozen=True)
class ColourStatus:
    name: str
    identity: str
    sha: str | None
    healthy: bool
    hosts: tuple[HostStatus, ...]
    deployment: Any = None       # the latest store.Deployment of this colour, or None
    promotable: bool = False
    running: str | None = None   # what its hosts run now, None when unknown or they disagree
    running_proven: bool = False
    running_detail: str = ""

    @property
    def foreign(self) -> bool:
        """It runs something bluegreen did not deploy there."""
        return self.running is not None and self.running != self.sha


@dataclass(frozen=True)
class Status:
    live: str | None
    idle: str | None
    router: str                  # ok | unassigned | foreign | mismatch
    router_detail: str
    colours: dict[str, ColourStatus]
    lock: LockInfo | None
    recent: list[Any] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        lock = None
        if self.lock:
            lock = {"kind": self.lock.kind, "holder": self.lock.holder, "reason": self.lock.reason,
                    "since": self.lock.since.isoformat().replace("+00:00", "Z")}
        return {
            "live": self.live, "idle": self.idle, "router": self.router,
            "router_detail": self.router_detail,
            "colours": {name: {"sha": c.sha, "running": c.running,
                               "running_proven": c.running_proven, "healthy": c.healthy,
                               "promotable": c.promotable,
                               "hosts": [{"name": h.name, "url": h.url, "healthy": h.healthy,
                                          "detail": h.detail, "running": h.running,
                                          "running_proven": h.running_proven}
                                         for h in c.hosts]}
                        for name, c in self.colours.items()},
            "lock": lock,
            "schema": None, "watch": None, "freeze": None, "queue": [],
        }


@dataclass(frozen=True)
class DeployResult:
    deployment_id: int
    colour: str
    ref: str
    sha: str
    replaced_sha: str | None
    smoke_ok: bool
    host_urls: tuple[str, ...]
    replaced_rollback_target: bool = False
    replaced_foreign: bool = False   # the replaced release was not deployed by bluegreen
    release_proven: bool = True      # every host answered the new sha at release_path
    smoke_checks: int = 0

    @property
    def evidence(self) -> str:
        """What was checked, in words that claim no more than that."""
        checks = f"{self.smoke_checks} smoke check{'s' if self.smoke_checks != 1 else ''}"
        if not self.release_proven:
            smoke = f" and {checks}" if self.smoke_checks else ""
            return (f"health{smoke} passed, but without release_path bluegreen cannot prove "
                    "they tested this release rather than the old one: check it, then promote")
        if not self.smoke_checks:
            return ("every host serves it and is healthy; no smoke checks are configured, "
                    "so nothing more was tested: check it, then promote")
        return f"every host serves it, healthy, {checks} passed: ready to promote"


@dataclass(frozen=True)
class Replaced:
    """What a deploy replaces on the idle colour."""
    sha: str | None
    foreign: bool                    # not the release bluegreen deployed there
    proven: bool                     # read from release_path (else checked out, or unknown)
    detail: str = ""


@dataclass(frozen=True)
class SwitchResult:
    switch_id: int
    kind: str
    from_colour: str | None
    to_colour: str
    from_sha: str | None
    to_sha: str | None
    forced: bool
    verified: bool
    notes: tuple[Commit, ...] = ()
    elapsed: float = 0.0


@dataclass(frozen=True)
class CheckItem:
    """One line of `bluegreen check`; a ``warning`` is said but never fails the check."""
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False


@dataclass(frozen=True)
class RouterChange:
    from_colour: str | None
    to_colour: str | None
    status: str
    detail: str
