"""Postgres for tests: a fresh database per session (``pg_url``), an empty schema per test
(``pg_fresh_url``, which points ``search_path`` at it: creating a schema takes milliseconds,
a database a few hundred).

Uses the server at 127.0.0.1:5432 (user postgres, trust auth) or the admin URL in
``$BLUEGREEN_TEST_POSTGRES``. An unreachable server FAILS the tests that need it: a
skipped Postgres test would hide exactly the multi-replica behaviour it exists to prove.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _admin_url() -> str:
    return os.environ.get("BLUEGREEN_TEST_POSTGRES", ADMIN_URL)


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(_admin_url(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {_admin_url()}: {exc}", pytrace=False)


def create_database(prefix: str = "bluegreen_test") -> tuple[str, str]:
    """Create an empty database; return (name, ``postgresql+psycopg://`` URL)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(_admin_url()).set(drivername="postgresql+psycopg", database=name)
    return name, url.render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    with _admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                      .format(sql.Identifier(name)))


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
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema_url(pg_url, schema)
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
