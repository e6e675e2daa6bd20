"""Promote and rollback: check the rules, health-check the target, switch, verify through
the public URL — and when verification fails, put traffic back (verified too)."""
from __future__ import annotations

import time
from dataclasses import replace

from . import rules
from .config import Config
from .errors import (BluegreenError, HealthError, NotPromotable, NotRollbackable, UsageError,
                     VerifyError)
from .events import Callback, Notice, OperationStarted
from .live import live_colour
from .notes import release_notes
from .observe import record_router
from .operation import Finish, Operation
from .parts import Parts
from .refs import short
from .results import SwitchResult
from .routers import RouterState
from .running import Running, read_colour
from .steps import step
from .web import describe_release, release_sha, same_release


class Switcher:
    def __init__(self, parts: Parts, emit: Callback) -> None:
        self.parts = parts
        self.cfg: Config = parts.config
        self.store = parts.store
        self.emit = emit

    # ------------------------------------------------------------------ promote
    def promote(self, actor: str, force: bool, to: str | None) -> SwitchResult:
        op = Operation(self.parts, self.emit, "promote", actor)
        op.colour = to or ""
        started = time.monotonic()
        result = op.run("promote", lambda op: self._promote(op, actor, force, to), self._finished)
        return replace(result, elapsed=time.monotonic() - started)

    def _promote(self, op: Operation, actor: str, force: bool, to: str | None) -> SwitchResult:
        live, state = live_colour(self.cfg, self.parts.router, self.parts.http, self.emit,
                                  required=False)
        target, where = rules.promote_target(live, to)
        if not where.ok or target is None:
            error = UsageError if to is not None and target is None else NotPromotable
            detail = f" (the router reports {state.status}: {state.detail})" if live is None else ""
            raise error(where.reason + detail, needs=where.needs)
        running = self._running(target)
        decision = rules.may_promote(target, self.store.latest_deployment(target),
                                     self.store.colour_state(target), running)
        if not decision.ok and not force:
            raise NotPromotable(f"{target} cannot be promoted: {decision.reason}", needs=decision.needs)
        from_sha = self._runs(live)
        to_sha = running.sha or self._recorded(target)
        self.emit(OperationStarted(kind="promote", colour=target, actor=actor, from_colour=live,
                                   sha=to_sha, forced=force))
        if force:
            self.emit(Notice(f"FORCED promote of {target} by {actor}"
                             + (f": {decision.reason}" if not decision.ok else ""), level="warning"))
        self._fresh_health(target)
        release = self._release_to_verify(target, running)
        result = self._switch(op, "promote", actor, live, target, from_sha, to_sha, force, release)
        if live:
            previous = self.store.latest_deployment(live)
            if previous is not None and previous.promotable:
                self.store.set_promotable(previous.id, False, note=f"{live} was live until promote "
                                          f"#{result.switch_id}; use rollback to return to it")
        notes = release_notes(self.cfg, self.parts.transport, self.emit, target, from_sha, to_sha)
        return replace(result, notes=notes)

    # ----------------------------------------------------------------- rollback
    def rollback(self, actor: str) -> SwitchResult:
        op = Operation(self.parts, self.emit, "rollback", actor)
        started = time.monotonic()
        result = op.run("rollback", lambda op: self._rollback(op, actor), self._finished)
        return replace(result, elapsed=time.monotonic() - started)

    def _rollback(self, op: Operation, actor: str) -> SwitchResult:
        live, _ = live_colour(self.cfg, self.parts.router, self.parts.http, self.emit)
        last = self.store.last_switch()
        target = last.from_colour if last is not None else None
        running = self._running(target) if target else Running(None)
        now = running.sha or (self._recorded(target) if target else None)
        decision = rules.may_rollback(live, last, self.store.latest_deployment(target) if target
                                      else None, now, running.proven)
        if not decision.ok or target is None:
            raise NotRollbackable(decision.reason, needs=decision.needs)
        op.colour = target
        to_sha = last.from_sha or now
        self.emit(OperationStarted(kind="rollback", colour=target, actor=actor, from_colour=live,
                                   sha=to_sha))
        if running.sha is None:
            self.emit(Notice(f"could not read what {target} runs ({running.detail}); bluegreen "
                             f"last saw {short(to_sha)} there", level="warning"))
        self._fresh_health(target)
        release = self._release_to_verify(target, running)
        return self._switch(op, "rollback", actor, live, target, self._runs(live), to_sha,
                            False, release)

    # ------------------------------------------------------------------- shared
    def _finished(self, result: SwitchResult) -> Finish:
        verb = "promoted" if result.kind == "promote" else "rolled back to"
        forced = " (FORCED)" if result.forced else ""
        return Finish(f"{verb} {result.to_colour} @ {short(result.to_sha)}{forced}: "
                      f"{self.cfg.app.public_url} answers {result.to_colour}",
                      result.to_colour, result.to_sha, result.switch_id, result.notes)

    def _running(self, colour: str) -> Running:
        return read_colour(self.cfg, self.parts.transport, self.parts.http, colour)

    def _recorded(self, colour: str) -> str | None:
        state = self.store.colour_state(colour)
        return state.sha if state else None

    def _runs(self, colour: str | None) -> str | None:
        """What ``colour`` runs: read from its hosts, else what bluegreen deployed there."""
        if colour is None:
            return None
        return self._running(colour).sha or self._recorded(colour)

    def _fresh_health(self, colour: str) -> None:
        app = self.cfg.app
        for host in self.cfg.colours[colour].hosts:
            with step(self.emit, "health", host.name) as s:
                answer = self.parts.http.get(host.url + app.health_path, app.request_timeout_s)
                s.detail = answer.detail
                if not answer.ok:
                    s.fail(answer.detail)
                    raise HealthError(f"{colour} is not healthy: {host.url}{app.health_path} "
                                      f"answered {answer.detail}; nothing was switched", host=host.name)

    def _release_to_verify(self, colour: str, running: Running) -> str | None:
        """The sha the public URL must answer at release_path after switching to ``colour``:
        what its hosts answered there just before the switch (``running``); None, and a
        notice saying so, when release_path is not set or the hosts proved no one release."""
        if not self.cfg.app.release_path:
            return None
        if running.sha is None or not running.proven:
            self.emit(Notice(f"{colour} did not prove one release at {self.cfg.app.release_path} "
                             f"({running.detail}): verification checks the identity route only",
                             level="warning"))
            return None
        return running.sha

    def _switch(self, op: Operation, kind: str, actor: str, live: str | None, target: str,
                from_sha: str | None, to_sha: str | None, forced: bool,
                release: str | None) -> SwitchResult:
        """Record the switch, route, verify; on failure put back (verified) and say where
        traffic is now. The outcome is recorded while the operation lock is still held."""
        sid = self.store.create_switch(kind, live, target, from_sha, to_sha, actor, forced)
        op.attach(switch_id=sid)
        try:
            self.parts.pause(f"{kind}:switch")
            self._route(target, "switch", sid)
            self.parts.pause(f"{kind}:verify")
            self._verify(target, "verify", sid, release)
        except VerifyError as exc:
            after = self._put_back(live, sid)
            self._failed(sid, exc, after)
            raise exc.extended(f". {after}", traffic=after) from exc
        except BluegreenError as exc:
            after = f"Traffic now: {self._where()}"
            self._failed(sid, exc, after)
            raise exc.extended(f". {after}", traffic=after) from exc
        self.store.finish_switch(sid, "succeeded", verified=True)
        record_router(self.store, RouterState(target, "ok"))
        return SwitchResult(sid, kind, live, target, from_sha, to_sha, forced, True)

    def _failed(self, sid: int, error: BluegreenError, after: str) -> None:
        self.store.finish_switch(sid, "failed", verified=False, error=f"{error.message}. {after}")
        try:             # remember where the router is now, so a later hand switch is news
            record_router(self.store, self.parts.router.read())
        except BluegreenError:
            pass

    def _route(self, colour: str, name: str, sid: int) -> None:
        with step(self.emit, name, None, sid) as s:
            self.parts.router.switch(colour)
            s.detail = f"router sends traffic to {colour}"

    def _verify(self, colour: str, name: str, sid: int, release: str | None = None) -> None:
        """``verify_count`` answers in a row of ``colour``'s identity (and, with ``release``,
        of that sha at release_path), each on a new connection."""
        cfg, app, http = self.cfg.promote, self.cfg.app, self.parts.http
        want = self.cfg.colours[colour].identity
        with step(self.emit, name, None, sid) as s:
            deadline = time.monotonic() + cfg.verify_timeout_s
            streak, last = 0, "no answer yet"
            while streak < cfg.verify_count:
                timeout = min(app.request_timeout_s, max(0.5, deadline - time.monotonic()))
                answer = http.get(app.public_url + app.identity_path, timeout)
                good = answer.ok and answer.text.strip() == want
                if not good:
                    last = answer.text.strip()[:60] if answer.ok else answer.detail
                elif release and app.release_path:
                    proof = http.get(app.public_url + app.release_path, timeout)
                    good = same_release(release_sha(proof.text) if proof.ok else None, release)
                    if not good:
                        last = f"{app.release_path}: {describe_release(proof, app.release_path)}, " \
                               f"not {short(release)}"
                streak = streak + 1 if good else 0
                if streak >= cfg.verify_count:
                    break
                if time.monotonic() >= deadline:
                    detail = (f"{app.public_url}{app.identity_path} did not answer {want!r} "
                              f"{cfg.verify_count} times in a row within {cfg.verify_timeout_s:g}s "
                              f"(last: {last!r})")
                    s.fail(detail)
                    raise VerifyError(f"verification failed: {detail}")
                time.sleep(cfg.verify_interval_s)
            s.detail = f"{want} answered {cfg.verify_count}x" + \
                (f", serving {short(release)}" if release else "")

    def _put_back(self, live: str | None, sid: int) -> str:
        if live is None:
            return "No colour was live before, so there is nothing to put traffic back to."
        try:
            self._route(live, "put back", sid)
            self._verify(live, "verify put back", sid)
        except BluegreenError as exc:
            return f"Putting traffic back to {live} FAILED too: {exc}. Traffic now: {self._where()}"
        return f"Traffic was put back to {live} (verified)."

    def _where(self) -> str:
        try:
            state = self.parts.router.read()
        except BluegreenError as exc:
            return f"unknown ({exc})"
        return state.live or f"{state.status} ({state.detail})"
