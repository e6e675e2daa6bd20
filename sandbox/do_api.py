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
dropped is recorded with status 0. The knobs and the HTTP side: do_faults.py; the
answers' shapes: do_shapes.py.
"""
from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

from .do_faults import Fault, FaultKnobs, Handler, HTTPServer
from .do_shapes import ALL_SCOPES, LOCKED, Action, error, now, parse_id, region
from .forwarder import Forwarder


class DOStandIn(FaultKnobs):
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
        self.actions: dict[int, Action] = {}
        self.forwarders: list[Forwarder] = []
        self._faults: list[Fault] = []
        self._limits: list[tuple[str, re.Pattern[str], int]] = []
        self._next_action = 1_900_000_001
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server = HTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._server.standin = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- setup and console (the fault knobs: do_faults.py) ----------------------------
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
                "locked": False, "status": "active", "created_at": now(), "tags": [],
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

    def reset(self, assigned: dict[str, int | None] | None = None,
              targets: dict[int, tuple[str, int]] | None = None) -> None:
        """A known state between tests: no faults, limits or knobs, requests forgotten,
        nothing pending (a leftover in-progress action errors rather than moving an IP
        later); then droplets pointed at ``targets`` and reserved IPs ``assigned``."""
        with self._lock:
            self._faults.clear()
            self._limits.clear()
            self.requests.clear()
            self.action_stuck = self.fail_action = False
            for action in self.actions.values():
                if action.status == "in-progress":
                    action.status = "errored"
            self.targets.update(targets or {})
            for ip, droplet in (assigned or {}).items():
                self.assign_now(ip, droplet)

    def target_of(self, ip: str) -> tuple[str, int] | None:
        with self._lock:
            self._advance()
            droplet_id = self.assigned.get(ip)
            return self.targets.get(droplet_id) if droplet_id is not None else None


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
            action.completed_at = now()
            if self.fail_action:
                action.status = "errored"
                continue
            action.status = "completed"
            self.assigned[action.ip] = action.droplet_id

    def _pending(self, ip: str) -> Action | None:
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
                action = self.actions.get(parse_id(rest[3]))
                if action is not None and action.ip == ip:
                    return 200, {"action": action.json()}
            return error(404)
        if method == "GET" and len(rest) == 2 and rest[0] == "actions":
            action = self.actions.get(parse_id(rest[1]))
            return (200, {"action": action.json()}) if action else error(404)
        if method == "GET" and len(rest) == 2 and rest[0] == "droplets":
            droplet = self.droplets.get(parse_id(rest[1]))
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
        action = Action(self._next_action, ip, f"{kind}_ip",
                         droplet_id if kind == "assign" else None,
                         due=time.monotonic() + self.action_delay_s)
        self._next_action += 1
        self.actions[action.id] = action
        return 201, {"action": action.json()}
