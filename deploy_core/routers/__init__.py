"""Switch traffic between colours: one small interface, two implementations."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RouterState:
    """What the router says. ``status``: "ok" (a colour is live), "unassigned" (traffic
    goes nowhere) or "foreign" (traffic goes to something that is neither colour)."""
    live: str | None
    status: str
    detail: str = ""


class Router(Protocol):
    def read(self) -> RouterState:
        """Which colour is live now, straight from the router."""
        ...

    def switch(self, colour: str) -> None:
        """Send traffic to ``colour`` and return once the router reports it done;
        raise RouterError (or a subclass) otherwise."""
        ...

    def describe(self) -> str:
        """One line for `check` and logs, e.g. 'reserved IP 203.0.113.7 via DigitalOcean API'."""
        ...
