"""The error tree of deploy_core.

Every failure the library reports is a ``BluegreenError``: one constructor shape —
a message for people plus named fields as data — and an ``exit_code`` for the CLI::

    BluegreenError                 exit 1: understood, but refused or failed
    ├── UsageError                 exit 2: malformed invocation, nothing attempted
    │   ├── ConfigError            every config problem at once, each with its key path
    │   └── RefError               a REF that fails validation
    ├── TransportError             SSH / subprocess trouble on one host (host)
    │   ├── UnreachableError       cannot connect or authenticate
    │   ├── HostKeyError           unknown or changed host key, never auto-added
    │   └── CommandTimeout         a command ran past its timeout
    ├── StepFailed                 a command exited non-zero (host, command, exit_status, tail)
    ├── UnknownRef                 REF resolves to nothing, or to several things
    ├── RouterError                the router could not read or switch
    │   ├── RouterAuthError        the API refused our token (scope)
    │   ├── ActionTimeout          a switch did not complete in time
    │   └── RouterMismatch         router and identity route disagree
    ├── HealthError                a host never became healthy (host)
    │   └── ReleaseError           a host never answered the deployed sha at release_path
    ├── SmokeError                 a smoke check failed (tail)
    ├── VerifyError                the public URL did not show the new colour
    ├── LockHeld                   an operation or a hold is in the way (lock)
    ├── NotPromotable / NotRollbackable
    ├── Cancelled                  the operation was cancelled
    └── Deadline                   a poll ran out of time (not a TimeoutError!)

What a person can do next is data too: ``needs`` names it — ``"promote-force"`` (the
waiver that clears a promote refusal, see DESIGN.md "Waivers are named") or
``"promote-to"`` (choose the colour) — so each front end says it in its own words, the CLI
``--force``, Slack ``/promote force``, from the same error. A switch that failed says
where traffic is now in ``traffic``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# How the library itself (and so the CLI) says each ``needs``; a front end with other
# words (Slack) has its own table and uses ``message``.
NEXT_STEP = {"promote-force": " (--force waives this, never the health check)",
             "promote-to": ": say where traffic goes with `promote --to COLOUR`"}


class BluegreenError(Exception):
    """Base of every error deploy_core reports to people: ``message`` plus named fields."""

    exit_code = 1
    needs: str | None = None          # what a person can do next, a key of NEXT_STEP
    traffic: str | None = None        # after a failed switch: where traffic goes now

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        for name, value in fields.items():
            setattr(self, name, value)
        self.fields = fields

    def __str__(self) -> str:
        return self.message + NEXT_STEP.get(self.needs or "", "")

    def extended(self, more: str, **fields: Any) -> BluegreenError:
        """The same kind of error with ``more`` said and ``fields`` added (for ``raise … from``)."""
        return type(self)(f"{self.message}{more}", **{**self.fields, **fields})


class UsageError(BluegreenError):
    exit_code = 2


class ConfigError(UsageError):
    """Every problem of a configuration at once: ``problems`` lists ``key.path: what``."""

    problems: list[str]

    @classmethod
    def of(cls, problems: list[str]) -> ConfigError:
        lines = "\n".join(f"  {p}" for p in problems)
        return cls(f"invalid configuration ({len(problems)} problem(s)):\n{lines}",
                   problems=list(problems))


class RefError(UsageError):
    pass


class TransportError(BluegreenError):
    host: str = ""


class UnreachableError(TransportError):
    pass


class HostKeyError(TransportError):
    """Unknown or changed host key. ``known_hosts_line`` is what to add once verified."""

    fingerprint: str = ""
    known_hosts_line: str = ""
    changed: bool = False


class CommandTimeout(TransportError):
    timeout: float = 0.0


class StepFailed(BluegreenError):
    host: str = ""
    command: str = ""
    exit_status: int = 0
    tail: list[str] = []


class UnknownRef(BluegreenError):
    pass


class RouterError(BluegreenError):
    output: str = ""                  # what a router command printed (nginx)
    resets_at: str | None = None      # a rate limit's reset, ISO 8601 UTC (DigitalOcean)


class RouterAuthError(RouterError):
    scope: str | None = None          # the token scope that is missing, when known


class ActionTimeout(RouterError):
    pass


class RouterMismatch(RouterError):
    pass


class HealthError(BluegreenError):
    host: str = ""


class ReleaseError(HealthError):
    """Release proof failed: the host still serves another release (or no sha at all)."""


class SmokeError(BluegreenError):
    tail: list[str] = []


class VerifyError(BluegreenError):
    pass


@dataclass(frozen=True)
class LockInfo:
    """Who holds a lock: ``kind`` is "operation" or "hold"."""

    kind: str
    holder: str
    reason: str
    since: datetime


class LockHeld(BluegreenError):
    lock: LockInfo

    @classmethod
    def of(cls, lock: LockInfo) -> LockHeld:
        what = "a hold" if lock.kind == "hold" else "an operation lock"
        return cls(f"{lock.holder} has {what} since {lock.since:%Y-%m-%d %H:%M} UTC: {lock.reason}",
                   lock=lock)


class NotPromotable(BluegreenError):
    pass


class NotRollbackable(BluegreenError):
    pass


class Cancelled(BluegreenError):
    pass


class Deadline(BluegreenError):
    """A poll ran out of time. Deliberately not a subclass of TimeoutError."""
