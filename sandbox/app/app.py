"""The sandbox's sample shop: the seed's Flask app in miniature.

VERSION and the git sha are read when the module is imported, so a new
release is served only after gunicorn reloads its workers (kill -HUP), and
``/version`` answers the sha this very process loaded: bluegreen's release proof
(``release_path``) waits for it before it trusts health and smoke.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from flask import Flask

HERE = Path(__file__).resolve().parent
TITLE = "Welcome to shop"
TAGLINE = "Fresh goods daily"


def _read_version() -> str:
    try:
        return (HERE / "VERSION").read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"


def _read_sha() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE,  # noqa: S607 # nosec B607
                              capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


VERSION = _read_version()
SHA = _read_sha()
app = Flask(__name__)


@app.get("/")
def home():
    suffix = f" ({SHA[:7]})" if SHA else ""
    body = f"{TITLE} — version {VERSION}{suffix}\n{TAGLINE}\n"
    return body, 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/hostname")
def hostname():
    return os.environ.get("BLUEGREEN_IDENTITY", "unknown"), 200, {"Content-Type": "text/plain"}


@app.get("/version")
def version():
    # the release this worker loaded: read once at import, never from the checkout now.
    # A knob for tests: a file named RELEASE in the checkout answers instead (a stale backend).
    if (HERE / "RELEASE").exists():
        return (HERE / "RELEASE").read_text(), 200, {"Content-Type": "text/plain"}
    return SHA, 200, {"Content-Type": "text/plain"}


@app.get("/healthz")
def healthz():
    # A knob for tests: a file named UNHEALTHY in the checkout fails the health route.
    if (HERE / "UNHEALTHY").exists():
        return "unhealthy", 503, {"Content-Type": "text/plain"}
    return "ok", 200, {"Content-Type": "text/plain"}
