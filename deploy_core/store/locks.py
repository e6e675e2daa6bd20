"""The operation lock (a renewed lease) and the hold, as compare-and-set on seeded rows.

Every change is one ``UPDATE locks … WHERE name = … AND owner …`` whose rowcount says who
won, so two processes or two replicas sharing one Postgres can never both take a lock.
"""
from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, exists, select, update

from ..errors import LockHeld, LockInfo
from .engine import Database
from .errors import LockLost, StoreError
from .records import Interrupted
from .tables import deployments, locks, switches, utcnow

OPERATION, HOLD = "operation", "hold"
LEASE_EXPIRED = "its lease expired"
_CLEARED: dict[str, Any] = {
    "owner": None, "kind": None, "holder": None, "reason": None, "since": None,
    "lease_until": None, "hostname": None, "pid": None, "deployment_id": None, "switch_id": None}


def pid_alive(pid: int) -> bool:
    """Whether a process of this machine exists (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _info(row: Row[Any], kind: str) -> LockInfo:
    return LockInfo(kind=kind, holder=row.holder or "?", reason=row.reason or row.kind or "",
                    since=row.since)


def _read(conn: Connection, name: str) -> Row[Any]:
    return conn.execute(select(locks).where(locks.c.name == name)).one()


class Locks:
    """The lock rows of one database, as seen from this process."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.hostname = socket.gethostname()

    # -- the hold ---------------------------------------------------------------------------
    def hold(self, holder: str, reason: str) -> LockInfo:
        values = {"owner": uuid.uuid4().hex, "kind": HOLD, "holder": holder, "reason": reason,
                  "since": utcnow(), "hostname": self.hostname, "pid": os.getpid()}
        return _info(self._take(HOLD, values, "taking the hold"), HOLD)

    def _take(self, name: str, values: dict[str, Any], doing: str) -> Row[Any]:
        """Compare-and-set lock ``name`` from free to ``values``; return the row we wrote,
        or raise LockHeld naming whoever has it."""
        for _ in range(3):       # retried only if the lock was freed between our two queries
            with self.db.transaction(doing) as conn:
                if name == OPERATION:
                    hold = _read(conn, HOLD)
                    if hold.owner is not None:
                        raise LockHeld.of(_info(hold, HOLD))
                won = conn.execute(update(locks)
                                   .where(locks.c.name == name, locks.c.owner.is_(None))
                                   .values(**values)).rowcount == 1
                current = _read(conn, name)
            if won:
                return current
            if current.owner is not None:
                raise LockHeld.of(_info(current, name))
        raise LockHeld.of(_info(current, name))

    def release_hold(self) -> LockInfo | None:
        with self.db.transaction("releasing the hold") as conn:
            current = _read(conn, HOLD)
            if current.owner is None:
                return None
            freed = conn.execute(
                update(locks).where(locks.c.name == HOLD, locks.c.owner == current.owner)
                .values(**_CLEARED)).rowcount == 1
        return _info(current, HOLD) if freed else None

    # -- reading ----------------------------------------------------------------------------
    def current(self) -> LockInfo | None:
        with self.db.transaction("reading the lock") as conn:
            hold, operation = _read(conn, HOLD), _read(conn, OPERATION)
        if hold.owner is not None:
            return _info(hold, HOLD)
        if operation.owner is not None and self._death(operation, utcnow()) is None:
            return _info(operation, OPERATION)
        return None

    def _death(self, row: Row[Any], now: datetime) -> str | None:
        """Why the owner of an operation lock counts as dead, or None while it lives."""
        if row.hostname == self.hostname and row.pid is not None and not pid_alive(row.pid):
            return f"process {row.pid} on {row.hostname} is gone"
        if row.lease_until is None or row.lease_until < now:
            return LEASE_EXPIRED
        return None

    # -- the operation lock -----------------------------------------------------------------
    def acquire(self, kind: str, holder: str, lease_s: float, reason: str | None) -> str:
        """Take the free operation lock; return our owner token, or raise LockHeld."""
        token, now = uuid.uuid4().hex, utcnow()
        self._take(OPERATION, {
            "owner": token, "kind": kind, "holder": holder, "reason": reason or kind,
            "since": now, "lease_until": now + timedelta(seconds=lease_s),
            "hostname": self.hostname, "pid": os.getpid(), "deployment_id": None,
            "switch_id": None}, "taking the operation lock")
        return token

    def owned_update(self, token: str, doing: str, **values: Any) -> None:
        """Update our operation lock row; LockLost when it is no longer ours."""
        with self.db.transaction(doing) as conn:
            if conn.execute(update(locks).where(locks.c.name == OPERATION,
                                                locks.c.owner == token)
                            .values(**values)).rowcount == 1:
                return
            current = _read(conn, OPERATION)
        if current.owner is None:
            raise LockLost("the operation lock is no longer ours: it was freed "
                           "(our lease expired and another process recovered it)")
        info = _info(current, OPERATION)
        raise LockLost(f"the operation lock was taken over by {info.holder} "
                       f"({info.reason}) after our lease expired", lock=info)

    def release(self, token: str) -> None:
        with self.db.transaction("releasing the operation lock") as conn:
            conn.execute(update(locks).where(locks.c.name == OPERATION, locks.c.owner == token)
                         .values(**_CLEARED))

    # -- recovery ---------------------------------------------------------------------------
    def recover(self) -> list[Interrupted]:
        """Free an operation lock whose owner is dead and close what it left running.

        Running rows are closed only while no live operation holds the lock: a live owner
        may have created its row and not attached it yet. Never touches the hold."""
        now = utcnow()
        found: list[Interrupted] = []
        with self.db.transaction("recovering interrupted operations") as conn:
            row = _read(conn, OPERATION)
            why = self._death(row, now) if row.owner is not None else None
            if why is not None:
                found += self._free_dead(conn, row, why, now)
            no_live_owner = ~exists().where(locks.c.name == OPERATION, locks.c.owner.isnot(None))
            found += self._close_orphans(conn, no_live_owner, now)
        return found

    def _free_dead(self, conn: Connection, row: Row[Any], why: str,
                   now: datetime) -> list[Interrupted]:
        condition = and_(locks.c.name == OPERATION, locks.c.owner == row.owner)
        if why == LEASE_EXPIRED:       # a slow owner may have renewed meanwhile
            condition = and_(condition, locks.c.lease_until < now)
        if conn.execute(update(locks).where(condition).values(**_CLEARED)).rowcount != 1:
            return []
        error = f"interrupted: {row.holder}'s operation stopped ({why})"
        found = []
        if row.deployment_id is not None:
            found += _interrupt(conn, deployments, deployments.c.id == row.deployment_id,
                                error, now, holder=row.holder)
        if row.switch_id is not None:
            found += _interrupt(conn, switches, switches.c.id == row.switch_id,
                                error, now, holder=row.holder)
        if row.deployment_id is None and row.switch_id is None:   # died before attaching
            found.append(Interrupted(kind=row.kind or OPERATION, id=None, holder=row.holder,
                                     colour=None, started_at=row.since))
        return found

    def _close_orphans(self, conn: Connection, no_live_owner: Any,
                       now: datetime) -> list[Interrupted]:
        error = "interrupted: left running with no live process behind it"
        return (_interrupt(conn, deployments, no_live_owner, error, now)
                + _interrupt(conn, switches, no_live_owner, error, now))


def _interrupt(conn: Connection, table: Any, condition: Any, error: str, now: datetime,
               holder: str | None = None) -> list[Interrupted]:
    """Mark running rows of ``table`` matching ``condition`` interrupted; report each."""
    is_deploy = table is deployments
    values: dict[str, Any] = {"status": "interrupted", "finished_at": now, "error": error}
    if is_deploy:
        values["promotable"] = False
    colour = table.c.colour if is_deploy else table.c.to_colour
    kind = None if is_deploy else table.c.kind
    returning = [table.c.id, table.c.actor, colour.label("colour"), table.c.started_at]
    if kind is not None:
        returning.append(kind)
    rows = conn.execute(update(table).where(table.c.status == "running", condition)
                        .values(**values).returning(*returning)).all()
    return [Interrupted(kind="deploy" if is_deploy else r.kind, id=r.id,
                        holder=holder or r.actor, colour=r.colour, started_at=r.started_at)
            for r in rows]


class OperationLease:
    """The operation lock while we hold it. Use as a context manager: leaving releases it."""

    def __init__(self, locks_: Locks, token: str, kind: str, holder: str, lease_s: float,
                 recovered: list[Interrupted]) -> None:
        self.kind = kind
        self.holder = holder
        self.lease_s = lease_s
        self.recovered = recovered
        self.lost: LockLost | None = None     # set when the renewing thread found it gone
        self._locks = locks_
        self._token = token
        self._released = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, deployment_id: int | None = None, switch_id: int | None = None) -> None:
        """Name the deployment or switch this operation is, so recovery can close it."""
        values = {k: v for k, v in (("deployment_id", deployment_id),
                                    ("switch_id", switch_id)) if v is not None}
        if values:
            self._locks.owned_update(self._token, "attaching to the operation lock", **values)

    def renew(self) -> None:
        if self._released:
            raise LockLost("the operation lock was already released")
        until = utcnow() + timedelta(seconds=self.lease_s)
        self._locks.owned_update(self._token, "renewing the operation lock", lease_until=until)

    def start_renewing(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._renew_loop, daemon=True,
                                            name=f"bluegreen-lease-{self.kind}")
            self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.renew()
            except LockLost as exc:
                if not self._stop.is_set():
                    self.lost = exc
                return
            except StoreError:
                continue      # the database may come back before the lease runs out

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._locks.release(self._token)

    def __enter__(self) -> OperationLease:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self.release()
        except StoreError:
            if exc_type is None:
                raise         # otherwise keep the original error; the lease will expire
