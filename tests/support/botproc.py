"""The bot in HTTP mode on the fleet (tests/support/fleet.py): its bluegreen.toml, the
environment a replica runs with, and a hard kill of a replica's whole process group.

The bot process itself is ``tests.bot.support.BotServer`` (gunicorn on 127.0.0.1, one
worker, its own session so master and worker share one process group)."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import psycopg
from psycopg.rows import dict_row

from .fleet import Fleet

CHANNEL = "C0DEPLOYS"


def write_config(fleet: Fleet, router: str, path: Path, deployers: Iterable[str]) -> Path:
    """The fleet's bluegreen.toml for ``router`` plus a [slack] section; the watcher only
    looks at start (recovery), so nothing but the test's commands speaks in the channel."""
    listed = ", ".join(f'"{user}"' for user in deployers)
    slack = (f'\n[slack]\nchannel = "{CHANNEL}"\ndeployers = [{listed}]\n'
             "watch_interval_s = 600\n")
    path.write_text(fleet.config_path(router).read_text(encoding="utf-8") + slack,
                    encoding="utf-8")
    return path


def bot_env(fleet: Fleet, router: str, config: Path, slack_env: Mapping[str, str],
            **extra: str) -> dict[str, str]:
    """A replica's environment: the fleet's Postgres schema and DigitalOcean stand-in (read
    now: ``fleet.reset()`` makes a new schema), the Slack stand-in, ``config``."""
    return {**fleet.env(router), **slack_env, "BLUEGREEN_CONFIG": str(config), **extra}


def stored(database_url: str) -> dict[str, Any]:
    """The state rows as Postgres holds them, read past bluegreen (whose own reading treats
    a lock of a dead process as free): the operation lock row and every deployment."""
    plain = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, connect_timeout=5, row_factory=dict_row) as conn:
        lock = conn.execute("SELECT owner, kind, holder, reason, pid, deployment_id FROM locks "
                            "WHERE name = 'operation'").fetchone()
        deploys = conn.execute("SELECT id, status, actor, error FROM deployments "
                               "ORDER BY id").fetchall()
    return {"lock": lock, "deployments": deploys}


def group_members(pgid: int) -> set[int]:
    """Live (not zombie) processes in process group ``pgid``, read from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue                     # gone meanwhile
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            found.add(int(entry.name))
    return found


def kill_group(proc: subprocess.Popen, timeout: float = 10.0) -> set[int]:
    """SIGKILL gunicorn's master and every worker at once (their process group, which is the
    master's pid: BotServer starts it in a new session); wait until none is left.
    Return the pids that were killed."""
    pgid = os.getpgid(proc.pid)
    assert pgid == proc.pid, "the bot must run in its own process group"
    members = group_members(pgid)
    os.killpg(pgid, signal.SIGKILL)
    proc.wait(timeout)
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() > deadline:
            raise AssertionError(f"still alive after SIGKILL: {sorted(group_members(pgid))}")
        time.sleep(0.02)
    return members
