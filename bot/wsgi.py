"""WSGI entry for gunicorn: ``gunicorn bot.wsgi:app``.

POST /slack/events goes to Bolt (which checks Slack's signature); GET /healthz
answers the bot's own health. Configuration comes from $BLUEGREEN_CONFIG (or
./bluegreen.toml) and the environment, read when a worker starts."""
from __future__ import annotations

import os
import sys
from typing import Any

from deploy_core.config import load
from deploy_core.errors import BluegreenError

from .app import create_app, start_background
from .serve import make_wsgi


def _from_environment() -> Any:
    try:
        config = load(None, os.environ)
        bolt = create_app(config, os.environ)
    except BluegreenError as exc:
        print(f"bluegreen bot: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    start_background(bolt)
    return make_wsgi(bolt)


app = _from_environment()
