"""What every handler needs: config, the pipeline (built on first use), the Slack
client, the worker pool, and a little memory of this process."""
from __future__ import annotations

import threading
from typing import Any, Callable, Mapping, Protocol

from deploy_core.config import Config


class Jobs(Protocol):
    def submit(self, fn: Callable[..., Any], *args: Any) -> bool: ...

    def wait_idle(self, timeout: float = 60.0) -> bool: ...


class Context:
    def __init__(self, config: Config, env: Mapping[str, str], client: Any, jobs: Jobs,
                 pipeline: Any = None, *, progress_interval: float = 1.0) -> None:
        self.config = config
        self.env = dict(env)
        self.client = client
        self.jobs = jobs
        self.progress_interval = progress_interval
        self.own_switches: set[int] = set()      # switches this process made and announced
        self.topic: str | None = None            # the last topic this process set
        self._pipeline = pipeline
        self._lock = threading.Lock()
        self._claims: dict[str, str] = {}
        self._acted: set[str] = set()            # ts of messages whose button was acted on
        self._switching = 0

    def switching(self, delta: int) -> None:
        """Count this process's promotes and rollbacks in flight (see Watcher.tick)."""
        with self._lock:
            self._switching += delta

    @property
    def switching_now(self) -> bool:
        return self._switching > 0

    @property
    def pipeline(self) -> Any:
        """Built on first use, so a bot that only refuses requests needs no database."""
        with self._lock:
            if self._pipeline is None:
                from deploy_core.pipeline import Pipeline
                self._pipeline = Pipeline.from_config(self.config, self.env)
            return self._pipeline

    @property
    def channel(self) -> str | None:
        return self.config.slack.channel

    @property
    def app_name(self) -> str:
        return self.config.app.name

    def may_act(self, user_id: str) -> bool:
        return user_id in self.config.slack.deployers

    def in_place(self, channel_id: str) -> bool:
        return not self.channel or channel_id == self.channel

    def claim(self, key: str, who: str) -> str | None:
        """Take ``key`` for ``who``; return the holder when someone already has it."""
        with self._lock:
            holder = self._claims.get(key)
            if holder is None:
                self._claims[key] = who
            return holder

    def release(self, key: str) -> None:
        with self._lock:
            self._claims.pop(key, None)

    def mark_acted(self, message_ts: str) -> None:
        with self._lock:
            self._acted.add(message_ts)

    def acted_on(self, message_ts: str) -> bool:
        with self._lock:
            return message_ts in self._acted
