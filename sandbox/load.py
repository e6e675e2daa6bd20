"""A bounded background load through the public address, counting failures.

Each request opens a new connection. Failed = connection error, reset, no
answer within the timeout, or a non-2xx status; an answer from either colour
is fine. Used by the demo and the cutover benchmark.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import requests


@dataclass
class LoadResult:
    sent: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    answers: list[tuple[float, str]] = field(default_factory=list)   # (time, body) of each success
    errors: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Load:
    """``workers`` threads, each sending one request at a time until ``stop()`` or a bound."""

    def __init__(self, url: str, *, workers: int = 2, interval: float = 0.01,
                 timeout: float = 5.0, max_requests: int = 50_000, max_seconds: float = 600.0) -> None:
        self.url = url
        self.workers = workers
        self.interval = interval
        self.timeout = timeout
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> "Load":
        self._deadline = time.monotonic() + self.max_seconds
        for i in range(self.workers):
            t = threading.Thread(target=self._run, name=f"load-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _claim(self) -> bool:
        with self._lock:
            if self._stop.is_set() or self.result.sent >= self.max_requests \
                    or time.monotonic() >= self._deadline:
                return False
            self.result.sent += 1
            return True

    def _run(self) -> None:
        while self._claim():
            t0 = time.monotonic()
            error = None
            body = ""
            try:
                resp = requests.get(self.url, timeout=self.timeout, headers={"Connection": "close"})
                body = resp.text.strip()
                if not 200 <= resp.status_code < 300:
                    error = f"HTTP {resp.status_code}"
            except requests.RequestException as exc:
                error = type(exc).__name__
            elapsed = time.monotonic() - t0
            with self._lock:
                if error:
                    self.result.failed += 1
                    if len(self.result.errors) < 20:
                        self.result.errors.append(error)
                else:
                    self.result.latencies.append(elapsed)
                    self.result.answers.append((time.time(), body[:80]))
            self._stop.wait(self.interval)

    def stop(self) -> LoadResult:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.timeout + 1)
        return self.result

    def __enter__(self) -> "Load":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
