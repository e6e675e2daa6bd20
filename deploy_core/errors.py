"""The error tree of deploy_core.

Every failure the pipeline reports is a ``BluegreenError`` carrying data for
the message people read and an ``exit_code`` for the CLI::

    BluegreenError                 exit 1: understood, but refused or failed
    ├── UsageError                 exit 2: malformed invocation, nothing attempted
    │   ├── ConfigError            every config problem at once, each with its key path
    │   └── RefError               a REF that fails validation
    ├── TransportError             SSH / subprocess trouble on one host
    │   ├── UnreachableError       cannot connect or authenticate
    │   ├── HostKeyError           unknown or changed host key (never auto-added)
    │   └── CommandTimeout         a command ran past its timeout
    ├── StepFailed                 a command exited non-zero
    ├── UnknownRef                 REF resolves to nothing, or to several things
    ├── RouterError                the router could not read or switch
    │   ├── RouterAuthError        the API refused our token
    │   ├── ActionTimeout          a switch did not complete in time
    │   └── RouterMismatch         router and identity route disagree
    ├── HealthError                a host never became healthy
    │   └── ReleaseError           a host never answered the deployed sha at release_path
    ├── SmokeError                 a smoke check failed
    ├── VerifyError                the public URL did not show the new colour
    ├── LockHeld                   an operation or a hold is in the way
    ├── NotPromotable / NotRollbackable
    ├── Cancelled                  the operation was cancelled
    └── Deadline                   a poll ran out of time (not a TimeoutError!)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


class BluegreenError(Exception):
    """Base of every error deploy_core reports to people."""

    exit_code = 1

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def __str__(self) -> str:
        return self.message


class UsageError(BluegreenError):
    exit_code = 2


class ConfigError(UsageError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem(s)):\n{lines}")


class RefError(UsageError):
    pass


class TransportError(BluegreenError):
    def __init__(self, message: str, host: str = "", **data: Any) -> None:
        super().__init__(message, host=host, **data)
        self.host = host


class UnreachableError(TransportError):
    pass


class HostKeyError(TransportError):
    """Unknown or changed host key. ``known_hosts_line`` is what to add once verified."""

    def __init__(self, message: str, host: str = "", *, fingerprint: str = "",
                 known_hosts_line: str = "", changed: bool = False) -> None:
        super().__init__(message, host=host, fingerprint=fingerprint,
                         known_hosts_line=known_hosts_line, changed=changed)
        self.fingerprint = fingerprint
        self.known_hosts_line = known_hosts_line
        self.changed = changed


class CommandTimeout(TransportError):
    pass


class StepFailed(BluegreenError):
    def __init__(self, message: str, *, host: str, command: str, exit_status: int,
                 tail: list[str] | None = None) -> None:
        super().__init__(message, host=host, command=command, exit_status=exit_status)
        self.host = host
        self.command = command
        self.exit_status = exit_status
        self.tail = tail or []


class UnknownRef(BluegreenError):
    pass


class RouterError(BluegreenError):
    pass


class RouterAuthError(RouterError):
    pass


class ActionTimeout(RouterError):
    pass


class RouterMismatch(RouterError):
    pass


class HealthError(BluegreenError):
    pass


class ReleaseError(HealthError):
    """Release proof failed: the host still serves another release (or no sha at all)."""


class SmokeError(BluegreenError):
    pass


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
    def __init__(self, lock: LockInfo) -> None:
        what = "a hold" if lock.kind == "hold" else "an operation lock"
        super().__init__(
            f"{lock.holder} has {what} since {lock.since:%Y-%m-%d %H:%M} UTC: {lock.reason}",
            lock=lock)
        self.lock = lock


class NotPromotable(BluegreenError):
    pass


class NotRollbackable(BluegreenError):
    pass


class Cancelled(BluegreenError):
    pass


class Deadline(BluegreenError):
    """A poll ran out of time. Deliberately not a subclass of TimeoutError."""
