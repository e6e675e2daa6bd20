"""``Store``: the bot's state behind plain methods returning frozen dataclasses."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..errors import LockInfo
from .engine import Database, normalise_url, translated, upgrade
from .locks import Locks, OperationLease
from .records import (ColourState, Deployment, HistoryItem, Interrupted, StepRecord, Switch,
                      bound_output)
from .tables import colours, deployments, observations, steps, switches, utcnow

DEPLOYMENT_ENDS = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
SWITCH_KINDS = frozenset({"promote", "rollback"})
SWITCH_ENDS = frozenset({"succeeded", "failed", "interrupted"})


def _check(value: str, allowed: frozenset[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {sorted(allowed)}, not {value!r}")


class Store:
    """The bot's state in SQLite (default) or Postgres; the schema is migrated on open."""

    def __init__(self, url: str = "sqlite:///bluegreen.db", *, output_limit: int = 64_000) -> None:
        self.output_limit = output_limit
        self._db = Database(normalise_url(url))
        try:
            with translated(self._db.url, "migrating"):
                upgrade(self._db.engine)
        except BaseException:
            self._db.dispose()
            raise
        self._locks = Locks(self._db)

    def close(self) -> None:
        self._db.dispose()

    def observe(self, name: str, value: str | None) -> tuple[bool, str | None]:
        """Compare-and-set ``name`` to ``value``: (True, previous) for the one caller that
        changed it, (False, current) when it already was ``value`` or another caller won."""
        table = observations
        with self._db.transaction("recording an observation") as conn:
            row = conn.execute(select(table.c.value).where(table.c.name == name)).one_or_none()
            if row is None:
                upsert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
                inserted = conn.execute(upsert(table).values(
                    name=name, value=value, updated_at=utcnow()).on_conflict_do_nothing()
                    .returning(table.c.name)).first()
                return (inserted is not None, None)
            if row.value == value:
                return (False, row.value)
            same = table.c.value.is_(None) if row.value is None else table.c.value == row.value
            changed = conn.execute(update(table).where(table.c.name == name, same)
                                   .values(value=value, updated_at=utcnow())).rowcount
            return (changed == 1, row.value)

    def observation(self, name: str) -> str | None:
        """The value last set for ``name`` with ``observe``, or None."""
        table = observations
        with self._db.transaction("reading an observation") as conn:
            return conn.execute(select(table.c.value).where(table.c.name == name)).scalar()

    def ping(self) -> None:
        with self._db.transaction("ping") as conn:
            conn.execute(text("SELECT 1"))

    # -- helpers ----------------------------------------------------------------------------
    def _update(self, table: Table, row_id: int, doing: str, **values: Any) -> None:
        with self._db.transaction(doing) as conn:
            if conn.execute(update(table).where(table.c.id == row_id)
                            .values(**values)).rowcount != 1:
                raise KeyError(f"no {table.name[:-1]} with id {row_id}")

    def _one(self, table: Table, row_id: int, doing: str) -> dict[str, Any] | None:
        with self._db.transaction(doing) as conn:
            row = conn.execute(select(table).where(table.c.id == row_id)).one_or_none()
        return dict(row._mapping) if row is not None else None

    # -- deployments ------------------------------------------------------------------------
    def create_deployment(self, colour: str, ref: str, actor: str,
                          replaces_sha: str | None) -> int:
        with self._db.transaction("recording a deployment") as conn:
            return int(conn.execute(insert(deployments).values(
                colour=colour, ref=ref, actor=actor, replaces_sha=replaces_sha,
                status="running", promotable=False, started_at=utcnow(),
            ).returning(deployments.c.id)).scalar_one())

    def set_deployment_sha(self, deployment_id: int, sha: str) -> None:
        self._update(deployments, deployment_id, "recording the sha", sha=sha)

    def record_step(self, deployment_id: int, host: str, name: str, command: str,
                    exit_status: int | None, output: str, started_at: datetime,
                    finished_at: datetime) -> None:
        with self._db.transaction("recording a step") as conn:
            conn.execute(insert(steps).values(
                deployment_id=deployment_id, host=host, name=name, command=command,
                exit_status=exit_status, output=bound_output(output, self.output_limit),
                started_at=started_at, finished_at=finished_at))

    def finish_deployment(self, deployment_id: int, status: str, *, error: str | None = None,
                          smoke_ok: bool | None = None, promotable: bool = False) -> None:
        _check(status, DEPLOYMENT_ENDS, "deployment status")
        self._update(deployments, deployment_id, "finishing a deployment", status=status,
                     error=error, smoke_ok=smoke_ok, promotable=promotable,
                     finished_at=utcnow())

    def set_promotable(self, deployment_id: int, promotable: bool,
                       note: str | None = None) -> None:
        self._update(deployments, deployment_id, "marking promotable",
                     promotable=promotable, promotable_note=note)

    def request_cancel(self, deployment_id: int, actor: str) -> None:
        self._update(deployments, deployment_id, "requesting cancel", cancel_requested_by=actor)

    def cancel_requested(self, deployment_id: int) -> bool:
        found = self.deployment(deployment_id)
        return found is not None and found.cancel_requested_by is not None

    def deployment(self, deployment_id: int) -> Deployment | None:
        row = self._one(deployments, deployment_id, "reading a deployment")
        return Deployment(**row) if row is not None else None

    def latest_deployment(self, colour: str | None = None) -> Deployment | None:
        query = select(deployments).order_by(deployments.c.id.desc()).limit(1)
        if colour is not None:
            query = query.where(deployments.c.colour == colour)
        return self._first_deployment(query)

    def running_deployment(self) -> Deployment | None:
        return self._first_deployment(select(deployments).where(deployments.c.status == "running")
                                      .order_by(deployments.c.id.desc()).limit(1))

    def _first_deployment(self, query: Any) -> Deployment | None:
        with self._db.transaction("reading deployments") as conn:
            row = conn.execute(query).first()
        return Deployment(**row._mapping) if row is not None else None

    def steps(self, deployment_id: int) -> list[StepRecord]:
        with self._db.transaction("reading steps") as conn:
            rows = conn.execute(select(steps).where(steps.c.deployment_id == deployment_id)
                                .order_by(steps.c.started_at, steps.c.id)).all()
        return [StepRecord(**r._mapping) for r in rows]

    # -- what each colour runs --------------------------------------------------------------
    def colour_state(self, colour: str) -> ColourState | None:
        with self._db.transaction("reading a colour") as conn:
            row = conn.execute(select(colours).where(colours.c.colour == colour)).one_or_none()
        return ColourState(**row._mapping) if row is not None else None

    def set_colour(self, colour: str, sha: str | None, deployment_id: int | None) -> None:
        values = {"sha": sha, "deployment_id": deployment_id, "updated_at": utcnow()}
        with self._db.transaction("recording a colour") as conn:
            upsert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = upsert(colours).values(colour=colour, **values)
            conn.execute(statement.on_conflict_do_update(index_elements=[colours.c.colour],
                                                         set_=values))

    # -- switches ---------------------------------------------------------------------------
    def create_switch(self, kind: str, from_colour: str | None, to_colour: str,
                      from_sha: str | None, to_sha: str | None, actor: str,
                      forced: bool = False) -> int:
        _check(kind, SWITCH_KINDS, "switch kind")
        with self._db.transaction("recording a switch") as conn:
            return int(conn.execute(insert(switches).values(
                kind=kind, from_colour=from_colour, to_colour=to_colour, from_sha=from_sha,
                to_sha=to_sha, actor=actor, forced=forced, status="running", verified=False,
                started_at=utcnow(),
            ).returning(switches.c.id)).scalar_one())

    def finish_switch(self, switch_id: int, status: str, *, verified: bool,
                      error: str | None = None) -> None:
        _check(status, SWITCH_ENDS, "switch status")
        self._update(switches, switch_id, "finishing a switch", status=status,
                     verified=verified, error=error, finished_at=utcnow())

    def switch(self, switch_id: int) -> Switch | None:
        row = self._one(switches, switch_id, "reading a switch")
        return Switch(**row) if row is not None else None

    def last_switch(self) -> Switch | None:
        with self._db.transaction("reading switches") as conn:
            row = conn.execute(select(switches).where(switches.c.status == "succeeded")
                               .order_by(switches.c.id.desc()).limit(1)).first()
        return Switch(**row._mapping) if row is not None else None

    # -- history ----------------------------------------------------------------------------
    def history(self, limit: int = 20) -> list[HistoryItem]:
        """Deployments and switches merged, newest first."""
        with self._db.transaction("reading history") as conn:
            deploys = conn.execute(select(deployments).order_by(deployments.c.id.desc())
                                   .limit(limit)).all()
            moves = conn.execute(select(switches).order_by(switches.c.id.desc())
                                 .limit(limit)).all()
        items = [_deploy_item(d) for d in deploys] + [_switch_item(s) for s in moves]
        items.sort(key=lambda i: (i.started_at, i.kind != "deploy", i.id), reverse=True)
        return items[:limit]

    # -- locks ------------------------------------------------------------------------------
    def acquire_operation(self, kind: str, holder: str, lease_s: float, *,
                          reason: str | None = None) -> OperationLease:
        """Recover a dead owner's lock, then take the operation lock or raise LockHeld."""
        recovered = self.recover()
        token = self._locks.acquire(kind, holder, lease_s, reason)
        return OperationLease(self._locks, token, kind, holder, lease_s, recovered)

    def hold(self, holder: str, reason: str) -> LockInfo:
        return self._locks.hold(holder, reason)

    def release_hold(self) -> LockInfo | None:
        return self._locks.release_hold()

    def current_lock(self) -> LockInfo | None:
        return self._locks.current()

    def recover(self) -> list[Interrupted]:
        return self._locks.recover()


def _deploy_item(row: Any) -> HistoryItem:
    return HistoryItem(kind="deploy", id=row.id, colour=row.colour, ref=row.ref, sha=row.sha,
                       actor=row.actor, status=row.status, started_at=row.started_at,
                       finished_at=row.finished_at, error=row.error)


def _switch_item(row: Any) -> HistoryItem:
    return HistoryItem(kind=row.kind, id=row.id, colour=row.to_colour, ref=None,
                       sha=row.to_sha, actor=row.actor, status=row.status,
                       started_at=row.started_at, finished_at=row.finished_at,
                       error=row.error, from_colour=row.from_colour)
