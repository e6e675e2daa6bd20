"""The DigitalOcean API as the router talks to it: the pydo client, reads retried within
bounds, rate-limit waits, and the refusals turned into our errors.

Reads retry on 429, 5xx and connection trouble within bounds. A 429 was not carried out:
it waits ``Retry-After`` (the burst limit) or, without one, until ``ratelimit-reset`` (the
hourly limit), and fails at once, naming when the limit resets, when that is beyond
``router.action_timeout_s``. azure-core's own retries are off; plain http is accepted only
for a loopback endpoint (the sandbox's stand-in).
"""
from __future__ import annotations

import ipaddress
import math
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import urlsplit

import pydo
from azure.core.exceptions import (AzureError, HttpResponseError, ServiceRequestError,
                                   ServiceResponseError)
from azure.core.pipeline.policies import SansIOHTTPPolicy

from ..config import RouterConfig
from ..errors import RouterAuthError, RouterError

DEFAULT_API_URL = "https://api.digitalocean.com"
READ_ATTEMPTS = 4          # per read, including the first
READ_BUDGET_S = 30.0       # total time a read may spend waiting between attempts (429: action_timeout_s)
RESET_SLACK_S = 0.5        # ask again this long after ratelimit-reset: our clock is not theirs
_CONNECTION = (ServiceRequestError, ServiceResponseError)
_NO_ANSWER = object()


class Missing(Exception):
    """A 404 the caller turns into its own answer."""


class DOClient:
    """pydo's client (``api``) with reads retried within bounds and 429s waited out,
    each retry told to ``say``."""

    def __init__(self, token: str, endpoint: str, router: RouterConfig,
                 say: Callable[[str], None]) -> None:
        self.api = _client(token, endpoint, router.api_timeout_s)
        self.token_accepted = False        # after that, a 401 means a missing scope
        self._router = router
        self._say = say

    def refuse_auth(self, exc: HttpResponseError, what: str, scope: str, why: str = "") -> None:
        """401 or 403 as RouterAuthError; a 403, or a 401 for a token accepted a moment ago,
        names the scope ``what`` needs."""
        if exc.status_code == 401 and not self.token_accepted:
            raise RouterAuthError("DigitalOcean refused the token (401): check DIGITALOCEAN_TOKEN") from None
        if exc.status_code == 401:
            raise RouterAuthError(f"DigitalOcean refused the token (401) for {what}, having accepted "
                                  f"it just before: check DIGITALOCEAN_TOKEN; it lacks the {scope} "
                                  f"scope{why}, or was revoked", scope=scope) from None
        if exc.status_code == 403:
            raise RouterAuthError(f"DigitalOcean refused {what} ({problem_of(exc)}): DIGITALOCEAN_TOKEN "
                                  f"lacks the {scope} scope{why}", scope=scope) from None

    def get(self, what: str, key: str, scope: str, call: Callable[..., Any], *args: Any,
            missing: str | None = None, why: str = "") -> Any:
        """``call`` and return ``answer[key]``. A 404 raises RouterError(``missing``), or
        Missing when ``missing`` is empty; 401/403 raise RouterAuthError naming ``scope``."""
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
                self.refuse_auth(exc, what, scope, why)
                status, problem, cause = exc.status_code or 0, problem_of(exc), exc
                if status == 404 and missing is not None:   # a 404 pydo raises instead of returning
                    answer = _body(exc)
                elif status == 429:
                    delay = self.rate_limit_wait(exc, what, problem, spent=time.monotonic() - started)
                    budget = max(budget, self._router.action_timeout_s)
                elif not 500 <= status < 600:
                    raise RouterError(f"DigitalOcean refused {what}: {problem}") from exc
            except _CONNECTION as exc:
                problem, cause = one_line(exc), exc
            except (AzureError, ValueError) as exc:
                raise RouterError(f"DigitalOcean API {what}: unreadable answer ({one_line(exc)})") from exc
            if answer is not _NO_ANSWER:
                self.token_accepted = True
                if isinstance(answer, dict) and key in answer:
                    return answer[key]
                if missing is not None and _body_id(answer) == "not_found":
                    if not missing:
                        raise Missing()
                    raise RouterError(f"{missing} ({body_problem(answer)})")
                raise RouterError(f"DigitalOcean answered {what} with {body_problem(answer)}")
            delay = min(0.25 * 2 ** (attempt - 1), 4.0) if delay is None else delay
            spent = time.monotonic() - started
            if attempt >= READ_ATTEMPTS or spent + delay > budget:
                raise RouterError(f"DigitalOcean API failed {what} {attempt} time(s) in "
                                  f"{spent:.1f}s: {problem}") from cause
            self._say(f"{what}: {problem}; retrying in {delay:.3g}s")
            time.sleep(delay)

    def rate_limit_wait(self, exc: HttpResponseError, what: str, problem: str,
                        spent: float = 0.0) -> float:
        """Seconds to wait after a 429: its Retry-After (the burst limit), else until its
        ratelimit-reset (the hourly limit). RouterError at once when that is beyond
        ``router.action_timeout_s`` (less ``spent``)."""
        budget = self._router.action_timeout_s - spent
        retry_after = _retry_after(exc)
        if retry_after is not None:
            if retry_after > budget:
                raise RouterError(f"DigitalOcean rate limits {what} ({problem}): retry after "
                                  f"{retry_after:g}s, beyond router.action_timeout_s "
                                  f"({self._router.action_timeout_s:g}s)",
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
                              f"router.action_timeout_s ({self._router.action_timeout_s:g}s)",
                              resets_at=when.isoformat()) from exc
        return delay


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


def _body(exc: HttpResponseError) -> Any:
    try:
        return getattr(exc.response, "json", lambda: None)()
    except Exception:
        return None


def problem_of(exc: HttpResponseError) -> str:
    """The status and what DigitalOcean's error body says, e.g. ``422 unprocessable_entity: …``."""
    return f"{exc.status_code} {body_problem(_body(exc))}"


def _body_id(body: Any) -> str | None:
    return body.get("id") if isinstance(body, dict) else None


def body_problem(body: Any) -> str:
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


def one_line(exc: Exception) -> str:
    """An exception in one line of at most 200 characters, named by its type."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"
