"""Separate processes race for the operation lock: exactly one wins each round.

This is the several-replicas case of DESIGN.md ("two /deploy at once give exactly one
deploy"), on the real Postgres and on a SQLite file shared by processes. The racers meet at
a barrier, open the store together (on an empty schema, so the migrations race too), then
every round all try ``acquire_operation`` at once and release only after everyone tried.

The racers start from a "forkserver" that imported this module once: a clean,
single-threaded parent, and eight processes up in milliseconds rather than eight
interpreters importing SQLAlchemy and Alembic side by side.
"""
from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from deploy_core.errors import LockHeld
from deploy_core.store import Store
from deploy_core.store.engine import normalise_url

RACERS = 8
ROUNDS = 4
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload([__name__])


def _racer(url: str, name: str, barrier: Any, results: Any) -> None:
    store = None
    try:
        barrier.wait()
        store = Store(url)
        for round_ in range(ROUNDS):
            barrier.wait()                    # everyone ready: go
            lease = None
            try:
                lease = store.acquire_operation("deploy", name, 30, reason="deploy main")
                results.put((round_, name, "won", name))
            except LockHeld as held:
                results.put((round_, name, "held", held.lock.holder))
            barrier.wait()                    # everyone has tried: only now release
            if lease is not None:
                lease.release()
            barrier.wait()                    # released before the next round
    except Exception as exc:                  # report it, so the parent fails with the cause
        results.put((-1, name, "error", repr(exc)))
        barrier.abort()
    finally:
        if store is not None:
            store.close()


def _race(url: str) -> None:
    barrier = CONTEXT.Barrier(RACERS, timeout=60)
    results = CONTEXT.Queue()
    racers = [CONTEXT.Process(target=_racer, args=(url, f"racer-{i}", barrier, results))
              for i in range(RACERS)]
    for racer in racers:
        racer.start()
    outcomes = []
    try:
        while len(outcomes) < RACERS * ROUNDS:
            outcomes.append(results.get(timeout=60))
            if outcomes[-1][2] == "error":       # the others see a broken barrier: show the cause
                for racer in racers:
                    racer.join(timeout=30)
                while not results.empty():
                    outcomes.append(results.get())
                errors = [o for o in outcomes if o[2] == "error"]
                errors.sort(key=lambda o: "BrokenBarrierError" in o[3])
                pytest.fail(f"racers failed: {errors}")
    finally:
        for racer in racers:
            racer.join(timeout=30)
    assert [racer.exitcode for racer in racers] == [0] * RACERS

    for round_ in range(ROUNDS):
        answers = [o[1:] for o in outcomes if o[0] == round_]
        assert len(answers) == RACERS
        won = [who for who, result, _ in answers if result == "won"]
        assert len(won) == 1, f"round {round_}: {answers}"
        named = {holder for _, result, holder in answers if result == "held"}
        assert named == set(won), f"round {round_}: losers named {named}, winner {won}"

    after = Store(url)
    try:
        assert after.current_lock() is None
    finally:
        after.close()
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() \
            == ["0002"]
        assert conn.execute(text("SELECT count(*) FROM locks")).scalar() == 2
    engine.dispose()


@pytest.mark.timeout(120)
def test_processes_race_for_the_lock_on_postgres(pg_fresh_url: str) -> None:
    _race(pg_fresh_url)


@pytest.mark.timeout(120)
def test_processes_race_for_the_lock_on_a_sqlite_file(tmp_path: Path) -> None:
    _race(f"sqlite:///{tmp_path / 'state.db'}")
