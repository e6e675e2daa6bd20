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


@dataclass(frozen=True)
class ColourStatus:
    name: str
    identity: str
    sha: str | None
    healthy: bool
    hosts: tuple[HostStatus, ...]
    deployment: Any = None       # the latest store.Deployment of this colour, or None
    promotable: bool = False


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
            "colours": {name: {"sha": c.sha, "healthy": c.healthy, "promotable": c.promotable,
                               "hosts": [{"name": h.name, "url": h.url, "healthy": h.healthy,
                                          "detail": h.detail} for h in c.hosts]}
                        for name, c in self.colours.items()},
            "lock": lock,
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
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class RouterChange:
    from_colour: str | None
    to_colour: str | None
    status: str
    detail: str
