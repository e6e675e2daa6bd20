"""HTTP checks against hosts and the public URL: health, smoke and identity.

Each request opens a new connection (``Connection: close``) so that a check
sees whichever backend the router sends a new visitor to.
"""
from __future__ import annotations

from dataclasses import dataclass

import requests

from .config import SmokeCheck

_HEADERS = {"Connection": "close", "User-Agent": "bluegreen"}


@dataclass(frozen=True)
class Answer:
    ok: bool
    status: int | None
    text: str
    detail: str


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


def health(base_url: str, path: str, timeout: float) -> Answer:
    return get(base_url + path, timeout)


def smoke(base_url: str, check: SmokeCheck, timeout: float) -> Answer:
    """Run one smoke check; ``detail`` says what was expected and what came back."""
    answer = get(base_url + check.path, timeout)
    if answer.status is None:
        return Answer(False, None, "", f"{check.path}: {answer.detail}")
    if answer.status != check.status:
        return Answer(False, answer.status, answer.text,
                      f"{check.path}: expected HTTP {check.status}, got {answer.status}")
    if check.contains is not None and check.contains not in answer.text:
        snippet = " ".join(answer.text.split())[:80]
        return Answer(False, answer.status, answer.text,
                      f"{check.path}: expected the page to contain {check.contains!r}, got {snippet!r}")
    return Answer(True, answer.status, answer.text, f"{check.path}: HTTP {answer.status}")
