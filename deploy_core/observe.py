"""What the router looked like last time anyone looked, kept in the state database so
that a switch made outside bluegreen (in the DigitalOcean console, by hand on nginx) is
noticed — once, by one of several bot replicas — and our own switches are not news.

Every value is compare-and-set (``Store.observe``)."""
from __future__ import annotations

from typing import Any

from .results import RouterChange
from .routers import Router, RouterState


def router_value(state: RouterState) -> str:
    return f"{state.status}:{state.live or ''}"


def record_router(store: Any, state: RouterState) -> None:
    """Remember where the router points now: called after each of our switches, so that a
    change made by hand right after is noticed as one."""
    store.observe("router", router_value(state))


def observe_router(store: Any, router: Router) -> RouterChange | None:
    """The live colour changed since last seen? None while an operation of ours runs, when
    nothing changed, or when another replica reports the change."""
    lock = store.current_lock()
    if lock is not None and lock.kind == "operation":
        return None               # a switch of ours may be under way
    state = router.read()
    changed, before = store.observe("router", router_value(state))
    if not changed:
        return None
    if before is None:            # first look: compare with bluegreen's last switch
        last = store.last_switch()
        if last is None or (state.status == "ok" and last.to_colour == state.live):
            return None
        return RouterChange(last.to_colour, state.live, state.status, state.detail)
    colour = before.partition(":")[2]
    return RouterChange(colour or None, state.live, state.status, state.detail)


def unseen_switch(store: Any) -> Any:
    """The newest verified switch no process has looked at yet (one replica gets it), or
    None. The first look only remembers where history stands."""
    last = store.last_switch()
    if last is None:
        return None
    changed, before = store.observe("switch", str(last.id))
    return last if changed and before is not None else None
