"""The mapped tables as Core ``Table`` objects, for compare-and-set updates and plain reads."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import cast

from sqlalchemy import Table

from .models import ColourRow, DeploymentRow, LockRow, ObservationRow, StepRow, SwitchRow

deployments = cast(Table, DeploymentRow.__table__)
steps = cast(Table, StepRow.__table__)
switches = cast(Table, SwitchRow.__table__)
colours = cast(Table, ColourRow.__table__)
locks = cast(Table, LockRow.__table__)
observations = cast(Table, ObservationRow.__table__)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
