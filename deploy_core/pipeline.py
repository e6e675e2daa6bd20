"""``Pipeline``: the one facade the CLI and the Slack handlers call.

It holds the parts (config, store, transport, router, HTTP, the test pause seam) and
hands them to the runbooks — ``deploying.Deploy``, ``switching.Switcher``,
``status.read_status`` — which report typed events to a listener and raise a
``BluegreenError`` on failure; ``operation.Operation`` releases the lock on every path.
The rules those runbooks follow are pure functions in ``rules``.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Any, Mapping

from . import observe
from . import running as running_mod
from .config import Config, other
from .deploying import Deploy
from .errors import BluegreenError, NotPromotable, UsageError
from .events import Callback, Notice, Relay, fan_out
from .live import live_colour, public_colour
from .operation import interrupted_text
from .parts import Parts
from .pause import Pause
from .refs import validate_ref
from .results import DeployResult, RouterChange, Status, SwitchResult
from .routers import Router
from .status import read_status
from .switching import Switcher
from .web import HTTP, RealHTTP

log = logging.getLogger("bluegreen.pipeline")


class Pipeline:
    """Deploy to the idle colour, promote it, roll back; see DESIGN.md for the rules."""

    def __init__(self, config: Config, *, store: Any, transport: Any, router: Router,
                 listener: Callback | None = None, http: HTTP | None = None,
                 pause: Pause | None = None, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.store = store
        self.transport = transport
        self.router = router
        self.listener = listener
        self.http: HTTP = http or RealHTTP()
        self.env = dict(env or {})
        self._cancel = threading.Event()
        self.pause = pause or Pause.from_env(self.env)
        self.pause.cancelled = self._cancel
        self.relay = Relay()          # what the router says mid-operation, as Notices

    @classmethod
    def from_config(cls, config: Config, env: Mapping[str, str] | None = None,
                    listener: Callback | None = None) -> Pipeline:
        from .factory import build
        env = dict(os.environ if env is None else env)
        relay = Relay()
        store, transport, router = build(config, env, on_event=relay)
        pipeline = cls(config, store=store, transport=transport, router=router,
                       listener=listener, env=env)
        pipeline.relay = relay
        return pipeline

    def close(self) -> None:
        for part in (self.transport, self.store):
            try:
                part.close()
            except Exception:  # closing is best effort
                log.debug("closing %s failed", type(part).__name__, exc_info=True)

    @property
    def parts(self) -> Parts:
        """The parts as they are now (tests may swap the config or the router)."""
        return Parts(self.config, self.store, self.transport, self.router, self.http,
                     self.pause, self.env)

    # ----------------------------------------------------------------- reading
    def status(self) -> Status:
        return read_status(self.parts)

    def public_colour(self):
        """Which colour the public URL's identity route answers, and its answer (live.py)."""
        return public_colour(self.config, self.http)

    def running(self, colour: str) -> running_mod.Running:
        """What ``colour``'s hosts run now (see running.py)."""
        return running_mod.read_colour(self.config, self.transport, self.http, colour)

    def history(self, limit: int = 20) -> list:
        return self.store.history(limit)

    def log(self, deployment_id: int):
        dep = self.store.deployment(deployment_id)
        if dep is None:
            raise BluegreenError(f"there is no deployment #{deployment_id}")
        return dep, self.store.steps(deployment_id)

    def current_lock(self):
        """The hold if any, else a live operation lock, else None."""
        return self.store.current_lock()

    def check(self):
        from .checks import run_checks
        return run_checks(self.parts)

    # -------------------------------------------------------------- operations
    def deploy(self, ref: str, actor: str, listener: Callback | None = None) -> DeployResult:
        """Put REF on the idle colour: fetch, resolve, steps, release proof, health, smoke."""
        ref = validate_ref(ref)
        self._cancel.clear()
        emit = fan_out(self.listener, listener)
        with self.relay.to(emit):
            return Deploy(self.parts, emit, self._cancel).run(ref, actor)

    def promote(self, actor: str, force: bool = False, to: str | None = None,
                listener: Callback | None = None) -> SwitchResult:
        emit = fan_out(self.listener, listener)
        with self.relay.to(emit):
            return Switcher(self.parts, emit).promote(actor, force, to)

    def rollback(self, actor: str, listener: Callback | None = None) -> SwitchResult:
        emit = fan_out(self.listener, listener)
        with self.relay.to(emit):
            return Switcher(self.parts, emit).rollback(actor)

    # ------------------------------------------------------------ small commands
    def cancel(self, actor: str) -> int | None:
        dep = self.store.running_deployment()
        if dep is None:
            return None
        self.store.request_cancel(dep.id, actor)
        self._cancel.set()
        return dep.id

    def discard(self, actor: str):
        live, _ = live_colour(self.config, self.router, self.http, lambda e: None)
        idle = other(live or "")
        dep = self.store.latest_deployment(idle)
        if dep is None:
            raise NotPromotable(f"nothing has been deployed to {idle}: nothing to discard")
        if dep.status == "running":
            raise NotPromotable(f"deploy #{dep.id} to {idle} is still running: cancel it instead")
        self.store.set_promotable(dep.id, False, note=f"discarded by {actor}")
        return self.store.deployment(dep.id)

    def lock(self, actor: str, reason: str):
        reason = " ".join(reason.split())
        if not reason:
            raise UsageError("say why: lock REASON")
        return self.store.hold(actor, reason[:300])

    def unlock(self, actor: str):
        return self.store.release_hold()

    def recover(self, listener: Callback | None = None) -> list:
        emit = fan_out(self.listener, listener)
        recovered = self.store.recover()
        for rec in recovered:
            emit(Notice(interrupted_text(rec), level="warning"))
        return recovered

    # ------------------------------------------------------ noticing the outside
    def observe_router(self) -> RouterChange | None:
        """The live colour changed since last seen — by hand, outside bluegreen? (observe.py)"""
        return observe.observe_router(self.store, self.router)

    def unseen_switch(self):
        """The newest verified switch no process has looked at yet (observe.py)."""
        return observe.unseen_switch(self.store)

    def remember(self, key: str, value: str) -> None:
        """Keep a small value for a caller (e.g. which message shows an operation), in the
        state database, so that a restarted process can find it."""
        self.store.observe(f"note:{key}", value)

    def recall(self, key: str) -> str | None:
        return self.store.observation(f"note:{key}")
