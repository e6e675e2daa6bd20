"""HTTP checks against hosts and the public URL: health, release proof, smoke and identity.

Every check goes through one small interface, ``HTTP.get`` (tests give the pipeline a
scripted one). The real one opens a new connection per request (``Connection: close``)
so that a check sees whichever backend the router sends a new visitor to, and says who
it is (``User-Agent: bluegreen/VERSION``) so that logs and the watch can leave it out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import requests

from . import __version__
from .config import SmokeCheck
from .refs import short

USER_AGENT = f"bluegreen/{__version__}"
_HEADERS = {"Connection": "close", "User-Agent": USER_AGENT}
_SHA = re.compile(r"[0-9a-f]{7,40}")


@dataclass(frozen=True)
class Answer:
    ok: bool
    status: int | None
    text: str
    detail: str


class HTTP(Protocol):
    def get(self, url: str, timeout: float) -> Answer:
        """GET ``url`` once; never raises for network trouble (it is in the Answer)."""
        ...


class RealHTTP:
    """HTTP over the network with requests."""

    def get(self, url: str, timeout: float) -> Answer:
        return get(url, timeout)


def get(url: str, timeout: float) -> Answer:
    """GET ``url`` once on a new connection; never raises for network trouble."""
    try:
        with requests.get(url, headers=_HEADERS, timeout=timeout, allow_redirects=False,
                          stream=True) as resp:
            body = resp.raw.read(65536, decode_content=True).decode("utf-8", "replace")
            ok = 200 <= resp.status_code < 300
            return Answer(ok, resp.status_code, body, f"HTTP {resp.status_code}")
    except requests.Timeout:
        return Answer(False, None, "", f"no answer within {timeout:g}s")
    except requests.ConnectionError as exc:
        return Answer(False, None, "", f"connection failed ({_reason(exc)})")
    except requests.RequestException as exc:
        return Answer(False, None, "", f"request failed ({_reason(exc)})")


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Connection reset", "timed out", "Name or service not known",
                   "RemoteDisconnected", "Connection aborted"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def smoke(http: HTTP, base_url: str, check: SmokeCheck, timeout: float) -> Answer:
    """Run one smoke check; ``detail`` says what was expected and what came back."""
    path = check.path or "/"
    answer = http.get(base_url + path, timeout)
    if answer.status is None:
        return Answer(False, None, "", f"{path}: {answer.detail}")
    if answer.status != check.status:
        return Answer(False, answer.status, answer.text,
                      f"{path}: expected HTTP {check.status}, got {answer.status}")
    if check.contains is not None and check.contains not in answer.text:
        snippet = " ".join(answer.text.split())[:80]
        return Answer(False, answer.status, answer.text,
                      f"{path}: expected the page to contain {check.contains!r}, got {snippet!r}")
    return Answer(True, answer.status, answer.text, f"{path}: HTTP {answer.status}")


def release_sha(text: str) -> str | None:
    """The sha a release route answered (7 to 40 hex digits, whitespace trimmed), or None."""
    value = text.strip().lower()
    return value if _SHA.fullmatch(value) else None


def same_release(answered: str | None, sha: str | None) -> bool:
    """Whether ``answered`` (full or a prefix of at least 7) names the release ``sha``."""
    return bool(answered and sha and len(answered) >= 7 and sha.lower().startswith(answered))


def describe_release(answer: Answer, path: str) -> str:
    """What a host's release route answered, for people: a short sha, or what was wrong."""
    if answer.status is None:
        return f"{path}: {answer.detail}"
    if not answer.ok:
        return f"{path} answered HTTP {answer.status}"
    sha = release_sha(answer.text)
    if sha:
        return short(sha)
    body = " ".join(answer.text.split())
    return f"{path} answered {body[:40]!r}, not a sha" if body else f"{path} answered an empty body"
