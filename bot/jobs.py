"""Our own bounded worker pool: the ack never waits for a deploy.

Bolt's listener threads only parse, ack and submit here. At most ``workers`` jobs
run at once and at most ``backlog`` more wait; beyond that ``submit`` says no and
the person is told the bot is busy, instead of Slack timing out.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

log = logging.getLogger(__name__)


class Jobs:
    def __init__(self, workers: int = 8, backlog: int = 200) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bluegreen-job")
        self._slots = threading.BoundedSemaphore(workers + backlog)
        self._idle = threading.Condition()
        self._active = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> bool:
        if not self._slots.acquire(blocking=False):
            return False
        with self._idle:
            self._active += 1
        try:
            self._pool.submit(self._run, fn, args)
        except RuntimeError:          # shut down
            self._done()
            return False
        return True

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - handlers report to people; this is the last net
            log.exception("a job failed")
        finally:
            self._done()

    def _done(self) -> None:
        self._slots.release()
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until no job runs or waits (for the demo and tests)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
