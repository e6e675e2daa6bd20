"""The DigitalOcean stand-in's fault knobs, and its HTTP side, which plays them before a
request reaches the API: an error status (429 with the rate-limit headers the real API
sends), a silence, or the hourly limit used up."""
from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .do_shapes import error


class HTTPServer(ThreadingHTTPServer):
    """A threaded server that takes bursts of connections (the default backlog is 5)."""
    request_queue_size = 128
    daemon_threads = True


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    count: int
    status: int = 0
    retry_after: float | None = None
    body: Any = None
    hang_s: float = 0.0
    take_effect: bool = False
    reset_in: float | None = None
    reset_at: int | None = None


class FaultKnobs:
    """Mixed into DOStandIn, whose lock, fault list and limits they use."""
    _lock: threading.RLock
    _faults: list[Fault]
    _limits: list[tuple[str, re.Pattern[str], int]]

    def fail_next(self, method: str, path_regex: str, status: int, count: int = 1,
                  retry_after: float | None = None, body: Any = None,
                  take_effect: bool = False, reset_in: float | None = None) -> None:
        """Answer the next ``count`` matching requests with ``status``; with ``take_effect``
        the request is carried out first (a 500 that hides a success). A 429 says
        ``ratelimit-remaining: 0`` and ``ratelimit-reset`` ``reset_in`` seconds on (default
        an hour); only ``retry_after`` adds ``Retry-After``, as the burst limit does."""
        with self._lock:
            self._faults.append(Fault(method.upper(), re.compile(path_regex), count, status,
                                      retry_after, body, take_effect=take_effect,
                                      reset_in=reset_in))

    def use_up_rate_limit(self, seconds: float, method: str = "", path_regex: str = "") -> int:
        """The hourly limit is used up: matching requests (default all) get 429 without
        Retry-After, ``ratelimit-remaining: 0``, until ``ratelimit-reset`` (returned: epoch
        seconds, ``seconds`` from now rounded up), as the real API answers."""
        reset = math.ceil(time.time() + seconds)
        with self._lock:
            self._limits.append((method.upper(), re.compile(path_regex), reset))
        return reset

    def hang_next(self, method: str, path_regex: str, seconds: float, count: int = 1,
                  take_effect: bool = False) -> None:
        """Hold the next matching requests ``seconds`` and drop them unanswered; with
        ``take_effect`` the request is carried out before the silence."""
        with self._lock:
            self._faults.append(Fault(method.upper(), re.compile(path_regex), count,
                                      hang_s=seconds, take_effect=take_effect))

    def limited_until(self, method: str, path: str) -> int | None:
        with self._lock:
            self._limits = [limit for limit in self._limits if limit[2] > time.time()]
            return max((reset for m, path_regex, reset in self._limits
                        if m in ("", method) and path_regex.search(path)), default=None)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and fault.count > 0 and fault.path.search(path):
                    fault.count -= 1
                    return fault
        return None


class Handler(BaseHTTPRequestHandler):
    """A request meets the fault knobs first, then ``DOStandIn.handle``."""
    server_version = "cloudflare"   # what api.digitalocean.com says it is

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _any(self) -> None:
        standin = self.server.standin  # type: ignore[attr-defined]  # a DOStandIn
        path = self.path.split("?", 1)[0]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reset = standin.limited_until(self.command, path)
        fault = standin.take_fault(self.command, path) if reset is None else \
            Fault(self.command, re.compile(""), 1, 429, reset_at=reset)
        auth = self.headers.get("Authorization") or ""
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        effect: tuple[int, Any] | None = None
        if fault is None or fault.take_effect:
            effect = standin.handle(self.command, path, body, token)
        if fault is not None and fault.hang_s:
            standin.requests.append((self.command, path, 0))
            standin._stopping.wait(fault.hang_s)
            self.close_connection = True
            return
        headers: dict[str, str] = {}
        if fault is not None:
            status, payload = fault.status, fault.body or error(fault.status)[1]
            if status == 429:
                reset_in = 3600.0 if fault.reset_in is None else fault.reset_in
                headers["ratelimit-remaining"] = "0"
                headers["ratelimit-reset"] = str(fault.reset_at or math.ceil(time.time() + reset_in))
            if fault.retry_after is not None:
                headers["retry-after"] = f"{fault.retry_after:g}"
        else:
            assert effect is not None
            status, payload = effect
        standin.requests.append((self.command, path, status))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in {"ratelimit-limit": "5000", "ratelimit-remaining": "4999",
                            "ratelimit-reset": str(int(time.time()) + 60), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any
