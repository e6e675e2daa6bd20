"""Promote and rollback: health-check, switch, verify through the public URL,
and put traffic back (verified too) when verification fails."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from . import web
from .config import COLOURS, other
from .errors import (BluegreenError, HealthError, NotPromotable, NotRollbackable, RouterError,
                     UsageError, VerifyError)
from .events import Callback, Commit, Notice, OperationFinished, OperationStarted, StepFinished, StepStarted
from .notes import log_command, parse_log, short
from .refs import render_path
from .results import SwitchResult
from .routers import RouterState

if TYPE_CHECKING:
    from .pipeline import Pipeline


class Switcher:
    def __init__(self, pipeline: "Pipeline", emit: Callback) -> None:
        self.p = pipeline
        self.cfg = pipeline.config
        self.store = pipeline.store
        self.emit = emit
        self.switch_id: int | None = None

    # ------------------------------------------------------------------ promote
    def promote(self, actor: str, force: bool, to: str | None) -> SwitchResult:
        if to is not None and to not in COLOURS:
            raise UsageError(f"--to must be blue or green, not {to!r}")
        return self._operation("promote", actor, lambda lease: self._promote(lease, actor, force, to),
                               colour=to or "")

    def _promote(self, lease, actor: str, force: bool, to: str | None) -> SwitchResult:
        live, state = self.p.live_colour(self.emit, required=False)
        if live is None and to is None:
            raise NotPromotable(f"no colour is live (the router reports {state.status}: "
                                f"{state.detail}); say where traffic goes: promote --to blue|green")
        target = to or other(live or "")
        if target == live:
            raise NotPromotable(f"{target} is already live")
        running = self.p.running(target)
        refusal = self.p._promote_refusal(target, running)
        if refusal and not force:
            raise NotPromotable(f"{target} cannot be promoted: {refusal} "
                                f"(--force waives this, never the health check)")
        from_sha = self._runs(live)
        to_sha = running.sha or self._colour_sha(target)
        self.emit(OperationStarted(kind="promote", colour=target, actor=actor, from_colour=live,
                                   sha=to_sha, forced=force))
        if force:
            self.emit(Notice(f"FORCED promote of {target} by {actor}"
                             + (f": {refusal}" if refusal else ""), level="warning"))
        self._fresh_health(target)
        release = self._release_to_verify(target, running)
        return self._switch(lease, "promote", actor, live, target, from_sha, to_sha, force, release)

    # ----------------------------------------------------------------- rollback
    def rollback(self, actor: str) -> SwitchResult:
        return self._operation("rollback", actor, lambda lease: self._rollback(lease, actor))

    def _rollback(self, lease, actor: str) -> SwitchResult:
        live, _ = self.p.live_colour(self.emit)
        last = self.store.last_switch()
        if last is None or last.from_colour is None:
            raise NotRollbackable("no switch has been made yet: there is nothing to roll back to")
        if last.to_colour != live:
            raise NotRollbackable(
                f"the last switch went to {last.to_colour} but {live} is live now (switched "
                f"outside bluegreen?); use promote --to COLOUR to choose explicitly")
        target = last.from_colour
        dep = self.store.latest_deployment(target)
        if dep is not None and dep.started_at > last.finished_at:
            raise NotRollbackable(
                f"{target} no longer runs {short(last.from_sha)}, the release that was live "
                f"before: {dep.ref} @ {short(dep.sha)} (deploy #{dep.id}, {dep.status}) is there "
                f"now. Promote it, or deploy {short(last.from_sha)} again")
        running = self.p.running(target)
        now_sha = running.sha or self._colour_sha(target)
        if last.from_sha and now_sha and not web.same_release(now_sha, last.from_sha):
            how = "serves" if running.proven else ("has checked out" if running.sha else "runs")
            raise NotRollbackable(
                f"{target} no longer runs {short(last.from_sha)}, the release that was live "
                f"before: it {how} {short(now_sha)} now. Deploy {short(last.from_sha)} again, "
                f"or promote --to {target} to choose it anyway")
        self.emit(OperationStarted(kind="rollback", colour=target, actor=actor, from_colour=live,
                                   sha=last.from_sha or now_sha))
        if running.sha is None:
            self.emit(Notice(f"could not read what {target} runs ({running.detail}); bluegreen "
                             f"last saw {short(last.from_sha or now_sha)} there", level="warning"))
        self._fresh_health(target)
        release = self._release_to_verify(target, running)
        return self._switch(lease, "rollback", actor, live, target, self._runs(live),
                            last.from_sha or now_sha, False, release)

    # ------------------------------------------------------------------- shared
    def _operation(self, kind: str, actor: str, body, colour: str = "") -> SwitchResult:
        started = time.monotonic()
        try:
            with self.p._lease(kind, actor, kind, self.emit) as lease:
                result = body(lease)
        except BluegreenError as exc:
            self.emit(OperationFinished(kind=kind, ok=False, colour=colour, message=str(exc),
                                        elapsed=time.monotonic() - started, error=str(exc),
                                        error_type=type(exc).__name__, op_id=self.switch_id))
            raise
        result = SwitchResult(**{**result.__dict__, "elapsed": time.monotonic() - started})
        verb = "promoted" if kind == "promote" else "rolled back to"
        forced = " (FORCED)" if result.forced else ""
        self.emit(OperationFinished(
            kind=kind, ok=True, colour=result.to_colour, sha=result.to_sha, op_id=result.switch_id,
            elapsed=result.elapsed, notes=result.notes,
            message=f"{verb} {result.to_colour} @ {short(result.to_sha)}{forced}: "
                    f"{self.cfg.app.public_url} answers {result.to_colour}",
            data={"from_colour": result.from_colour, "from_sha": result.from_sha,
                  "forced": result.forced}))
        return result

    def _colour_sha(self, colour: str | None) -> str | None:
        if colour is None:
            return None
        state = self.store.colour_state(colour)
        return state.sha if state else None

    def _fresh_health(self, colour: str) -> None:
        app = self.cfg.app
        for host in self.cfg.colours[colour].hosts:
            self.emit(StepStarted(name="health", host=host.name))
            t0 = time.monotonic()
            answer = web.health(host.url, app.health_path, app.request_timeout_s)
            self.emit(StepFinished(name="health", host=host.name, ok=answer.ok,
                                   elapsed=time.monotonic() - t0, detail=answer.detail))
            if not answer.ok:
                raise HealthError(f"{colour} is not healthy: {host.url}{app.health_path} "
                                  f"answered {answer.detail}; nothing was switched")

    def _runs(self, colour: str | None) -> str | None:
        """What ``colour`` runs: read from its hosts, else what bluegreen deployed there."""
        if colour is None:
            return None
        return self.p.running(colour).sha or self._colour_sha(colour)

    def _release_to_verify(self, colour: str, running) -> str | None:
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

    def _switch(self, lease, kind, actor, live, target, from_sha, to_sha, forced,
                release: str | None = None) -> SwitchResult:
        sid = self.store.create_switch(kind, live, target, from_sha, to_sha, actor, forced)
        self.switch_id = sid
        lease.attach(switch_id=sid)
        try:
            self.p._pause(f"{kind}:switch")
            self._route(target, "switch")
            self.p._pause(f"{kind}:verify")
            self._verify(target, "verify", release)
        except VerifyError as exc:
            message = f"{exc}. " + self._put_back(live)
            self.store.finish_switch(sid, "failed", verified=False, error=message)
            self._remember_router()
            raise VerifyError(message) from None
        except BluegreenError as exc:
            after = self._safe_read()
            message = f"{exc}. Traffic now: {after}"
            self.store.finish_switch(sid, "failed", verified=False, error=message)
            self._remember_router()
            raise type(exc)(message) from None
        self.store.finish_switch(sid, "succeeded", verified=True)
        self.p.record_router(RouterState(target, "ok"))
        if kind == "promote" and live:
            previous = self.store.latest_deployment(live)
            if previous is not None and previous.promotable:
                self.store.set_promotable(previous.id, False,
                                          note=f"{live} was live until promote #{sid}; use rollback to return to it")
        notes = self._notes(target, live, from_sha, to_sha) if kind == "promote" else ()
        return SwitchResult(sid, kind, live, target, from_sha, to_sha, forced, True, notes)

    def _route(self, colour: str, name: str) -> None:
        self.emit(StepStarted(name=name, host=None, op_id=self.switch_id))
        t0 = time.monotonic()
        try:
            self.p.router.switch(colour)
        except RouterError as exc:
            self.emit(StepFinished(name=name, host=None, ok=False, elapsed=time.monotonic() - t0,
                                   detail=str(exc), op_id=self.switch_id))
            raise
        self.emit(StepFinished(name=name, host=None, ok=True, elapsed=time.monotonic() - t0,
                               detail=f"router sends traffic to {colour}", op_id=self.switch_id))

    def _verify(self, colour: str, name: str, release: str | None = None) -> None:
        """``verify_count`` answers in a row of ``colour``'s identity (and, with ``release``,
        of that sha at release_path), each on a new connection."""
        cfg, app = self.cfg.promote, self.cfg.app
        want = self.cfg.colours[colour].identity
        self.emit(StepStarted(name=name, host=None, op_id=self.switch_id))
        t0 = time.monotonic()
        deadline = t0 + cfg.verify_timeout_s
        streak, last = 0, "no answer yet"
        while True:
            timeout = min(app.request_timeout_s, max(0.5, deadline - time.monotonic()))
            answer = web.get(app.public_url + app.identity_path, timeout)
            served = None
            if answer.ok and answer.text.strip() == want and release and app.release_path:
                proof = web.get(app.public_url + app.release_path, timeout)
                served = web.release_sha(proof.text) if proof.ok else None
                if not web.same_release(served, release):
                    answer = web.Answer(False, proof.status, proof.text,
                                        f"{app.release_path}: {web.describe_release(proof, app.release_path)}, "
                                        f"not {release[:7]}")
            if answer.ok and answer.text.strip() == want:
                streak += 1
                if streak >= cfg.verify_count:
                    break
            else:
                streak = 0
                last = answer.text.strip()[:60] if answer.ok else answer.detail
            if time.monotonic() >= deadline:
                detail = (f"{app.public_url}{app.identity_path} did not answer {want!r} "
                          f"{cfg.verify_count} times in a row within {cfg.verify_timeout_s:g}s "
                          f"(last: {last!r})")
                self.emit(StepFinished(name=name, host=None, ok=False,
                                       elapsed=time.monotonic() - t0, detail=detail, op_id=self.switch_id))
                raise VerifyError(f"verification failed: {detail}")
            time.sleep(cfg.verify_interval_s)
        serving = f", serving {release[:7]}" if release else ""
        self.emit(StepFinished(name=name, host=None, ok=True, elapsed=time.monotonic() - t0,
                               detail=f"{want} answered {cfg.verify_count}x{serving}",
                               op_id=self.switch_id))

    def _put_back(self, live: str | None) -> str:
        if live is None:
            return "No colour was live before, so there is nothing to put traffic back to."
        try:
            self._route(live, "put back")
            self._verify(live, "verify put back")
        except BluegreenError as exc:
            return f"Putting traffic back to {live} FAILED too: {exc}. Traffic now: {self._safe_read()}"
        return f"Traffic was put back to {live} (verified)."

    def _remember_router(self) -> None:
        """After a failed switch, record where the router is now (best effort), so that a
        change made by hand afterwards is noticed as one."""
        try:
            self.p.record_router()
        except BluegreenError:
            pass

    def _safe_read(self) -> str:
        try:
            state = self.p.router.read()
        except BluegreenError as exc:
            return f"unknown ({exc})"
        return state.live or f"{state.status} ({state.detail})"

    def _notes(self, target: str, live: str | None, old: str | None, new: str | None) -> tuple[Commit, ...]:
        """Commits between the previously live release and the new one, read on a target host."""
        if not new:
            return ()
        host = self.cfg.colours[target].hosts[0]
        cwd = render_path(self.cfg.deploy.path, {"colour": target, "host": host.address})
        try:
            if old is None and live is not None:
                live_host = self.cfg.colours[live].hosts[0]
                live_cwd = render_path(self.cfg.deploy.path, {"colour": live, "host": live_host.address})
                head = self.p.transport.run(live_host, "git rev-parse HEAD", cwd=live_cwd, timeout=30)
                old = head.stdout.strip() if head.exit_status == 0 else None
            result = self.p.transport.run(host, log_command(old, new), cwd=cwd, timeout=30)
        except (BluegreenError, ValueError) as exc:
            self.emit(Notice(f"release notes unavailable: {exc}", level="warning"))
            return ()
        if result.exit_status != 0:
            self.emit(Notice(f"release notes unavailable: git log exited {result.exit_status}",
                             level="warning"))
            return ()
        return tuple(parse_log(result.stdout))
