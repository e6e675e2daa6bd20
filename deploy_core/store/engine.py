"""Connecting to the state database and bringing its schema to the latest migration."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from .errors import StoreError

SCRIPT_LOCATION = "deploy_core.store:migrations"
# pg_advisory_xact_lock key serialising migrations of processes opening one database at once.
MIGRATION_LOCK_KEY = 0x626C7565  # "blue"
STATEMENT_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> URL:
    """Parse a SQLAlchemy URL; ``postgres://`` and ``postgresql://`` go through psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):     # ValueError: e.g. a port that is not a number
        raise StoreError(f"not a database URL: {_redact_text(url)}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redacted(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _redact_text(url: str) -> str:
    """Best effort for a string that would not parse: drop anything between ':' and '@'."""
    head, sep, tail = url.rpartition("@")
    if not sep:
        return url
    scheme, _, creds = head.partition("://")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}"


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = 10
        # a server that stops answering must not hang a query forever: bound statements
        # and notice a dead connection through TCP keepalives (about 25 s)
        options = url.query.get("options", "")
        if isinstance(options, tuple):
            options = " ".join(options)
        if "statement_timeout" not in options:
            connect_args["options"] = f"{options} -c statement_timeout={STATEMENT_TIMEOUT_MS}".strip()
        connect_args.update(keepalives=1, keepalives_idle=10, keepalives_interval=5,
                            keepalives_count=3)
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    engine = create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        poolclass=StaticPool if memory else None,
    )

    # pysqlite's own transaction handling skips BEGIN for SELECT and DDL; take it over so
    # every transaction (migrations and lock compare-and-set included) is one BEGIN IMMEDIATE:
    # writers queue on SQLite's file lock (up to ``timeout``) instead of interleaving.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def upgrade(engine: Engine) -> None:
    """``alembic upgrade head`` on ``engine``, in one transaction, one process at a time."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
        except CommandError as exc:     # typically: the database is at a revision we lack
            raise StoreError(f"state database {redacted(engine.url)}: cannot migrate: {exc} "
                             "(is it used by a newer bluegreen?)") from None


@contextmanager
def translated(url: URL, doing: str) -> Iterator[None]:
    """Turn SQLAlchemy's errors into ``StoreError`` naming the database without its password."""
    try:
        yield
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason = detail[0] if detail else type(exc).__name__
        if url.password:
            reason = reason.replace(str(url.password), "***")
        raise StoreError(f"state database {redacted(url)}: {doing} failed: {reason}",
                         url=redacted(url)) from None


class Database:
    """An engine plus the URL to name in errors; ``transaction`` is where every query runs."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.engine = make_engine(url)

    @contextmanager
    def transaction(self, doing: str) -> Iterator[Connection]:
        with translated(self.url, doing), self.engine.begin() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
