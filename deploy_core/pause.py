"""A test seam: hold an operation at a named stage until the test says go.

``Pause.from_env(env)`` reads ``BLUEGREEN_PAUSE_AT`` (stages, comma-separated) and
``BLUEGREEN_PAUSE_DIR``; without them it does nothing. At a listed stage it writes
``STAGE.reached`` and waits (at most two minutes, or until cancelled) for ``STAGE.go``.

Stages: ``KIND:locked`` (lock taken, nothing recorded yet), ``deploy:steps``,
``deploy:health``, ``deploy:smoke``, ``promote:switch``/``rollback:switch`` (switch
recorded, router not called yet), ``promote:verify``/``rollback:verify``.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path

LONGEST_S = 120.0


class Pause:
    def __init__(self, stages: frozenset[str] = frozenset(), folder: Path = Path("."),
                 cancelled: threading.Event | None = None) -> None:
        self.stages = stages
        self.folder = folder
        self.cancelled = cancelled or threading.Event()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Pause:
        stages = frozenset(s for s in env.get("BLUEGREEN_PAUSE_AT", "").split(",") if s)
        return cls(stages, Path(env.get("BLUEGREEN_PAUSE_DIR", ".")))

    def __call__(self, stage: str) -> None:
        if stage not in self.stages:
            return
        (self.folder / f"{stage}.reached").write_text(str(os.getpid()))
        deadline = time.monotonic() + LONGEST_S
        while not (self.folder / f"{stage}.go").exists() and time.monotonic() < deadline \
                and not self.cancelled.is_set():
            time.sleep(0.02)
