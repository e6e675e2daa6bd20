"""Switch traffic by moving a DigitalOcean reserved IP between the colours' droplets (pydo).

Reads retry on 429, 5xx and connection trouble within a bounded budget, honouring
Retry-After. The assign is never blindly resent: when its outcome is unknown (5xx,
timeout, broken connection) the reserved IP is read first and the POST is repeated
only if the state shows it did not take effect. azure-core's own retries are off.
"""
from __future__ import annotations

import ipaddress
import time
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
READ_BUDGET_S = 30.0       # total time a read may spend waiting between attempts
ASSIGN_SENDS = 3           # POSTs per switch, each one only after reading the state
_CONNECTION = (ServiceRequestError, ServiceResponseError)


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

    def switch(self, colour: str) -> None:
        target = self._config.colours[colour].droplet_id if colour in self._config.colours else None
        if target is None:
            raise RouterError(f"colours.{colour}.droplet_id is not set")
        state = self._reserved_ip()
        if _droplet_id(state) == target and not state.get("locked"):
            self._say(f"reserved IP {self._ip} is already on {colour} (droplet {target})")
            return
        action = self._send_assign(target)
        if action is not None:
            self._say(f"assign action {action['id']} started: reserved IP {self._ip} "
                      f"to droplet {target} ({colour})")
            self._wait_action(action["id"], colour)
        now = self.read()
        if now.live != colour:
            raise RouterError(f"the assign finished but {now.detail}")
        self._say(f"reserved IP {self._ip} is on {colour} (droplet {target})")

    # -- the assign, never blindly repeated --------------------------------------------------
    def _send_assign(self, droplet_id: int) -> dict[str, Any] | None:
        """POST the assign; return its action, or None when reading shows it already took effect."""
        body = {"type": "assign", "droplet_id": droplet_id}
        for _ in range(ASSIGN_SENDS):
            try:
                answer = self._client.reserved_ips_actions.post(self._ip, body)
            except HttpResponseError as exc:
                _refuse_auth(exc, "the assign")
                status, problem = exc.status_code or 0, _problem(exc)
                if status == 422 and "pending" in problem.lower():
                    self._say("another action on the reserved IP is pending: waiting for it")
                elif status == 429:
                    delay = _retry_after(exc) or 1.0
                    if delay > READ_BUDGET_S:
                        raise RouterError(f"DigitalOcean rate limits the assign: {problem}, "
                                          f"retry after {delay:g}s") from exc
                    self._say(f"the assign was rate limited: retrying in {delay:g}s")
                    time.sleep(delay)
                    continue
                elif 400 <= status < 500:
                    raise RouterError(f"DigitalOcean refused the assign: {problem}") from exc
                else:
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
            if _droplet_id(self._settle()) == droplet_id:
                self._say(f"reserved IP {self._ip} already on droplet {droplet_id}: not resending")
                return None
        raise RouterError(f"the assign of reserved IP {self._ip} to droplet {droplet_id} did "
                          f"not take effect after {ASSIGN_SENDS} attempts")

    def _settle(self) -> dict[str, Any]:
        """Read the reserved IP; if an action is pending on it, wait for that to end."""
        state = self._reserved_ip()
        if not state.get("locked"):
            return state
        listed = self._get("listing actions", "actions", self._client.reserved_ips_actions.list, self._ip)
        pending = [str(a.get("id")) for a in listed if a.get("status") == "in-progress"]
        self._say(f"action {', '.join(pending) or '?'} in progress on reserved IP {self._ip}: waiting")

        def unlocked() -> dict[str, Any] | None:
            now = self._reserved_ip()
            return None if now.get("locked") else now
        try:
            return self._poll(unlocked, f"pending action on {self._ip}")
        except Deadline:
            raise ActionTimeout(f"action {', '.join(pending) or '?'} on reserved IP {self._ip} still "
                                f"in progress after {self._config.router.action_timeout_s:g}s; "
                                "the IP may still move") from None

    def _wait_action(self, action_id: int, colour: str) -> None:
        def finished() -> dict[str, Any] | None:
            action = self._get(f"reading action {action_id}", "action",
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
        return self._get(f"reading reserved IP {self._ip}", "reserved_ip",
                         self._client.reserved_ips.get, self._ip)

    def _get(self, what: str, key: str, call: Callable[..., Any], *args: Any) -> Any:
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            delay: float | None = None
            cause: Exception
            try:
                answer = call(*args)
            except HttpResponseError as exc:
                _refuse_auth(exc, what)
                if exc.status_code != 429 and not 500 <= (exc.status_code or 0) < 600:
                    raise RouterError(f"DigitalOcean refused {what}: {_problem(exc)}") from exc
                problem, delay, cause = _problem(exc), _retry_after(exc), exc
            except _CONNECTION as exc:
                problem, cause = _short(exc), exc
            except (AzureError, ValueError) as exc:
                raise RouterError(f"DigitalOcean API {what}: unreadable answer ({_short(exc)})") from exc
            else:
                if isinstance(answer, dict) and key in answer:
                    return answer[key]
                if key == "reserved_ip" and _body_id(answer) == "not_found":
                    raise RouterError(f"reserved IP {self._ip} does not exist in this DigitalOcean "
                                      f"account ({_body_problem(answer)})")
                raise RouterError(f"DigitalOcean answered {what} with {_body_problem(answer)}")
            delay = min(0.25 * 2 ** (attempt - 1), 4.0) if delay is None else delay
            spent = time.monotonic() - started
            if attempt >= READ_ATTEMPTS or spent + delay > READ_BUDGET_S:
                raise RouterError(f"DigitalOcean API failed {what} {attempt} time(s) in "
                                  f"{spent:.1f}s: {problem}") from cause
            self._say(f"{what}: {problem}; retrying in {delay:.2g}s")
            time.sleep(delay)


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


def _refuse_auth(exc: HttpResponseError, what: str) -> None:
    if exc.status_code == 401:
        raise RouterAuthError("DigitalOcean refused the token (401): check DIGITALOCEAN_TOKEN") from None
    if exc.status_code == 403:
        raise RouterAuthError(f"DigitalOcean refused {what} (403): the token lacks the "
                              "permission (reserved IP write access)") from None


def _droplet_id(reserved_ip: Mapping[str, Any]) -> int | None:
    return (reserved_ip.get("droplet") or {}).get("id")


def _problem(exc: HttpResponseError) -> str:
    try:
        body = getattr(exc.response, "json", lambda: None)() if exc.response is not None else None
    except Exception:
        body = None
    return f"{exc.status_code} {_body_problem(body)}"


def _body_id(body: Any) -> str | None:
    return body.get("id") if isinstance(body, dict) else None


def _body_problem(body: Any) -> str:
    if isinstance(body, dict) and body.get("message"):
        return f"{body.get('id', 'error')}: {body['message']}"
    return "an unexpected answer"


def _retry_after(exc: HttpResponseError) -> float | None:
    headers = getattr(exc.response, "headers", None) or {}
    value = headers.get("Retry-After")
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


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"
