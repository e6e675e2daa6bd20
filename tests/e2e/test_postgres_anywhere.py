"""The tests' own Postgres (tests/support/postgres.py): when no server nearby is usable they
start a throwaway cluster, use it and remove it. Runs on every machine, whatever server
it has: the fallback chain is pointed at addresses where nothing usable answers."""
from __future__ import annotations

import os
import socket

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.support import postgres
from tests.support.postgres import Cluster, PostgresUnavailable, find_server, usable


def answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def nothing_there(tmp_path) -> list[str]:
    """A TCP port and a socket directory where no server answers."""
    return [f"postgresql://postgres@127.0.0.1:{postgres.free_port()}/test",
            f"postgresql://postgres@/test?host={tmp_path}"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    url, started = find_server(nothing_there(tmp_path_factory.mktemp("no-socket")))
    assert started is not None and url == started.admin_url
    yield started
    started.stop()


def test_with_no_usable_server_the_tests_start_their_own_cluster(cluster, capsys):
    assert answers(cluster.port)
    assert cluster.started_s < 30
    with capsys.disabled():
        print(f"\n  throwaway cluster started in {cluster.started_s:.2f} s")
    name = "bluegreen_anywhere"
    with psycopg.connect(cluster.admin_url, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            url = make_url(cluster.admin_url).set(database=name).render_as_string(hide_password=False)
            with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
                conn.execute("CREATE TABLE t (x int)")
                conn.execute("INSERT INTO t VALUES (42)")
                assert conn.execute("SELECT x FROM t").fetchone() == (42,)
                assert conn.execute("SHOW fsync").fetchone() == ("off",)
        finally:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    # its own socket too, in its own directory
    assert usable(f"postgresql://postgres@/test?host={cluster.root}&port={cluster.port}") is None
    if os.geteuid() == 0:                  # initdb refuses root: it runs as postgres
        assert cluster.user == "postgres" and cluster.data.stat().st_uid != 0


def test_a_server_that_refuses_the_login_or_lacks_the_database_is_not_usable(cluster):
    # what a fresh Debian cluster looks like to the tests: a login it refuses, no `test` database
    base = make_url(cluster.admin_url)
    assert "does not exist" in usable(base.set(username="nobody_here").render_as_string())
    assert "does not exist" in usable(base.set(database="no_such_db").render_as_string())
    with psycopg.connect(cluster.admin_url, autocommit=True, connect_timeout=3) as admin:
        admin.execute("CREATE ROLE plain LOGIN")
    plain = base.set(username="plain").render_as_string()
    assert usable(plain) == "the role cannot create databases"
    url, started = find_server([plain, cluster.admin_url])     # the first usable one wins
    assert (url, started) == (cluster.admin_url, None)


def test_stopping_the_cluster_removes_it(tmp_path):
    url, started = find_server(nothing_there(tmp_path))
    assert started is not None and answers(started.port)
    started.stop()
    started.stop()                                           # twice is fine
    assert not answers(started.port)
    assert not started.root.exists()
    assert usable(url) is not None


def test_without_initdb_the_failure_says_what_each_server_answered(tmp_path, monkeypatch):
    monkeypatch.setattr(postgres, "bindir", lambda: None)
    with pytest.raises(PostgresUnavailable) as failed:
        find_server(nothing_there(tmp_path))
    text = str(failed.value)
    assert "Connection refused" in text and "No such file or directory" in text, text
    assert "install the `postgresql` package" in text
