"""The Slack app manifests: one for each mode, naming every command the handlers serve."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from handlers.commands import SLASH_COMMANDS

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


@pytest.mark.parametrize("name,socket", [("socket-mode.yml", True), ("http.yml", False)])
def test_manifest_matches_the_handlers(name, socket):
    manifest = yaml.safe_load((MANIFESTS / name).read_text())
    commands = manifest["features"]["slash_commands"]
    assert sorted(c["command"] for c in commands) == sorted(SLASH_COMMANDS)
    assert manifest["settings"]["socket_mode_enabled"] is socket
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    urls = [c.get("url") for c in commands] + [manifest["settings"]["interactivity"].get("request_url")]
    if socket:
        assert urls == [None] * len(urls)
    else:
        assert all(u and u.endswith("/slack/events") for u in urls)
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "channels:write.topic"} <= scopes
