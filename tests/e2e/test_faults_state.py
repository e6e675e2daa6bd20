"""The state database failing, and many operations at once, on the real Postgres.

The database is reached through a TCPProxy on 127.0.0.50 that the tests cut (the server
stays up), with a password in DATABASE_URL that must never show. Concurrency: threads
with a pipeline each (like bot workers) and separate `bluegreen` processes, sharing one
Postgres schema: exactly one operation holds the lock at a time, every other call gets
LockHeld naming the holder, and every call returns.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import pytest

from deploy_core.cli import main
from deploy_core.errors import BluegreenError, LockHeld
from deploy_core.events import Notice, OperationFinished
from deploy_core.store import StoreError
from sandbox import repo
from tests.support.faults import PipelineWorld, assert_settled, kill, start_cli, wait_for_file
from tests.support.postgres import server_address, via
from tests.support.proxy import TCPProxy


PASSWORD = "pg-s3cret-Pa55"


@pytest.fixture
def proxied(fault_sandbox, pg_fresh_url, tmp_path) -> Iterator[tuple[PipelineWorld, TCPProxy]]:
    """A world whose DATABASE_URL (with a password) goes through a proxy to Postgres."""
    with TCPProxy(listen=("127.0.0.50", 0), target=server_address(pg_fresh_url)) as proxy:
        database_url = via(pg_fresh_url, "127.0.0.50", proxy.address[1], password=PASSWORD)
        w = PipelineWorld(fault_sandbox, tmp_path, database_url)
        try:
            yield w, proxy
        finally:
            w.close()


@pytest.fixture
def on_postgres(fault_sandbox, pg_fresh_url, tmp_path) -> Iterator[PipelineWorld]:
    w = PipelineWorld(fault_sandbox, tmp_path, pg_fresh_url)
    try:
        yield w
    finally:
        w.close()


def cli_in_process(world: PipelineWorld, monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    for key, value in world.cli_env().items():
        monkeypatch.setenv(key, value)
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def green_head(world: PipelineWorld) -> str:
    return repo.git(world.sb.workdir / "hosts" / "green", "rev-parse", "HEAD")


# -- the database unreachable ---------------------------------------------------------------
def test_database_outage_is_a_clear_bounded_error_and_everything_works_after(proxied, monkeypatch, capsys):
    world, proxy = proxied
    p = world.p
    head = green_head(world)
    proxy.cut()
    for operation in (p.status, lambda: p.deploy("main", "alice"), p.history):
        started = time.monotonic()
        with pytest.raises(StoreError) as failed:
            operation()
        assert time.monotonic() - started < 5
        message = str(failed.value)
        assert "state database" in message and f"127.0.0.50:{proxy.address[1]}" in message
        assert PASSWORD not in message and "***" in message
    finished = world.events.of(OperationFinished)[-1]
    assert (finished.kind, finished.ok, finished.error_type) == ("deploy", False, "StoreError")
    assert green_head(world) == head                  # nothing ran on the idle colour

    for argv in (["status", "--json"], ["deploy", "main"], ["history"], ["check"]):
        code, out, err = cli_in_process(world, monkeypatch, capsys, *argv)
        assert code == 1, (argv, out, err)
        assert "state database" in out + err
        assert PASSWORD not in out + err and "Traceback" not in out + err

    proxy.restore()
    assert p.status().lock is None
    assert p.deploy("main", "alice").colour == "green"
    code, out, _ = cli_in_process(world, monkeypatch, capsys, "status", "--json")
    assert code == 0 and '"lock": null' in out
    assert_settled(p, "blue")


def test_database_lost_mid_deploy_stops_it_and_the_lease_frees_the_lock(proxied):
    """Decision: a deploy that cannot reach its state database stops at its next read or
    write (StoreError naming what it was doing), before the next step; it cannot release its lock while the database is away, so the lock
    is freed by lease expiry (lease_s), after which the next operation marks the deploy
    interrupted and says so."""
    world, proxy = proxied
    pause = world.dir / "pause"
    pause.mkdir()
    p = world.pipeline(env={"BLUEGREEN_PAUSE_AT": "deploy:steps", "BLUEGREEN_PAUSE_DIR": str(pause)},
                       deploy={"lease_s": 1.5})
    head = green_head(world)
    outcome: list[BaseException | Any] = []
    worker = threading.Thread(target=lambda: outcome.append(_capture(p.deploy, "main", "alice")))
    worker.start()
    wait_for_file(pause / "deploy:steps.reached")
    proxy.cut()
    cut_at = time.monotonic()
    (pause / "deploy:steps.go").touch()
    worker.join(20)
    assert not worker.is_alive() and time.monotonic() - cut_at < 10
    error = outcome[0]
    assert isinstance(error, StoreError), error
    # what stopped it (the cancel check before the first step), not the failed lock release
    assert "reading a deployment failed" in str(error)
    assert "releasing the operation lock" not in str(error) and PASSWORD not in str(error)
    assert green_head(world) == head                     # no step ran

    proxy.restore()
    deadline = time.monotonic() + 5
    while p.store.current_lock() is not None:            # freed by its lease, within lease_s
        assert time.monotonic() < deadline, "the lock was not freed by its lease"
        time.sleep(0.1)
    world.events.clear()
    again = world.pipeline(deploy={"lease_s": 1.5})
    assert again.deploy("main", "alice").colour == "green"
    notices = [n.text for n in world.events.of(Notice)]
    assert any("deploy #1 on green by alice was interrupted" in n for n in notices), notices
    first = again.store.deployment(1)
    assert first.status == "interrupted" and "lease expired" in first.error
    assert_settled(again, "blue")


def _capture(call, *args):
    try:
        return call(*args)
    except BaseException as exc:  # noqa: BLE001 -- handed to the test to check
        return exc


# -- concurrency ----------------------------------------------------------------------------
def fire_at_once(world: PipelineWorld, calls: list[tuple[str, str]], **pipeline: Any) -> list[Any]:
    """Each (operation, actor) on its own pipeline and thread, released together; return
    what each call returned or raised (in the order given)."""
    pipelines = [world.pipeline(listener=lambda e: None, **pipeline) for _ in calls]
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        operation, actor = calls[i]
        p = pipelines[i]
        call = {"deploy": lambda: p.deploy("main", actor), "promote": lambda: p.promote(actor),
                "rollback": lambda: p.rollback(actor)}[operation]
        barrier.wait(10)
        results[i] = _capture(call)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "a call did not return"
    return results


CALLS = [(op, f"user-{op}-{i}") for op in ("deploy", "promote", "rollback") for i in range(3)]


def test_while_a_process_holds_the_lock_threads_and_another_process_get_lock_held(on_postgres):
    world = on_postgres
    pause = world.dir / "pause"
    pause.mkdir()
    racers = [start_cli(world.cli_env(BLUEGREEN_ACTOR=f"proc-{i}", BLUEGREEN_PAUSE_AT="deploy:steps",
                                      BLUEGREEN_PAUSE_DIR=str(pause)), world.dir / f"proc-{i}",
                        "deploy", "main") for i in range(2)]

    try:
        wait_for_file(pause / "deploy:steps.reached")
        winner_pid = int((pause / "deploy:steps.reached").read_text())
        winner = next(r for r in racers if r.pid == winner_pid)
        loser = next(r for r in racers if r is not winner)
        assert loser.wait(30) == 1                        # the other process was refused
        holder = f"cli:proc-{racers.index(winner)}"
        loser_err = (world.dir / f"proc-{racers.index(loser)}" / "stderr").read_text()
        assert f"{holder} has an operation lock" in loser_err

        results = fire_at_once(world, CALLS)
        assert all(isinstance(r, LockHeld) for r in results), results
        assert {(r.lock.kind, r.lock.holder) for r in results} == {("operation", holder)}
        assert world.p.history()[0].status == "running"   # only the winner's deploy exists
        assert len(world.p.history()) == 1

        (pause / "deploy:steps.go").touch()
        assert winner.wait(60) == 0
    finally:
        for racer in racers:
            kill(racer)
    assert [(h.kind, h.status, h.actor) for h in world.p.history()] == [("deploy", "succeeded", holder)]
    assert_settled(world.p, "blue")


def test_operations_fired_together_never_interleave(on_postgres):
    world = on_postgres
    held: list[tuple[float, float, str]] = []
    guard = threading.Lock()
    store_class = type(world.p.store)
    real_acquire = store_class.acquire_operation

    def acquire(self, kind, holder, lease_s, *, reason=None):
        lease = real_acquire(self, kind, holder, lease_s, reason=reason)
        taken, real_release = time.monotonic(), lease.release

        def release():
            with guard:
                held.append((taken, time.monotonic(), holder))
            real_release()
        lease.release = release
        return lease

    store_class.acquire_operation = acquire
    try:
        results = fire_at_once(world, CALLS)
    finally:
        store_class.acquire_operation = real_acquire
    assert all(r is not None for r in results)
    assert all(isinstance(r, BluegreenError) or hasattr(r, "colour") or hasattr(r, "to_colour")
               for r in results), results
    refused = [r for r in results if isinstance(r, LockHeld)]
    holders = {h for _, _, h in held}
    assert held and len(refused) + len(held) == len(CALLS)
    assert {r.lock.holder for r in refused} <= holders
    spans = sorted(held)
    for (_, end, first), (start, _, second) in zip(spans, spans[1:], strict=False):
        assert end <= start, f"{first} and {second} held the lock at the same time"
    assert_settled(world.p, world.p.router.read().live)
