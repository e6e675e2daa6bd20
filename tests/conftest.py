"""Shared fixtures. Server fixtures live in tests/support/*.py (also used by benchmarks)."""
from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.support.sshd",
    "tests.support.nginx",
    "tests.support.postgres",
    "tests.support.fleet",
]


@pytest.fixture(autouse=True)
def _no_personal_ssh(monkeypatch, tmp_path):
    """Keep tests away from the developer's own ~/.ssh and environment secrets."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("SSH_AUTH_SOCK", "BLUEGREEN_SSH_KEY", "BLUEGREEN_KNOWN_HOSTS", "BLUEGREEN_CONFIG",
                "DIGITALOCEAN_TOKEN", "DIGITALOCEAN_API_URL", "SLACK_BOT_TOKEN",
                "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
