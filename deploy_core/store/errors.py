"""Errors of the state store (re-exported by ``deploy_core.store``)."""
from __future__ import annotations

from ..errors import BluegreenError


class StoreError(BluegreenError):
    """The state database could not be reached or used. The message never shows a password."""


class LockLost(BluegreenError):
    """Our operation lock was taken over (our lease had expired): stop what we are doing."""
