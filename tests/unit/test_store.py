"""deploy_core.store against SQLite (a temp file) and the real Postgres."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from deploy_core.errors import LockHeld
from deploy_core.store import LockLost, Store, StoreError
from deploy_core.store.engine import normalise_url
from deploy_core.store.models import Base
from tests.support.postgres import server_address, via
from tests.support.proxy import TCPProxy

REPO = Path(__file__).resolve().parents[2]
TABLES = {"deployments", "steps", "switches", "colours", "locks", "observations", "alembic_version"}


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("pg_fresh_url"))


@pytest.fixture
def store(url: str):
    opened = Store(url)
    yield opened
    opened.close()


def _raw(url: str):
    return create_engine(normalise_url(url))


def _utc(moment: datetime | None) -> bool:
    return moment is not None and moment.utcoffset() == timedelta(0)


def _run_child(code: str, *args: str) -> dict:
    """Run ``code`` in a new Python process that exits without cleaning up; return its JSON."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=30, check=True)
    return json.loads(done.stdout)


# -- schema -------------------------------------------------------------------------------------

def test_migrations_create_the_schema_that_matches_the_models(store: Store, url: str) -> None:
    engine = _raw(url)
    with engine.connect() as conn:
        assert TABLES <= set(inspect(conn).get_table_names())
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() \
            == ["0002"]
        assert sorted(conn.execute(text("SELECT name FROM locks")).scalars()) \
            == ["hold", "operation"]
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()


def test_reopening_is_idempotent_and_keeps_the_data(store: Store, url: str) -> None:
    deployment_id = store.create_deployment("blue", "main", "alice", None)
    store.hold("alice", "freeze")
    again = Store(url)
    try:
        assert again.deployment(deployment_id) is not None
        assert again.current_lock() is not None and again.current_lock().holder == "alice"
    finally:
        again.close()
    engine = _raw(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM locks")).scalar() == 2
    engine.dispose()


def test_postgres_url_spellings_go_through_psycopg() -> None:
    for given in ("postgres://u:p@h/db", "postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"):
        assert normalise_url(given).drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"


def test_plain_postgresql_scheme_opens(pg_fresh_url: str) -> None:
    opened = Store(pg_fresh_url.replace("postgresql+psycopg://", "postgres://"))
    try:
        opened.ping()
    finally:
        opened.close()


# -- deployments and steps ----------------------------------------------------------------------

def test_deployment_and_steps_round_trip(store: Store) -> None:
    deployment_id = store.create_deployment("green", "main", "alice", "aaa111")
    running = store.running_deployment()
    assert running is not None and running.id == deployment_id and running.status == "running"
    store.set_deployment_sha(deployment_id, "bbb222")
    start = datetime(2026, 11, 20, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    store.record_step(deployment_id, "10.0.0.3", "checkout", "git checkout bbb222", 0, "ok\n",
                      start, start + timedelta(seconds=2))
    store.record_step(deployment_id, "10.0.0.3", "install", "pip install", 1, "boom",
                      start + timedelta(seconds=3), start + timedelta(seconds=9))
    store.finish_deployment(deployment_id, "failed", error="install failed", smoke_ok=False)

    found = store.deployment(deployment_id)
    assert found is not None
    assert (found.colour, found.ref, found.sha, found.actor, found.replaces_sha) \
        == ("green", "main", "bbb222", "alice", "aaa111")
    assert (found.status, found.error, found.smoke_ok, found.promotable) \
        == ("failed", "install failed", False, False)
    assert _utc(found.started_at) and _utc(found.finished_at)
    assert found.finished_at >= found.started_at
    assert store.running_deployment() is None

    steps = store.steps(deployment_id)
    assert [(s.name, s.exit_status, s.output) for s in steps] \
        == [("checkout", 0, "ok\n"), ("install", 1, "boom")]
    assert steps[0].started_at == start and _utc(steps[0].started_at)
    assert steps[1].finished_at - steps[1].started_at == timedelta(seconds=6)
    assert store.steps(deployment_id + 100) == []
    assert store.deployment(deployment_id + 100) is None


def test_latest_deployment_per_colour_promotable_and_cancel(store: Store) -> None:
    blue = store.create_deployment("blue", "v1", "alice", None)
    store.finish_deployment(blue, "succeeded", smoke_ok=True, promotable=True)
    green = store.create_deployment("green", "v2", "bob", None)
    assert store.latest_deployment().id == green
    assert store.latest_deployment("blue").id == blue
    assert store.latest_deployment("purple") is None

    assert store.deployment(blue).promotable is True
    store.set_promotable(blue, False, "discarded by bob")
    assert (store.deployment(blue).promotable, store.deployment(blue).promotable_note) \
        == (False, "discarded by bob")

    assert store.cancel_requested(green) is False
    store.request_cancel(green, "carol")
    assert store.cancel_requested(green) is True
    assert store.deployment(green).cancel_requested_by == "carol"
    with pytest.raises(ValueError):
        store.finish_deployment(green, "done")
    with pytest.raises(KeyError):
        store.set_deployment_sha(green + 100, "x")


def test_step_output_is_bounded_with_a_marker(url: str) -> None:
    bounded = Store(url, output_limit=1000)
    try:
        deployment_id = bounded.create_deployment("blue", "main", "alice", None)
        now = datetime.now(timezone.utc)
        original = "FIRST" + "x" * 5000 + "LAST"
        bounded.record_step(deployment_id, "h", "big", "cmd", 0, original, now, now)
        bounded.record_step(deployment_id, "h", "small", "cmd", 0, "y" * 1000, now, now)
        big, small = bounded.steps(deployment_id)
    finally:
        bounded.close()
    assert len(big.output) <= 1000
    assert big.output.startswith("FIRST") and big.output.endswith("LAST")
    marker = re.search(r"\n… (\d+) characters cut …\n", big.output)
    assert marker is not None
    kept = len(big.output) - len(marker.group(0))
    assert kept + int(marker.group(1)) == len(original)
    assert small.output == "y" * 1000


# -- colours, switches, history -----------------------------------------------------------------

def test_colour_state(store: Store) -> None:
    assert store.colour_state("blue") is None
    store.set_colour("blue", "aaa", 1)
    first = store.colour_state("blue")
    store.set_colour("blue", "bbb", 2)
    second = store.colour_state("blue")
    assert (first.sha, first.deployment_id) == ("aaa", 1)
    assert (second.colour, second.sha, second.deployment_id) == ("blue", "bbb", 2)
    assert _utc(second.updated_at) and second.updated_at >= first.updated_at
    store.set_colour("green", None, None)
    assert store.colour_state("green").sha is None
    assert store.colour_state("blue").sha == "bbb"


def test_switches_and_last_switch(store: Store) -> None:
    assert store.last_switch() is None
    promote = store.create_switch("promote", "blue", "green", "aaa", "bbb", "alice", forced=True)
    running = store.switch(promote)
    assert (running.status, running.verified, running.forced, running.finished_at) \
        == ("running", False, True, None)
    store.finish_switch(promote, "succeeded", verified=True)
    rollback = store.create_switch("rollback", "green", "blue", "bbb", "aaa", "bob")
    store.finish_switch(rollback, "failed", verified=False, error="verify failed")

    last = store.last_switch()
    assert last is not None and last.id == promote and last.to_colour == "green"
    failed = store.switch(rollback)
    assert (failed.kind, failed.status, failed.error, failed.forced) \
        == ("rollback", "failed", "verify failed", False)
    assert _utc(failed.finished_at)
    assert store.switch(rollback + 100) is None
    with pytest.raises(ValueError):
        store.create_switch("swap", None, "blue", None, None, "x")


def test_history_merges_newest_first(store: Store) -> None:
    first = store.create_deployment("green", "v1", "alice", None)
    store.finish_deployment(first, "succeeded", promotable=True)
    promote = store.create_switch("promote", "blue", "green", None, "s1", "alice")
    store.finish_switch(promote, "succeeded", verified=True)
    second = store.create_deployment("blue", "v2", "bob", None)
    store.set_deployment_sha(second, "s2")
    rollback = store.create_switch("rollback", "green", "blue", "s1", None, "carol")

    items = store.history()
    assert [(i.kind, i.id) for i in items] \
        == [("rollback", rollback), ("deploy", second), ("promote", promote), ("deploy", first)]
    assert (items[1].colour, items[1].ref, items[1].sha, items[1].actor) \
        == ("blue", "v2", "s2", "bob")
    assert (items[2].colour, items[2].from_colour, items[2].ref, items[2].sha) \
        == ("green", "blue", None, "s1")
    assert items[3].status == "succeeded" and items[0].status == "running"
    assert [(i.kind, i.id) for i in store.history(limit=2)] \
        == [("rollback", rollback), ("deploy", second)]


# -- the hold -----------------------------------------------------------------------------------

def test_hold_and_unlock(store: Store) -> None:
    assert store.release_hold() is None
    held = store.hold("alice", "db migration")
    assert (held.kind, held.holder, held.reason) == ("hold", "alice", "db migration")
    assert _utc(held.since)
    assert store.current_lock() == held
    for who in ("bob", "alice"):          # someone else's hold, or one's own
        with pytest.raises(LockHeld) as refused:
            store.hold(who, "again")
        assert refused.value.lock == held
    assert store.release_hold() == held
    assert store.release_hold() is None
    assert store.current_lock() is None


def test_hold_blocks_acquire_and_recovery_never_frees_it(store: Store, url: str) -> None:
    # The hold is taken by a process that is gone by now: still a hold.
    _run_child(
        "import sys, json; from deploy_core.store import Store;"
        "s = Store(sys.argv[1]); s.hold('alice', 'release freeze');"
        "print(json.dumps({})); import os; os._exit(0)", url)
    with pytest.raises(LockHeld) as refused:
        store.acquire_operation("deploy", "bob", 30)
    assert (refused.value.lock.kind, refused.value.lock.holder, refused.value.lock.reason) \
        == ("hold", "alice", "release freeze")
    assert store.recover() == []
    assert store.current_lock().kind == "hold"
    store.release_hold()
    with store.acquire_operation("deploy", "bob", 30):
        pass


# -- the operation lock -------------------------------------------------------------------------

def test_acquire_refuses_while_held_and_release_frees(store: Store) -> None:
    lease = store.acquire_operation("deploy", "alice", 30, reason="deploy main")
    assert (lease.kind, lease.holder, lease.recovered) == ("deploy", "alice", [])
    with pytest.raises(LockHeld) as refused:
        store.acquire_operation("promote", "bob", 30)
    lock = refused.value.lock
    assert (lock.kind, lock.holder, lock.reason) == ("operation", "alice", "deploy main")
    assert _utc(lock.since) and datetime.now(timezone.utc) - lock.since < timedelta(seconds=30)
    assert "alice" in str(refused.value)
    assert store.current_lock() == lock
    with pytest.raises(LockHeld):
        store.acquire_operation("deploy", "alice", 30)   # not re-entrant either

    lease.release()
    lease.release()                                      # idempotent
    assert store.current_lock() is None
    with store.acquire_operation("promote", "bob", 30) as second:
        assert store.current_lock().holder == "bob"
        assert second.recovered == []
    assert store.current_lock() is None


def test_leaving_the_with_block_on_error_releases(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.acquire_operation("deploy", "alice", 30):
            raise RuntimeError("step failed")
    assert store.current_lock() is None


def test_expired_lease_lets_the_next_in_and_marks_the_deployment_interrupted(
        store: Store, url: str) -> None:
    first = store.acquire_operation("deploy", "alice", 0.3)
    deployment_id = store.create_deployment("green", "main", "alice", None)
    first.attach(deployment_id=deployment_id)
    other = Store(url)
    try:
        with pytest.raises(LockHeld):
            other.acquire_operation("deploy", "bob", 30)
        time.sleep(0.45)                                # alice stops renewing: "dies"
        assert other.current_lock() is None
        second = other.acquire_operation("deploy", "bob", 30)
        assert [(i.kind, i.id, i.holder, i.colour) for i in second.recovered] \
            == [("deploy", deployment_id, "alice", "green")]
        assert _utc(second.recovered[0].started_at)
        gone = other.deployment(deployment_id)
        assert gone.status == "interrupted" and gone.promotable is False
        assert "lease expired" in gone.error

        with pytest.raises(LockLost):
            first.renew()
        with pytest.raises(LockLost):
            first.attach(deployment_id=deployment_id)
        first.release()                                 # must not free bob's lock
        assert other.current_lock().holder == "bob"
        second.release()
    finally:
        other.close()


def test_expired_switch_is_interrupted(store: Store) -> None:
    first = store.acquire_operation("promote", "alice", 0.2)
    switch_id = store.create_switch("promote", "blue", "green", "a", "b", "alice")
    first.attach(switch_id=switch_id)
    time.sleep(0.3)
    recovered = store.recover()
    assert [(i.kind, i.id, i.colour) for i in recovered] == [("promote", switch_id, "green")]
    assert store.switch(switch_id).status == "interrupted"
    assert store.recover() == []


def test_dead_process_on_this_host_is_recovered_before_its_lease_ends(
        store: Store, url: str) -> None:
    child = _run_child(
        "import sys, json, os; from deploy_core.store import Store;"
        "s = Store(sys.argv[1]); lease = s.acquire_operation('rollback', 'carol', 3600);"
        "d = s.create_switch('rollback', 'green', 'blue', 'b', 'a', 'carol');"
        "lease.attach(switch_id=d); print(json.dumps({'switch': d, 'pid': os.getpid()}));"
        "os._exit(0)", url)
    assert store.current_lock() is None                 # a dead owner is no live lock
    with store.acquire_operation("deploy", "dave", 30) as lease:
        assert [(i.kind, i.id, i.holder) for i in lease.recovered] \
            == [("rollback", child["switch"], "carol")]
    interrupted = store.switch(child["switch"])
    assert interrupted.status == "interrupted"
    assert f"process {child['pid']}" in interrupted.error


def test_owner_that_died_before_attaching_is_still_reported(store: Store) -> None:
    store.acquire_operation("deploy", "alice", 0.2)
    time.sleep(0.3)
    [recovered] = store.recover()
    assert (recovered.kind, recovered.id, recovered.holder) == ("deploy", None, "alice")


def test_a_finished_operation_whose_owner_died_before_releasing_stays_finished(
        store: Store) -> None:
    lease = store.acquire_operation("deploy", "alice", 0.2)
    deployment_id = store.create_deployment("blue", "v1", "alice", None)
    lease.attach(deployment_id=deployment_id)
    store.finish_deployment(deployment_id, "succeeded", smoke_ok=True, promotable=True)
    time.sleep(0.3)
    assert store.recover() == []
    assert store.current_lock() is None
    assert store.deployment(deployment_id).status == "succeeded"
    with store.acquire_operation("deploy", "bob", 30):
        pass


def test_running_rows_without_a_live_owner_are_interrupted_but_not_a_live_ones(
        store: Store) -> None:
    orphan = store.create_deployment("blue", "main", "alice", None)
    with store.acquire_operation("deploy", "bob", 30) as lease:
        assert [(i.kind, i.id, i.holder) for i in lease.recovered] \
            == [("deploy", orphan, "alice")]
        mine = store.create_deployment("green", "main", "bob", None)   # not attached yet
        assert store.recover() == []
        assert store.deployment(mine).status == "running"
        store.finish_deployment(mine, "succeeded")
    assert store.deployment(orphan).status == "interrupted"
    assert store.deployment(mine).status == "succeeded"


def test_renewing_keeps_the_lease_alive(store: Store, url: str) -> None:
    # lease 1 s, renewed every 1/3 s: after 2.5 s only the renewals can have kept it
    # (a 0.3 s lease was too tight for a loaded 2-core machine: one late renewal lost it)
    lease = store.acquire_operation("deploy", "alice", 1.0)
    lease.start_renewing()
    other = Store(url)
    try:
        time.sleep(2.5)
        with pytest.raises(LockHeld):
            other.acquire_operation("deploy", "bob", 30)
        assert lease.lost is None
        lease.release()
        with other.acquire_operation("deploy", "bob", 30) as second:
            assert second.recovered == []
    finally:
        other.close()


# -- reachability -------------------------------------------------------------------------------

def test_unreachable_database_is_a_store_error_without_the_password() -> None:
    with socket.socket() as probe:                      # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreError) as failed:
        Store(f"postgresql://deploy:s3cret-pw@127.0.0.1:{port}/state")
    assert "s3cret-pw" not in str(failed.value)
    assert f"127.0.0.1:{port}" in str(failed.value)


def test_ping_raises_store_error_when_postgres_goes_away(pg_fresh_url: str) -> None:
    with TCPProxy(target=server_address(pg_fresh_url)) as proxy:
        proxied = Store(via(pg_fresh_url, "127.0.0.1", proxy.address[1], password="hunter2"))
        try:
            proxied.ping()
            proxy.cut()
            with pytest.raises(StoreError) as failed:
                proxied.ping()
            assert "hunter2" not in str(failed.value)
        finally:
            proxied.close()


def test_a_database_from_a_newer_bluegreen_is_refused_clearly(store: Store, url: str) -> None:
    engine = _raw(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError) as refused:
        Store(url)
    assert "9999" in str(refused.value) and "newer bluegreen" in str(refused.value)


def test_observe_is_compare_and_set(store):
    assert store.observe("router", "ok:blue") == (True, None)
    assert store.observe("router", "ok:blue") == (False, "ok:blue")
    assert store.observe("router", "ok:green") == (True, "ok:blue")
    assert store.observe("router", None) == (True, "ok:green")
    assert store.observe("router", "ok:blue") == (True, None)
