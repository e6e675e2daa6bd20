"""The bot: a Bolt App over deploy_core, served over HTTP (gunicorn) or Socket Mode.

``create_app(config, env, pipeline=None)`` builds it; ``python -m bot`` runs it."""
from __future__ import annotations

from .app import context_of, create_app, start_background

__all__ = ["context_of", "create_app", "start_background"]
