"""The blue-green runbook: status, deploy, promote, rollback and the small commands.

``Pipeline`` is the one facade the CLI and the Slack handlers call. Every
operation reports typed events to a listener and raises a ``BluegreenError``
on failure; the operation lock is released on every path.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

from . import running as running_mod
from . import web
from .config import Config, other
from .errors import (BluegreenError, Cancelled, NotPromotable, RouterError, RouterMismatch, SmokeError, UsageError)
from .events import Callback, Notice, OperationFinished, OperationStarted, fan_out
from .hosts import HostRunner
from .notes import short
from .refs import validate_ref
from .results import (ColourStatus, DeployResult, HostStatus, Replaced, RouterChange, Status,
                      SwitchResult)
from .routers import Router, RouterState
from .store.errors import LockLost
from .switching import Switcher

log = logging.getLogger("bluegreen.pipeline")


class Pipeline:
    """Deploy to the idle colour, promote it, roll back; see DESIGN.md for the rules."""

    def __init__(self, config: Config, *, store, transport, router: Router,
                 listener: Callback | None = None, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.env: Mapping[str, str] = dict(env or {})     # for the pause seam and `check`
        self.store = store
        self.transport = transport
        self.router = router
        self.listener = listener
        self._cancel = threading.Event()

    @classmethod
    def from_config(cls, config: Config, env: Mapping[str, str] | None = None,
                    listener: Callback | None = None) -> "Pipeline":
        from .factory import build
        env = dict(os.environ if env is None else env)
        store, transport, router = build(config, env)
        return cls(config, store=store, transport=transport, router=router, listener=listener, env=env)

    def close(self) -> None:
        for part in (self.transport, self.store):
            try:
                part.close()
            except Exception:  # closing is best effort
                log.debug("closing %s failed", type(part).__name__, exc_info=True)

    # ----------------------------------------------------------------- reading
    def public_colour(self) -> tuple[str | None, web.Answer]:
        """Which colour the public URL's identity route answers, if any."""
        app = self.config.app
        answer = web.get(app.public_url + app.identity_path, app.request_timeout_s)
        colour = self.config.colour_of_identity(answer.text) if answer.ok else None
        return colour, answer

    def require_live(self, emit: Callback) -> str:
        """The live colour, cross-checked; RouterError when no colour is live."""
        live, _ = self.live_colour(emit, required=True)
        if live is None:
            raise RouterError("no colour is live")
        return live

    def live_colour(self, emit: Callback, *, required: bool = True) -> tuple[str | None, RouterState]:
        """The live colour from the router, cross-checked with the identity route."""
        state = self.router.read()
        if state.status != "ok":
            if required:
                raise RouterError(f"no colour is live: the router reports {state.status}"
                                  f" ({state.detail}). Repair it with `promote --to COLOUR`.")
            return None, state
        seen, answer = self.public_colour()
        if answer.ok and seen != state.live:
            what = f"{seen}'s identity" if seen else f"{answer.text.strip()[:60]!r} (neither colour)"
            raise RouterMismatch(
                f"the router says {state.live} is live but {self.config.app.public_url} answers "
                f"{what}; nothing was changed. Check the router and the identity route.")
        if not answer.ok:
            emit(Notice(f"could not cross-check the live colour through the public URL: "
                        f"{answer.detail}", level="warning"))
        return state.live, state

    def status(self) -> Status:
        state = self.router.read()
        router, live = state.status, state.live
        detail = state.detail
        if router == "ok":
            seen, answer = self.public_colour()
            if answer.ok and seen != live:
                router = "mismatch"
                detail = f"router says {live}, public URL answers {answer.text.strip()[:60]!r}"
            elif not answer.ok:
                detail = f"public URL: {answer.detail}"
        colours = {}
        app = self.config.app
        with ThreadPoolExecutor(max_workers=8) as pool:
            checks = {name: [(h, pool.submit(web.health, h.url, app.health_path, app.request_timeout_s),
                              pool.submit(running_mod.read_host, self.config, self.transport, name, h))
                             for h in c.hosts]
                      for name, c in self.config.colours.items()}
            for name, triples in checks.items():
                hosts = tuple(HostStatus(h.name, h.url, fh.result().ok, fh.result().detail,
                                         fr.result().sha, fr.result().proven, fr.result().detail)
                              for h, fh, fr in triples)
                running = running_mod.common(fr.result() for _, _, fr in triples)
                cs = self.store.colour_state(name)
                dep = self.store.latest_deployment(name)
                colours[name] = ColourStatus(
                    name=name, identity=self.config.colours[name].identity,
                    sha=cs.sha if cs else None, healthy=all(h.healthy for h in hosts), hosts=hosts,
                    deployment=dep, running=running.sha, running_proven=running.proven,
                    running_detail=running.detail,
                    promotable=name != live and self._promote_refusal(name, running) is None)
        return Status(live=live if router in ("ok", "mismatch") else None,
                      idle=other(live) if live and router in ("ok", "mismatch") else None,
                      router=router, router_detail=detail, colours=colours,
                      lock=self.store.current_lock(), recent=self.store.history(5))

    def running(self, colour: str) -> running_mod.Running:
        """What ``colour``'s hosts run now (see running.py)."""
        return running_mod.read_colour(self.config, self.transport, colour)[0]

    def history(self, limit: int = 20) -> list:
        return self.store.history(limit)

    def log(self, deployment_id: int):
        dep = self.store.deployment(deployment_id)
        if dep is None:
            raise BluegreenError(f"there is no deployment #{deployment_id}")
        return dep, self.store.steps(deployment_id)

    # -------------------------------------------------------------- operations
    @contextmanager
    def _lease(self, kind: str, actor: str, reason: str, emit: Callback) -> Iterator:
        lease = self.store.acquire_operation(kind, actor, self.config.deploy.lease_s, reason=reason)
        with lease:     # releases; a failed release never hides the error that ended the operation
            for rec in lease.recovered:
                emit(Notice(interrupted_text(rec), level="warning"))
            lease.start_renewing()
            self._pause(f"{kind}:locked")
            yield lease

    def _pause(self, stage: str) -> None:
        """Test seam: with BLUEGREEN_PAUSE_AT naming this stage, wait at it (bounded).

        Stages: ``KIND:locked`` (lock taken, nothing recorded yet), ``deploy:steps``,
        ``deploy:health``, ``deploy:smoke``, ``promote:switch``/``rollback:switch`` (switch
        recorded, router not called yet), ``promote:verify``/``rollback:verify``."""
        env = self.env
        if stage not in env.get("BLUEGREEN_PAUSE_AT", "").split(","):
            return
        folder = Path(env.get("BLUEGREEN_PAUSE_DIR", "."))
        (folder / f"{stage}.reached").write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while not (folder / f"{stage}.go").exists() and time.monotonic() < deadline \
                and not self._cancel.is_set():
            time.sleep(0.02)

    def deploy(self, ref: str, actor: str, listener: Callback | None = None) -> DeployResult:
        """Put REF on the idle colour: fetch, resolve, steps, health, smoke."""
        ref = validate_ref(ref)
        emit = fan_out(self.listener, listener)
        self._cancel.clear()
        started = time.monotonic()
        colour, sha, dep_id = "", None, None
        try:
            with self._lease("deploy", actor, f"deploy {ref}", emit) as lease:
                try:
                    colour = other(self.require_live(emit))
                    replaced = self._replaced(colour)
                    replaced_sha = replaced.sha
                    dep_id = self.store.create_deployment(colour, ref, actor, replaced_sha)
                    lease.attach(deployment_id=dep_id)
                    target = self._is_rollback_target(colour, replaced_sha)
                    sha = self._deploy(lease, dep_id, colour, ref, actor, replaced, target, emit)
                except (BluegreenError, KeyboardInterrupt) as exc:
                    # record the outcome while the lock is still ours, so no other
                    # process can take the failure for a dead owner's operation
                    if dep_id is not None and not isinstance(exc, SmokeError):
                        status = "failed" if isinstance(exc, BluegreenError) and \
                            not isinstance(exc, Cancelled) else "cancelled"
                        self._finish_quietly(dep_id, status, str(exc) or "cancelled by Ctrl-C")
                    raise
            hosts = self.config.colours[colour].hosts
            result = DeployResult(dep_id, colour, ref, sha, replaced_sha, True,
                                  tuple(h.url for h in hosts), target,
                                  replaced_foreign=replaced.foreign,
                                  release_proven=bool(self.config.app.release_path),
                                  smoke_checks=len(self.config.smoke))
            emit(OperationFinished(kind="deploy", ok=True, colour=colour, sha=sha, op_id=dep_id,
                                   elapsed=time.monotonic() - started,
                                   message=f"{ref} @ {short(sha)} is on {colour}: {result.evidence}",
                                   data={"replaced_sha": replaced_sha,
                                         "replaced_rollback_target": target,
                                         "host_urls": list(result.host_urls)}))
            return result
        except (BluegreenError, KeyboardInterrupt) as exc:
            error = exc if isinstance(exc, BluegreenError) else Cancelled("cancelled by Ctrl-C")
            emit(OperationFinished(kind="deploy", ok=False, colour=colour, sha=sha, op_id=dep_id,
                                   elapsed=time.monotonic() - started, message=str(error),
                                   error=str(error), error_type=type(error).__name__,
                                   data={"tail": list(getattr(error, "tail", []))}))
            if error is exc:
                raise
            raise error from None

    def _is_rollback_target(self, colour: str, sha: str | None) -> bool:
        """Would a rollback go to ``colour`` now, to the release it runs?"""
        last = self.store.last_switch()
        return bool(sha) and last is not None and last.from_colour == colour \
            and last.from_sha == sha

    def _replaced(self, colour: str) -> Replaced:
        """What the idle colour runs before a deploy replaces it: read from its hosts,
        else the release bluegreen last deployed there."""
        running = self.running(colour)
        state = self.store.colour_state(colour)
        stored = state.sha if state else None
        if running.sha is None:
            return Replaced(stored, False, False, running.detail)
        return Replaced(running.sha, not running.matches(stored), running.proven, running.detail)

    def _deploy(self, lease, dep_id: int, colour: str, ref: str, actor: str,
                replaced: Replaced, rollback_target: bool, emit: Callback) -> str:
        """The runbook of one deploy, under the operation lock."""
        emit(OperationStarted(kind="deploy", colour=colour, actor=actor, ref=ref,
                              replaces=replaced.sha, replaces_rollback_target=rollback_target,
                              replaces_foreign=replaced.foreign, replaces_proven=replaced.proven,
                              op_id=dep_id))
        if rollback_target:
            emit(Notice(f"{colour} runs {short(replaced.sha)}, the release that was live "
                        f"before: this deploy replaces the rollback target",
                        level="warning", op_id=dep_id))
        if not self.config.app.release_path:
            emit(Notice(running_mod.NO_RELEASE_PATH, level="warning", op_id=dep_id))
        runner = HostRunner(self, dep_id, colour, ref, emit, self._cancelled(dep_id, lease))
        hosts = self.config.colours[colour].hosts
        runner.fetch(hosts)
        sha = runner.resolve(hosts[0])
        self.store.set_deployment_sha(dep_id, sha)
        self.store.set_colour(colour, None, dep_id)
        self._pause("deploy:steps")
        runner.steps(hosts, sha)
        self._pause("deploy:health")
        runner.wait_served(hosts, sha)
        self.store.set_colour(colour, sha, dep_id)
        self._pause("deploy:smoke")
        smoke_error = runner.smoke(hosts)
        if smoke_error:
            self.store.finish_deployment(dep_id, "failed", error=smoke_error,
                                         smoke_ok=False, promotable=False)
            raise SmokeError(f"smoke test failed on {colour}: {smoke_error}. "
                             f"{colour} runs {short(sha)} but is not promotable "
                             f"(promote --force would waive this)")
        self.store.finish_deployment(dep_id, "succeeded", smoke_ok=True, promotable=True)
        return sha

    def _finish_quietly(self, dep_id: int, status: str, error: str) -> None:
        try:
            self.store.finish_deployment(dep_id, status, error=error, promotable=False)
        except Exception:  # the original error matters more; recovery marks it later
            log.warning("could not record deployment #%s as %s", dep_id, status, exc_info=True)

    def _cancelled(self, dep_id: int, lease, every_s: float = 0.5):
        """A check for cancellation that asks the database at most every ``every_s``
        seconds, however many host threads call it."""
        asked = [float("-inf"), False]
        guard = threading.Lock()

        def check(fresh: bool = False) -> bool:
            if lease.lost:
                raise LockLost(f"deploy #{dep_id} lost its operation lock (its lease expired): "
                               f"stopping before the next step")
            if self._cancel.is_set():
                return True
            with guard:
                if fresh or time.monotonic() - asked[0] >= every_s:
                    asked[:] = [time.monotonic(), self.store.cancel_requested(dep_id)]
                return bool(asked[1])
        return check

    def promote(self, actor: str, force: bool = False, to: str | None = None,
                listener: Callback | None = None) -> SwitchResult:
        return Switcher(self, fan_out(self.listener, listener)).promote(actor, force, to)

    def rollback(self, actor: str, listener: Callback | None = None) -> SwitchResult:
        return Switcher(self, fan_out(self.listener, listener)).rollback(actor)

    def _promote_refusal(self, colour: str, running: running_mod.Running | None = None) -> str | None:
        """Why the idle ``colour`` may not be promoted now, or None when it may.
        ``running``, when given, is what its hosts run now (see running.py)."""
        dep = self.store.latest_deployment(colour)
        cs = self.store.colour_state(colour)
        if dep is None:
            return f"nothing has been deployed to {colour} yet: deploy a release first"
        what = f"the last deploy to {colour} (#{dep.id}, {dep.ref} @ {short(dep.sha)})"
        if dep.status == "running":
            return f"{what} is still running"
        if dep.status != "succeeded":
            return f"{what} {dep.status}" + (f": {dep.error}" if dep.error else "")
        if not dep.promotable:
            return f"{what} is not promotable" + (f": {dep.promotable_note}" if dep.promotable_note else "")
        if cs is None or cs.deployment_id != dep.id or cs.sha != dep.sha:
            return f"{colour} has changed since {what}"
        if running is not None and running.sha is not None and not running.matches(dep.sha):
            how = "serves" if running.proven else "has checked out"
            return f"{colour} {how} {short(running.sha)} now, not {short(dep.sha)}: it has changed since {what}"
        return None

    # ------------------------------------------------------------ small commands
    def cancel(self, actor: str) -> int | None:
        dep = self.store.running_deployment()
        if dep is None:
            return None
        self.store.request_cancel(dep.id, actor)
        self._cancel.set()
        return dep.id

    def discard(self, actor: str):
        idle = other(self.require_live(lambda e: None))
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

    def observe_router(self) -> RouterChange | None:
        """The live colour changed since last seen — by hand, outside bluegreen?

        The last seen value lives in the store and is compare-and-set, so with several
        bot replicas exactly one of them reports each change. Every switch of ours records
        where it left the router (``record_router``), so only changes made since are news."""
        lock = self.store.current_lock()
        if lock is not None and lock.kind == "operation":
            return None               # a switch of ours may be under way
        state = self.router.read()
        changed, before = self.store.observe("router", _router_value(state))
        if not changed:
            return None               # unchanged, or another replica reports it
        if before is None:            # first look: compare with bluegreen's last switch
            last = self.store.last_switch()
            if last is None or (state.status == "ok" and last.to_colour == state.live):
                return None
            return RouterChange(last.to_colour, state.live, state.status, state.detail)
        colour = before.partition(":")[2]
        return RouterChange(colour or None, state.live, state.status, state.detail)

    def record_router(self, state: RouterState | None = None) -> None:
        """Remember where the router points now (read it when ``state`` is None): called
        after each of our switches, so that a later change by hand is noticed."""
        self.store.observe("router", _router_value(state or self.router.read()))

    def unseen_switch(self):
        """The newest verified switch no process has looked at yet (compare-and-set: one
        replica gets it), or None. The first look only remembers where history stands."""
        last = self.store.last_switch()
        if last is None:
            return None
        changed, before = self.store.observe("switch", str(last.id))
        return last if changed and before is not None else None

    def remember(self, key: str, value: str) -> None:
        """Keep a small value for a caller (e.g. which message shows an operation), in the
        state database, so that a restarted process can find it."""
        self.store.observe(f"note:{key}", value)

    def recall(self, key: str) -> str | None:
        return self.store.observation(f"note:{key}")

    def current_lock(self):
        """The hold if any, else a live operation lock, else None."""
        return self.store.current_lock()

    def check(self):
        from .checks import run_checks
        return run_checks(self)


def interrupted_text(rec) -> str:
    what = f"{rec.kind} #{rec.id}" if rec.id is not None else f"a {rec.kind}"
    where = f" on {rec.colour}" if getattr(rec, "colour", None) else ""
    return (f"{what}{where} by {rec.holder} was interrupted (its process died): "
            f"marked interrupted, its lock released")


def _router_value(state: RouterState) -> str:
    return f"{state.status}:{state.live or ''}"
