"""The parts a runbook works with, handed to it by the pipeline (never the pipeline itself)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .pause import Pause
from .routers import Router
from .transports import Transport
from .web import HTTP


@dataclass(frozen=True)
class Parts:
    config: Config
    store: Any                   # deploy_core.store.Store (typed loosely: tests give fakes)
    transport: Transport
    router: Router
    http: HTTP
    pause: Pause = field(default_factory=Pause)
    env: Mapping[str, str] = field(default_factory=dict)
