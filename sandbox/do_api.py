"""A stateful stand-in for the DigitalOcean API's reserved IP endpoints, over real HTTP.

It answers with the real API's shapes and status codes (DigitalOcean's OpenAPI
description), refuses what it does not know (unknown path: 404, unknown action type:
422), and moves a reserved IP only when its action completes, ``action_delay_s`` after
the POST; while one is in progress the IP is ``locked`` and another action gets 422.
Tokens carry scopes (``add_token``): a missing one is 403 ``forbidden``, and without
``droplet:read`` a reserved IP is shown without its ``droplet``. A reserved IP given a
``listen`` address is a local TCP ``Forwarder`` that follows the assignment.
Fault knobs (``fail_next``, ``hang_next``, ``action_stuck``, ``fail_action``) let
tests play a flaky API; a 429 from ``fail_next`` is the burst limit's (with
``retry_after``) or the hourly limit's (only ``ratelimit-reset``), and
``use_up_rate_limit`` answers the hourly limit's 429 until its reset time. ``requests`` records (method, path, status) answered; a hung request that was
dropped is recorded with status 0.
"""
from __future__ import annotations

import ipaddress
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .forwarder import Forwarder

REGIONS = {"nyc3": "New York 3", "ams3": "Amsterdam 3"}
ERROR_TEXT = {
    400: ("bad_request", "The request could not be understood."),
    401: ("unauthorized", "Unable to authenticate you."),
    403: ("forbidden", "You do not have permission to perform this action."),
    404: ("not_found", "The resource you requested could not be found."),
    422: ("unprocessable_entity", "request payload validation failed"),
    429: ("too_many_requests", "API rate limit exceeded."),
    500: ("server_error", "Unexpected server-side error"),
}
LOCKED = "The reserved IP is locked by an action in progress; try again when it completes."
ALL_SCOPES = frozenset({"reserved_ip:read", "reserved_ip:update", "droplet:read",
                        "actions:read", "project:read"})


def region(slug: str) -> dict[str, Any]:
    return {"name": REGIONS.get(slug, slug), "slug": slug, "available": True,
            "features": ["private_networking", "metadata"], "sizes": ["s-1vcpu-1gb"]}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _HTTPServer(ThreadingHTTPServer):
    """A threaded server that takes bursts of connections (the default backlog is 5)."""
    request_queue_size = 128
    daemon_threads = True


@dataclass
class _Fault:
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


@dataclass
class _Action:
    id: int
    ip: str
    type: str                 # assign_ip | unassign_ip
    droplet_id: int | None
    due: float
    status: str = "in-progress"
    started_at: str = field(default_factory=_now)
    completed_at: str | None = None

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "type": self.type,
                "started_at": self.started_at, "completed_at": self.completed_at,
                "resource_id": int(ipaddress.ip_address(self.ip)), "resource_type": "reserved_ip",
                "region": region("nyc3"), "region_slug": "nyc3"}


class DOStandIn:
    """Droplets, reserved IPs and their actions, served on ``url``."""

    def __init__(self, token: str, host: str = "127.0.0.1", port: int = 0,
                 action_delay_s: float = 0.3) -> None:
        self.token = token
        self.tokens: dict[str, frozenset[str]] = {token: ALL_SCOPES}
        self.action_delay_s = action_delay_s
        self.action_stuck = False
        self.fail_action = False
        self.requests: list[tuple[str, str, int]] = []
        self.droplets: dict[int, dict[str, Any]] = {}
        self.targets: dict[int, tuple[str, int]] = {}
        self.assigned: dict[str, int | None] = {}
        self.regions: dict[str, str] = {}
        self.actions: dict[int, _Action] = {}
        self.forwarders: list[Forwarder] = []
        self._faults: list[_Fault] = []
        self._limits: list[tuple[str, re.Pattern[str], int]] = []
        self._next_action = 1_900_000_001
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server = _HTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.standin = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- setup, console, faults -------------------------------------------------------
    def add_token(self, token: str, scopes: set[str] | frozenset[str]) -> None:
        """Another token that the API accepts, with only ``scopes`` (e.g. ``reserved_ip:read``)."""
        with self._lock:
            self.tokens[token] = frozenset(scopes)

    def add_droplet(self, droplet_id: int, name: str, target: tuple[str, int],
                    region_slug: str = "nyc3") -> None:
        with self._lock:
            self.targets[droplet_id] = target
            self.droplets[droplet_id] = {
                "id": droplet_id, "name": name, "memory": 1024, "vcpus": 1, "disk": 25,
                "locked": False, "status": "active", "created_at": _now(), "tags": [],
                "region": region(region_slug), "features": [], "backup_ids": [], "snapshot_ids": [],
                "networks": {"v4": [{"ip_address": target[0], "netmask": "255.255.255.0",
                                     "gateway": "", "type": "public"}], "v6": []}}

    def add_reserved_ip(self, ip: str, listen: tuple[str, int] | None,
                        droplet_id: int | None, region_slug: str = "nyc3") -> None:
        with self._lock:
            self.assigned[ip] = droplet_id
            self.regions[ip] = region_slug
        if listen is not None:
            forwarder = Forwarder(listen, lambda: self.target_of(ip))
            self.forwarders.append(forwarder)
            if self._thread is not None:
                forwarder.start()

    def assign_now(self, ip: str, droplet_id: int | None) -> None:
        """A change made in the DigitalOcean console: immediate, outside bluegreen."""
        with self._lock:
            if ip not in self.assigned:
                raise KeyError(ip)
            self.assigned[ip] = droplet_id

    def target_of(self, ip: str) -> tuple[str, int] | None:
        with self._lock:
            self._advance()
            droplet_id = self.assigned.get(ip)
            return self.targets.get(droplet_id) if droplet_id is not None else None

    def fail_next(self, method: str, path_regex: str, status: int, count: int = 1,
                  retry_after: float | None = None, body: Any = None,
                  take_effect: bool = False, reset_in: float | None = None) -> None:
        """Answer the next ``count`` matching requests with ``status``; with ``take_effect``
        the request is carried out first (a 500 that hides a success). A 429 says
        ``ratelimit-remaining: 0`` and ``ratelimit-reset`` ``reset_in`` seconds on (default
        an hour); only ``retry_after`` adds ``Retry-After``, as the burst limit does."""
        with self._lock:
            self._faults.append(_Fault(method.upper(), re.compile(path_regex), count, status,
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
            self._faults.append(_Fault(method.upper(), re.compile(path_regex), count,
                                       hang_s=seconds, take_effect=take_effect))

    def start(self) -> DOStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                         daemon=True, name="do-standin")
        self._thread.start()
        try:
            for forwarder in self.forwarders:
                forwarder.start()
        except OSError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stopping.set()
        for forwarder in self.forwarders:
            forwarder.stop()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=2)
        self._server.server_close()

    def __enter__(self) -> DOStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API ------------------------------------------------------------------------
    def _advance(self) -> None:
        """Complete the actions whose time has come (lazily, on every look)."""
        for action in self.actions.values():
            if action.status != "in-progress" or action.due > time.monotonic() \
                    or self.action_stuck:
                continue
            action.completed_at = _now()
            if self.fail_action:
                action.status = "errored"
                continue
            action.status = "completed"
            self.assigned[action.ip] = action.droplet_id

    def _pending(self, ip: str) -> _Action | None:
        return next((a for a in self.actions.values()
                     if a.ip == ip and a.status == "in-progress"), None)

    def _reserved_ip(self, ip: str, scopes: frozenset[str]) -> dict[str, Any]:
        """As the API shows it: ``droplet`` needs droplet:read, ``project_id`` project:read."""
        droplet_id = self.assigned[ip]
        shown: dict[str, Any] = {"ip": ip, "region": region(self.regions.get(ip, "nyc3")),
                                 "locked": self._pending(ip) is not None}
        if "droplet:read" in scopes:
            shown["droplet"] = self.droplets.get(droplet_id) if droplet_id is not None else None
        if "project:read" in scopes:
            shown["project_id"] = "4e4f1a6b-0000-4000-8000-000000000001"
        return shown

    def handle(self, method: str, path: str, body: bytes, token: str | None) -> tuple[int, Any]:
        with self._lock:
            scopes = self.tokens.get(token or "")
            if scopes is None:
                return error(401)
            self._advance()
            return self._route(method, path, body, scopes)

    def _route(self, method: str, path: str, body: bytes,
               scopes: frozenset[str]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "v2":
            return error(404)
        rest = parts[1:]
        needed = {"reserved_ips": "reserved_ip:update" if method == "POST" else "reserved_ip:read",
                  "droplets": "droplet:read", "actions": "actions:read"}.get(rest[0])
        if needed is not None and needed not in scopes:
            return error(403)
        if method == "GET" and rest == ["reserved_ips"]:
            ips = [self._reserved_ip(ip, scopes) for ip in self.assigned]
            return 200, {"reserved_ips": ips, "links": {}, "meta": {"total": len(ips)}}
        if rest[0] == "reserved_ips" and len(rest) >= 2:
            ip = rest[1]
            if ip not in self.assigned:
                return error(404)
            if method == "GET" and len(rest) == 2:
                return 200, {"reserved_ip": self._reserved_ip(ip, scopes)}
            if len(rest) == 3 and rest[2] == "actions":
                if method == "POST":
                    return self._post_action(ip, body)
                if method == "GET":
                    listed = [a.json() for a in self.actions.values() if a.ip == ip]
                    return 200, {"actions": listed, "links": {}, "meta": {"total": len(listed)}}
            if method == "GET" and len(rest) == 4 and rest[2] == "actions":
                action = self.actions.get(_int(rest[3]))
                if action is not None and action.ip == ip:
                    return 200, {"action": action.json()}
            return error(404)
        if method == "GET" and len(rest) == 2 and rest[0] == "actions":
            action = self.actions.get(_int(rest[1]))
            return (200, {"action": action.json()}) if action else error(404)
        if method == "GET" and len(rest) == 2 and rest[0] == "droplets":
            droplet = self.droplets.get(_int(rest[1]))
            return (200, {"droplet": droplet}) if droplet else error(404)
        return error(404)

    def _post_action(self, ip: str, body: bytes) -> tuple[int, Any]:
        try:
            request = json.loads(body or b"null")
        except ValueError:
            return error(400, "The request body is not valid JSON.")
        if not isinstance(request, dict):
            return error(400, "The request body must be a JSON object.")
        kind = request.get("type")
        if kind not in ("assign", "unassign"):
            return error(422, f"Unknown action type {kind!r}: must be assign or unassign.")
        droplet_id = request.get("droplet_id")
        if kind == "assign":
            if not isinstance(droplet_id, int) or isinstance(droplet_id, bool):
                return error(422, "droplet_id is required and must be an integer.")
            if droplet_id not in self.droplets:
                return error(404)
        if self._pending(ip) is not None:
            return error(422, LOCKED)
        if kind == "assign" and self.droplets[droplet_id]["region"]["slug"] != self.regions[ip]:
            return error(422, f"The Droplet is in {self.droplets[droplet_id]['region']['slug']} "
                              f"and the reserved IP in {self.regions[ip]}: they must be in the "
                              "same region.")
        action = _Action(self._next_action, ip, f"{kind}_ip",
                         droplet_id if kind == "assign" else None,
                         due=time.monotonic() + self.action_delay_s)
        self._next_action += 1
        self.actions[action.id] = action
        return 201, {"action": action.json()}

    def limited_until(self, method: str, path: str) -> int | None:
        with self._lock:
            self._limits = [limit for limit in self._limits if limit[2] > time.time()]
            return max((reset for m, path_regex, reset in self._limits
                        if m in ("", method) and path_regex.search(path)), default=None)

    def take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and fault.count > 0 and fault.path.search(path):
                    fault.count -= 1
                    return fault
        return None


def error(status: int, message: str | None = None) -> tuple[int, dict[str, str]]:
    ident, text = ERROR_TEXT.get(status, ("server_error" if status >= 500 else "error",
                                          "Server was unable to give you a response."))
    return status, {"id": ident, "message": message or text,
                    "request_id": "b2b5a2f3-0000-4000-8000-00000000feed"}


def _int(text: str) -> int:
    return int(text) if text.isdigit() else -1


class _Handler(BaseHTTPRequestHandler):
    server_version = "cloudflare"   # what api.digitalocean.com says it is

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _any(self) -> None:
        standin: DOStandIn = self.server.standin  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reset = standin.limited_until(self.command, path)
        fault = standin.take_fault(self.command, path) if reset is None else \
            _Fault(self.command, re.compile(""), 1, 429, reset_at=reset)
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
