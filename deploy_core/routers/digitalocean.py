"""Switch traffic by moving a DigitalOcean reserved IP between the colours' droplets (pydo).

The assign is never blindly resent: when its outcome is unknown (5xx, timeout, broken
connection) or it is refused with 422, the reserved IP is read first (``locked``, the
droplet it points at) and the POST is repeated only if that state shows it did not take
effect and may still. What a 422 means is decided from that state, never from its words.
A 429 was not carried out: it waits ``Retry-After`` (the burst limit) or, without one,
until ``ratelimit-reset`` (the hourly limit), and fails at once, naming when the limit
resets, when that is beyond ``router.action_timeout_s``. Reads retry on 429, 5xx and
connection trouble within bounds. azure-core's own retries are off.

Token scopes (DigitalOcean's OpenAPI description): ``reserved_ip:read`` to read the IP
and its actions, ``reserved_ip:update`` to assign, ``droplet:read`` to see where the IP
points — without it the IP looks unassigned, so that case is proven, not believed.
"""
from __future__ import annotations

import ipaddress
import math
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import pydo
from azure.core.exceptions import (AzureError, HttpResponseError, ServiceRequestError,
                                   ServiceResponseError)
from azure.core.pipeline.policies import SansIOHTTPPolicy

from ..config import Config
from ..errors import ActionTimeout, Deadline, RouterAuthError, RouterError
from ..poll import wait_until
from . import RouterState

DEFAULT_API_URL = "https://api.digitalocean.com"
READ_ATTEMPTS = 4          # per read, including the first
READ_BUDGET_S = 30.0       # total time a read may spend waiting between attempts (429: action_timeout_s)
ASSIGN_SENDS = 3           # POSTs per switch, each one only after reading the state
RESET_SLACK_S = 0.5        # ask again this long after ratelimit-reset: our clock is not theirs
_CONNECTION = (ServiceRequestError, ServiceResponseError)
_NO_ANSWER = object()


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
        self._client = _client(token, self._endpoint, router.api_timeout_s)
        self._say = on_event or (lambda text: None)
        self._droplets_readable = False    # proven once the token was seen reading a droplet
        self._token_accepted = False       # after that, a 401 means a missing scope

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
                answer = self._client.reserved_ips_actions.post(self._ip, body)
            except HttpResponseError as exc:
                _refuse_auth(exc, "the assign", "reserved_ip:update", "", self._token_accepted)
                status, problem = exc.status_code or 0, _problem(exc)
                if status == 429:     # refused before it was carried out: sending again is safe
                    delay = self._rate_limit_wait(exc, "the assign", problem,
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
                self._say(f"the assign got no usable answer ({_short(exc)}): reading the reserved "
                          "IP before deciding whether to send it again")
            else:
                if isinstance(answer, dict) and "action" in answer:
                    return answer["action"]
                raise RouterError(f"DigitalOcean refused the assign: {_body_problem(answer)} (does "
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
        listed = self._get("listing actions", "actions", "reserved_ip:read",
                           self._client.reserved_ips_actions.list, self._ip)
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
            action = self._get(f"reading action {action_id}", "action", "reserved_ip:read",
                               self._client.reserved_ips_actions.get, self._ip, action_id)
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

    # -- reads, retried within bounds --------------------------------------------------------
    def _reserved_ip(self) -> dict[str, Any]:
        """The reserved IP; when it shows no droplet, first prove the token could have seen
        one (a token without droplet:read gets the IP without its droplet)."""
        state = self._get(f"reading reserved IP {self._ip}", "reserved_ip", "reserved_ip:read",
                          self._client.reserved_ips.get, self._ip,
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
            droplet = self._get(f"reading droplet {droplet_id}", "droplet", "droplet:read",
                                self._client.droplets.get, droplet_id, missing="", why=why)
        except _Missing:
            droplet = None
        self._droplets_readable = True     # a 404 too: only a token that may read droplets gets one
        return droplet

    def _get(self, what: str, key: str, scope: str, call: Callable[..., Any], *args: Any,
             missing: str | None = None, why: str = "") -> Any:
        """``call`` and return ``answer[key]``. A 404 raises RouterError(``missing``), or
        _Missing when ``missing`` is empty; 401/403 raise RouterAuthError naming ``scope``."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            delay: float | None = None
            cause: Exception
            budget = READ_BUDGET_S
            answer: Any = _NO_ANSWER
            try:
                answer = call(*args)
            except HttpResponseError as exc:
                _refuse_auth(exc, what, scope, why, self._token_accepted)
                status, problem, cause = exc.status_code or 0, _problem(exc), exc
                if status == 404 and missing is not None:   # a 404 pydo raises instead of returning
                    answer = _body(exc)
                elif status == 429:
                    delay = self._rate_limit_wait(exc, what, problem, spent=time.monotonic() - started)
                    budget = max(budget, self._config.router.action_timeout_s)
                elif not 500 <= status < 600:
                    raise RouterError(f"DigitalOcean refused {what}: {problem}") from exc
            except _CONNECTION as exc:
                problem, cause = _short(exc), exc
            except (AzureError, ValueError) as exc:
                raise RouterError(f"DigitalOcean API {what}: unreadable answer ({_short(exc)})") from exc
            if answer is not _NO_ANSWER:
                self._token_accepted = True
                if isinstance(answer, dict) and key in answer:
                    return answer[key]
                if missing is not None and _body_id(answer) == "not_found":
                    if not missing:
                        raise _Missing()
                    raise RouterError(f"{missing} ({_body_problem(answer)})")
                raise RouterError(f"DigitalOcean answered {what} with {_body_problem(answer)}")
            delay = min(0.25 * 2 ** (attempt - 1), 4.0) if delay is None else delay
            spent = time.monotonic() - started
            if attempt >= READ_ATTEMPTS or spent + delay > budget:
                raise RouterError(f"DigitalOcean API failed {what} {attempt} time(s) in "
                                  f"{spent:.1f}s: {problem}") from cause
            self._say(f"{what}: {problem}; retrying in {delay:.3g}s")
            time.sleep(delay)

    def _rate_limit_wait(self, exc: HttpResponseError, what: str, problem: str,
                         spent: float = 0.0) -> float:
        """Seconds to wait after a 429: its Retry-After (the burst limit), else until its
        ratelimit-reset (the hourly limit). RouterError at once when that is beyond
        ``router.action_timeout_s`` (less ``spent``)."""
        budget = self._config.router.action_timeout_s - spent
        retry_after = _retry_after(exc)
        if retry_after is not None:
            if retry_after > budget:
                raise RouterError(f"DigitalOcean rate limits {what} ({problem}): retry after "
                                  f"{retry_after:g}s, beyond router.action_timeout_s "
                                  f"({self._config.router.action_timeout_s:g}s)",
                                  retry_after_s=retry_after) from exc
            return retry_after
        reset = _ratelimit_reset(exc)
        if reset is None:
            return 1.0
        delay = max(0.0, reset - time.time()) + RESET_SLACK_S
        if delay > budget:
            when = datetime.fromtimestamp(reset, timezone.utc)
            raise RouterError(f"DigitalOcean's rate limit for this token is used up ({problem}, "
                              f"ratelimit-remaining 0): {what} can be retried when it resets at "
                              f"{when:%Y-%m-%d %H:%M:%S} UTC, in {delay:.0f}s, beyond "
                              f"router.action_timeout_s ({self._config.router.action_timeout_s:g}s)",
                              resets_at=when.isoformat()) from exc
        return delay


class _Missing(Exception):
    """A 404 the caller turns into its own answer."""


class _PlainBearer(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Bearer auth without azure-core's https check: used only for a loopback endpoint."""

    def __init__(self, token: str) -> None:
        self._token = token

    def on_request(self, request: Any) -> None:
        request.http_request.headers["Authorization"] = f"Bearer {self._token}"


def _client(token: str, endpoint: str, timeout: float) -> pydo.Client:
    parts = urlsplit(endpoint)
    options: dict[str, Any] = {}
    if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
        options["authentication_policy"] = _PlainBearer(token)
    elif parts.scheme != "https" or not parts.hostname:
        raise RouterError(f"DIGITALOCEAN_API_URL must be an https:// URL (plain http only for "
                          f"loopback), not {parts.scheme}://{parts.hostname or ''}")
    return pydo.Client(token=token, endpoint=endpoint, retry_total=0,
                       connection_timeout=timeout, read_timeout=timeout, **options)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_auth(exc: HttpResponseError, what: str, scope: str, why: str = "",
                 token_accepted: bool = False) -> None:
    """401 or 403 as RouterAuthError; a 403, or a 401 for a token accepted a moment ago,
    names the scope ``what`` needs."""
    if exc.status_code == 401 and not token_accepted:
        raise RouterAuthError("DigitalOcean refused the token (401): check DIGITALOCEAN_TOKEN") from None
    if exc.status_code == 401:
        raise RouterAuthError(f"DigitalOcean refused the token (401) for {what}, having accepted "
                              f"it just before: check DIGITALOCEAN_TOKEN; it lacks the {scope} "
                              f"scope{why}, or was revoked", scope=scope) from None
    if exc.status_code == 403:
        raise RouterAuthError(f"DigitalOcean refused {what} ({_problem(exc)}): DIGITALOCEAN_TOKEN "
                              f"lacks the {scope} scope{why}", scope=scope) from None


def _droplet_id(reserved_ip: Mapping[str, Any]) -> int | None:
    return (reserved_ip.get("droplet") or {}).get("id")


def _points_at(reserved_ip: Mapping[str, Any]) -> str:
    droplet = reserved_ip.get("droplet") or None
    if droplet is None:
        return "points at no droplet"
    return f"points at droplet {droplet.get('id')} ({droplet.get('name', '?')})"


def _body(exc: HttpResponseError) -> Any:
    try:
        return getattr(exc.response, "json", lambda: None)()
    except Exception:
        return None


def _problem(exc: HttpResponseError) -> str:
    return f"{exc.status_code} {_body_problem(_body(exc))}"


def _body_id(body: Any) -> str | None:
    return body.get("id") if isinstance(body, dict) else None


def _body_problem(body: Any) -> str:
    if isinstance(body, dict) and body.get("message"):
        return f"{body.get('id', 'error')}: {body['message']}"
    return "an unexpected answer"


def _header(exc: HttpResponseError, name: str) -> str | None:
    headers = getattr(exc.response, "headers", None) or {}
    return headers.get(name)


def _retry_after(exc: HttpResponseError) -> float | None:
    value = _header(exc, "Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _ratelimit_reset(exc: HttpResponseError) -> float | None:
    """``ratelimit-reset``: when the oldest counted request expires, in epoch seconds."""
    try:
        value = float(_header(exc, "ratelimit-reset") or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"
