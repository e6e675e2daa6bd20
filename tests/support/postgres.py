"""Postgres for tests: a fresh database per session (``pg_url``), an empty schema per test
(``pg_fresh_url``, which points ``search_path`` at it: creating a schema takes milliseconds,
a database a few hundred).

The tests use the first server that accepts a login and can create databases, trying:

1. the admin URL in ``$BLUEGREEN_TEST_POSTGRES``;
2. ``127.0.0.1:5432`` (user postgres, database test);
3. the unix socket in ``/var/run/postgresql`` (the same; the only one left inside
   ``unshare -n``);
4. a throwaway cluster of their own: the ``postgresql`` package's ``initdb``/``pg_ctl``
   (as the ``postgres`` user when the tests run as root), on a free loopback port with
   fsync off, stopped and removed when the process exits.

A freshly installed Debian cluster asks for a password and has no ``test`` database: that
is "not usable", and the tests start their own. When even that fails the tests FAIL: a
skipped Postgres test would hide exactly the multi-replica behaviour it exists to prove.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

CANDIDATES = ("postgresql://postgres@127.0.0.1:5432/test",
              "postgresql://postgres@/test?host=/var/run/postgresql")
CONNECT_TIMEOUT_S = 3


class PostgresUnavailable(RuntimeError):
    """No server to use and none could be started; the message says what each answered."""


def usable(url: str) -> str | None:
    """None when ``url`` logs in to an existing database as a role that can create
    databases; else why not, in one line."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            row = conn.execute("SELECT rolsuper OR rolcreatedb FROM pg_roles "
                               "WHERE rolname = current_user").fetchone()
    except psycopg.Error as exc:
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return None if row and row[0] else "the role cannot create databases"


# -- a cluster of our own ------------------------------------------------------------------

def bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: on PATH, else Debian's newest
    /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: [int(x) for x in Path(p).parent.parent.name.split(".") if x.isdigit()])
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Cluster:
    """A throwaway cluster: trust auth, fsync off, on 127.0.0.1:``port`` and a socket in
    ``root``, run by ``user`` (None: whoever runs the tests)."""

    root: Path
    port: int
    user: str | None
    bin: Path
    started_s: float = 0.0
    _stopped: bool = field(default=False, repr=False)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/test"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        as_user = {} if self.user is None else {"user": self.user, "group": pwd.getpwnam(self.user).pw_gid,
                                                "extra_groups": []}
        try:
            subprocess.run(argv, check=True, capture_output=True, text=True, timeout=timeout,
                           cwd=self.root, env={**os.environ, "LC_ALL": "C"}, **as_user)  # nosec B603
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
            raise PostgresUnavailable(f"{Path(argv[0]).name} failed: {' / '.join(detail)}") from None
        except subprocess.TimeoutExpired:
            raise PostgresUnavailable(f"{Path(argv[0]).name} did not finish in {timeout:.0f} s") from None

    def start(self) -> Cluster:
        t0 = time.monotonic()
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-F -p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=200 -c full_page_writes=off -c synchronous_commit=off")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                  "-o", options, "-w", "-t", "30", "start")
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres",
                             autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.execute("CREATE DATABASE test")
        self.started_s = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Stop the server and remove its files; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "-t", "20", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(attempts: int = 3) -> Cluster:
    """Start a throwaway cluster (retrying on another port if one was taken meanwhile)."""
    found = bindir()
    if found is None:
        raise PostgresUnavailable("initdb/pg_ctl not found (install the `postgresql` package: "
                                  "scripts/system-deps.sh does)")
    user = None
    if os.geteuid() == 0:                  # initdb and pg_ctl refuse to run as root
        user = "postgres"
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise PostgresUnavailable("running as root and there is no `postgres` user to run "
                                      "initdb as (the `postgresql` package creates it)") from None
    error: PostgresUnavailable | None = None
    for _ in range(attempts):
        root = Path(tempfile.mkdtemp(prefix="bluegreen-pg-"))
        if user is not None:
            os.chown(root, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        cluster = Cluster(root, free_port(), user, found)
        try:
            return cluster.start()
        except PostgresUnavailable as exc:
            error = exc
            cluster.stop()
        except BaseException:
            cluster.stop()
            raise
    assert error is not None
    raise error


# -- which server the tests use ------------------------------------------------------------

def candidates() -> list[str]:
    from_env = os.environ.get("BLUEGREEN_TEST_POSTGRES")
    return ([from_env] if from_env else []) + list(CANDIDATES)


def find_server(urls: Sequence[str]) -> tuple[str, Cluster | None]:
    """The first usable admin URL of ``urls``, else a throwaway cluster's:
    (admin URL, the cluster to stop, or None)."""
    tried = []
    for url in urls:
        why = usable(url)
        if why is None:
            return url, None
        tried.append(f"{redacted(url)}: {why}")
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        tried.append(f"a throwaway cluster: {exc}")
        raise PostgresUnavailable("no PostgreSQL for the tests.\n  " + "\n  ".join(tried)) from None
    return cluster.admin_url, cluster


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


_server: dict[str, object] = {}


def admin_url() -> str:
    """The admin URL for this process, found (or started) once; the failure is kept too."""
    if "url" not in _server and "error" not in _server:
        try:
            url, cluster = find_server(candidates())
        except PostgresUnavailable as exc:
            _server["error"] = str(exc)
        else:
            _server["url"] = url
            if cluster is not None:
                _server["cluster"] = cluster
                atexit.register(cluster.stop)
    if "error" in _server:
        pytest.fail(str(_server["error"]), pytrace=False)
    return str(_server["url"])


def _admin() -> psycopg.Connection:
    url = admin_url()
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {redacted(url)}: {exc}", pytrace=False)


def create_database(prefix: str = "bluegreen_test") -> tuple[str, str]:
    """Create an empty database; return (name, ``postgresql+psycopg://`` URL)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(admin_url()).set(drivername="postgresql+psycopg", database=name)
    return name, url.render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    with _admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                      .format(sql.Identifier(name)))


# -- reaching the server another way (fault-injection proxies) -----------------------------

def server_address(url: str) -> tuple[str, int] | str:
    """Where the server of ``url`` listens: (host, port), or the path of its unix socket."""
    u = make_url(url)
    host = u.query.get("host") or u.host or "/var/run/postgresql"
    host = host[0] if isinstance(host, tuple) else host
    port = u.port or 5432
    return f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)


def via(url: str, host: str, port: int, **changes: object) -> str:
    """``url`` reaching its server through TCP ``host:port`` (e.g. a proxy)."""
    u = make_url(url).difference_update_query(["host"])
    return u.set(host=host, port=port, **changes).render_as_string(hide_password=False)


# -- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One empty database for the whole session, dropped at the end."""
    name, url = create_database()
    try:
        yield url
    finally:
        drop_database(name)


def schema_url(database_url: str, schema: str) -> str:
    """``database_url`` with every connection's ``search_path`` set to ``schema``."""
    sep = "&" if "?" in database_url else "?"
    return f"{database_url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_fresh_url(pg_url: str) -> Iterator[str]:
    """An empty schema of the session database for one test, as a URL whose connections
    use it as their ``search_path``; dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema_url(pg_url, schema)
    finally:
        with psycopg.connect(plain, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
