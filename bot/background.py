"""One background thread per bot process: recovery at start, then every
``slack.watch_interval_s`` a look at the router and at forgotten holds."""
from __future__ import annotations

import logging
import threading

from handlers import Watcher

log = logging.getLogger(__name__)


class Background:
    def __init__(self, watcher: Watcher, interval: float) -> None:
        self.watcher = watcher
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bluegreen-watch", daemon=True)

    def start(self) -> "Background":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        self._safely(self.watcher.start)
        while not self._stop.wait(self.interval):
            self._safely(self.watcher.tick)

    def _safely(self, step) -> None:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - keep watching; say what went wrong in the log
            log.warning("background check failed: %s: %s", type(exc).__name__, exc)
