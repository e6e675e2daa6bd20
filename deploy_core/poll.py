"""One polling helper for health, action completion and switch verification."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

from .errors import Deadline

T = TypeVar("T")


def wait_until(attempt: Callable[[], T | None], *, timeout: float, interval: float = 0.2,
               max_interval: float = 2.0, what: str = "condition",
               sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``attempt`` until it returns something other than None, sleeping a growing
    interval between tries; raise ``Deadline`` when ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        result = attempt()
        if result is not None:
            return result
        left = deadline - time.monotonic()
        if left <= 0:
            raise Deadline(f"gave up waiting for {what} after {timeout:g}s")
        sleep(min(delay, left))
        delay = min(delay * 1.5, max_interval)
