"""Switch traffic by moving a DigitalOcean reserved IP between the colours' droplets (pydo).

The assign is never blindly resent: when its outcome is unknown (5xx, timeout, broken
connection) or it is refused with 422, the reserved IP is read first (``locked``, the
droplet it points at) and the POST is repeated only if that state shows it did not take
effect and may still. What a 422 means is decided from that state, never from its words.
A 429 was not carried out: it waits ``Retry-After`` (the burst limit) or, without one,
until ``ratelimit-reset`` (the hourly limit), and fails at once, naming when the limit
resets, when that is beyond ``router.action_timeout_s``. Reads retry on 429, 5xx and
connection trouble within bounds (do_client.py: the client, its reads and waits).

Token scopes (DigitalOcean's OpenAPI description): ``reserved_ip:read`` to read the IP
and its actions, ``reserved_ip:update`` to assign, ``droplet:read`` to see where the IP
points — without it the IP looks unassigned, so that case is proven, not believed.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from azure.core.exceptions import AzureError, HttpResponseError

from ..config import Config
from ..errors import ActionTimeout, Deadline, RouterAuthError, RouterError
from ..poll import wait_until
from . import RouterState
from .do_client import DEFAULT_API_URL, DOClient, Missing, body_problem, one_line, problem_of

ASSIGN_SENDS = 3           # POSTs per switch, each one only after reading the state


class DigitalOceanRouter:
    """The live colour is the one whose ``droplet_id`` holds ``router.reserved_ip``."""

    def __init__(self, config: Config, env: Mapping[str, str],
                 on_event: Callable[[str], None] | None = None) -> None:
        router = config.router
        if not router.reserved_ip:
            raise RouterError("router.reserved_ip is not set")
        token = env.get("DIGITALOCEAN_TOKEN")
        if not token:
            raise RouterAuthError("DIGITALOCEAN_TOKEN is not set")
        self._config = config
        self._ip = router.reserved_ip
        self._endpoint = (env.get("DIGITALOCEAN_API_URL") or DEFAULT_API_URL).rstrip("/")
        self._say = on_event or (lambda text: None)
        self._do = DOClient(token, self._endpoint, router, self._say)
        self._droplets_readable = False    # proven once the token was seen reading a droplet

    def describe(self) -> str:
        where = "" if self._endpoint == DEFAULT_API_URL else f" at {self._endpoint}"
        return f"reserved IP {self._ip} via DigitalOcean API{where}"

    def read(self) -> RouterState:
        droplet = self._reserved_ip().get("droplet") or None
        if droplet is None:
            return RouterState(None, "unassigned", f"reserved IP {self._ip} points at no droplet")
        for colour in self._config.colours.values():
            if colour.droplet_id == droplet.get("id"):
                return RouterState(colour.name, "ok", f"reserved IP {self._ip} is on {colour.name} "
                                   f"(droplet {droplet.get('id')} {droplet.get('name', '')})")
        known = ", ".join(f"{c.name} {c.droplet_id}" for c in self._config.colours.values())
        return RouterState(None, "foreign", f"reserved IP {self._ip} points at droplet "
                           f"{droplet.get('id')} ({droplet.get('name', '?')}), neither colour ({known})")

    def check_access(self) -> str:
        """For `bluegreen check`: prove the token reads the reserved IP and each colour's
        droplet; raise RouterAuthError naming a missing scope, RouterError naming a droplet
        that does not exist. The assign's own scope is proven only by a switch."""
        self._reserved_ip()
        seen: list[str] = []
        missing: list[str] = []
        for colour in self._config.colours.values():
            if colour.droplet_id is None:
                continue
            droplet = self._droplet(colour.droplet_id)
            if droplet is None:
                missing.append(f"{colour.droplet_id} (colours.{colour.name}.droplet_id)")
            else:
                seen.append(f"{colour.name} {colour.droplet_id} ({droplet.get('name', '?')})")
        if missing:
            raise RouterError(f"droplet {', '.join(missing)} does not exist in this DigitalOcean "
                              "account (the token reads droplets, and found no such id)",
                              missing=missing)
        return (f"token reads reserved IP {self._ip} and droplets {', '.join(seen)}; "
                "its reserved_ip:update scope is proven only by a switch")

    def switch(self, colour: str) -> None:
        target = self._config.colours[colour].droplet_id if colour in self._config.colours else None
        if target is None:
            raise RouterError(f"colours.{colour}.droplet_id is not set")
        state = self._reserved_ip()
        if _droplet_id(state) == target and not state.get("locked"):
            self._say(f"reserved IP {self._ip} is already on {colour} (droplet {target})")
            return
        action = self._send_assign(target, state)
        if action is not None:
            self._say(f"assign action {action['id']} started: reserved IP {self._ip} "
                      f"to droplet {target} ({colour})")
            self._wait_action(action["id"], colour)
        now = self.read()
        if now.live != colour:
            raise RouterError(f"the assign finished but {now.detail}")
        self._say(f"reserved IP {self._ip} is on {colour} (droplet {target})")

    # -- the assign, never blindly repeated --------------------------------------------------
    def _send_assign(self, droplet_id: int, before: dict[str, Any]) -> dict[str, Any] | None:
        """POST the assign; return its action, or None when reading shows it already took
        effect. ``before`` is the reserved IP as read just before the first POST."""
        body = {"type": "assign", "droplet_id": droplet_id}
        started = time.monotonic()
        for _ in range(ASSIGN_SENDS):
            try:
                answer = self._do.api.reserved_ips_actions.post(self._ip, body)
            except HttpResponseError as exc:
                self._do.refuse_auth(exc, "the assign", "reserved_ip:update")
                status, problem = exc.status_code or 0, problem_of(exc)
                if status == 429:     # refused before it was carried out: sending again is safe
                    delay = self._do.rate_limit_wait(exc, "the assign", problem,
                                                     spent=time.monotonic() - started)
                    self._say(f"the assign was rate limited ({problem}): retrying in {delay:.3g}s")
                    time.sleep(delay)
                    continue
                if status == 422:
                    self._say(f"the assign was refused ({problem}): reading the reserved IP "
                              "to see why")
                    now, waited = self._settle()
                    if _droplet_id(now) == droplet_id:
                        self._say(f"reserved IP {self._ip} already on droplet {droplet_id}: "
                                  "not resending")
                        return None
                    if not (waited or before.get("locked") or _droplet_id(now) != _droplet_id(before)):
                        raise RouterError(
                            f"DigitalOcean refused the assign of reserved IP {self._ip} to droplet "
                            f"{droplet_id}: {problem} (no action is in progress on the IP, which "
                            f"{_points_at(now)})", status=status) from exc
                    before = now      # another action moved or held the IP: ours may go now
                    continue
                if 400 <= status < 500:
                    raise RouterError(f"DigitalOcean refused the assign: {problem}") from exc
                self._say(f"the assign answered {problem}: reading the reserved IP "
                          "before deciding whether to send it again")
            except (AzureError, ValueError) as exc:   # no answer, or one we could not read
                self._say(f"the assign got no usable answer ({one_line(exc)}): reading the reserved "
                          "IP before deciding whether to send it again")
            else:
                if isinstance(answer, dict) and "action" in answer:
                    return answer["action"]
                raise RouterError(f"DigitalOcean refused the assign: {body_problem(answer)} (does "
                                  f"droplet {droplet_id} exist in this account?)")
            before, _ = self._settle()
            if _droplet_id(before) == droplet_id:
                self._say(f"reserved IP {self._ip} already on droplet {droplet_id}: not resending")
                return None
        raise RouterError(f"the assign of reserved IP {self._ip} to droplet {droplet_id} did "
                          f"not take effect after {ASSIGN_SENDS} attempts")

    def _settle(self) -> tuple[dict[str, Any], bool]:
        """Read the reserved IP; if an action is pending on it (``locked``), wait for that to
        end. Return the state and whether there was one to wait for."""
        state = self._reserved_ip()
        if not state.get("locked"):
            return state, False
        listed = self._do.get("listing actions", "actions", "reserved_ip:read",
                              self._do.api.reserved_ips_actions.list, self._ip)
        pending = [str(a.get("id")) for a in listed if a.get("status") == "in-progress"]
        self._say(f"action {', '.join(pending) or '?'} in progress on reserved IP {self._ip}: waiting")

        def unlocked() -> dict[str, Any] | None:
            now = self._reserved_ip()
            return None if now.get("locked") else now
        try:
            return self._poll(unlocked, f"pending action on {self._ip}"), True
        except Deadline:
            raise ActionTimeout(f"action {', '.join(pending) or '?'} on reserved IP {self._ip} still "
                                f"in progress after {self._config.router.action_timeout_s:g}s; "
                                "the IP may still move") from None

    def _wait_action(self, action_id: int, colour: str) -> None:
        def finished() -> dict[str, Any] | None:
            action = self._do.get(f"reading action {action_id}", "action", "reserved_ip:read",
                                  self._do.api.reserved_ips_actions.get, self._ip, action_id)
            return action if action.get("status") in ("completed", "errored") else None
        try:
            action = self._poll(finished, f"action {action_id}")
        except Deadline:
            raise ActionTimeout(f"assign action {action_id} did not complete within "
                                f"{self._config.router.action_timeout_s:g}s; the reserved IP "
                                f"{self._ip} may still move to {colour}") from None
        if action["status"] == "errored":
            raise RouterError(f"DigitalOcean reports assign action {action_id} errored; "
                              f"now: {self.read().detail}")

    def _poll(self, attempt: Callable[[], dict[str, Any] | None], what: str) -> dict[str, Any]:
        router = self._config.router
        return wait_until(attempt, timeout=router.action_timeout_s, what=what,
                          interval=router.action_interval_s,
                          max_interval=max(router.action_interval_s, 2.0))

    # -- reads (retried within bounds by DOClient.get) ----------------------------------------
    def _reserved_ip(self) -> dict[str, Any]:
        """The reserved IP; when it shows no droplet, first prove the token could have seen
        one (a token without droplet:read gets the IP without its droplet)."""
        state = self._do.get(f"reading reserved IP {self._ip}", "reserved_ip", "reserved_ip:read",
                             self._do.api.reserved_ips.get, self._ip,
                             missing=f"reserved IP {self._ip} does not exist in this DigitalOcean account")
        if state.get("droplet"):
            self._droplets_readable = True
        elif not self._droplets_readable:
            probe = next((c.droplet_id for c in self._config.colours.values()
                          if c.droplet_id is not None), None)
            if probe is not None:
                try:
                    self._droplet(probe, why=f"; without it reserved IP {self._ip} looks unassigned")
                except RouterAuthError:
                    raise
                except RouterError:      # not a question of scope: believe the IP this time
                    pass
        return state

    def _droplet(self, droplet_id: int, why: str = "") -> dict[str, Any] | None:
        """GET /v2/droplets/{id}: the droplet, or None when it does not exist."""
        try:
            droplet = self._do.get(f"reading droplet {droplet_id}", "droplet", "droplet:read",
                                   self._do.api.droplets.get, droplet_id, missing="", why=why)
        except Missing:
            droplet = None
        self._droplets_readable = True     # a 404 too: only a token that may read droplets gets one
        return droplet


def _droplet_id(reserved_ip: Mapping[str, Any]) -> int | None:
    return (reserved_ip.get("droplet") or {}).get("id")


def _points_at(reserved_ip: Mapping[str, Any]) -> str:
    droplet = reserved_ip.get("droplet") or None
    if droplet is None:
        return "points at no droplet"
    return f"points at droplet {droplet.get('id')} ({droplet.get('name', '?')})"
