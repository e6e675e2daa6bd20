"""The bot's state: deployments, steps, switches, what each colour runs, and the locks.

SQLite by default, Postgres through a URL; Alembic migrations run on open. Everything
returned is a frozen dataclass — callers never see ORM objects or SQL.
"""
from __future__ import annotations

from .errors import LockLost, StoreError
from .locks import OperationLease
from .records import ColourState, Deployment, HistoryItem, Interrupted, StepRecord, Switch
from .store import Store

__all__ = ["ColourState", "Deployment", "HistoryItem", "Interrupted", "LockLost",
           "OperationLease", "StepRecord", "Store", "StoreError", "Switch"]
