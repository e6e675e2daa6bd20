"""`python -m bot` and the App factory refuse an incomplete environment with a sentence."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot import create_app
from deploy_core.config import parse
from deploy_core.errors import UsageError

from .support import MINIMAL_TOML

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "bluegreen.toml"
    path.write_text(MINIMAL_TOML)
    return path


def run_bot(config_file, env, *args):
    base = {"PATH": "/usr/bin:/bin", "HOME": str(config_file.parent), "PYTHONPATH": str(ROOT),
            "DIGITALOCEAN_TOKEN": "t"}
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(config_file), *args],
                          cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=30)


def test_missing_bot_token_exits_2(config_file):
    done = run_bot(config_file, {})
    assert done.returncode == 2 and "SLACK_BOT_TOKEN is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_http_mode_needs_the_signing_secret(config_file):
    done = run_bot(config_file, {"SLACK_BOT_TOKEN": "xoxb-1"})
    assert done.returncode == 2 and "SLACK_SIGNING_SECRET is not set" in done.stderr


def test_socket_mode_needs_the_app_token(config_file):
    done = run_bot(config_file, {"SLACK_BOT_TOKEN": "xoxb-1"}, "--mode", "socket")
    assert done.returncode == 2 and "SLACK_APP_TOKEN is not set" in done.stderr


def test_bad_config_exits_2_naming_the_key(tmp_path):
    bad = tmp_path / "bluegreen.toml"
    bad.write_text(MINIMAL_TOML.replace('public_url = "http://127.0.0.9:9"', 'public_url = "nope"'))
    done = run_bot(bad, {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    assert done.returncode == 2 and "app.public_url: not a URL" in done.stderr


def test_socket_mode_app_needs_no_signing_secret():
    import tomllib
    config = parse(tomllib.loads(MINIMAL_TOML), {"DIGITALOCEAN_TOKEN": "t"})
    app = create_app(config, {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    assert app.client.base_url == "https://slack.com/api/"
    with pytest.raises(UsageError, match="SLACK_SIGNING_SECRET"):
        create_app(config, {"SLACK_BOT_TOKEN": "xoxb-1"})
    app = create_app(config, {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
                              "SLACK_API_URL": "http://127.0.0.1:9/api"})
    assert app.client.base_url == "http://127.0.0.1:9/api/"


def test_bot_and_handlers_import_no_ssh_router_or_sql_library():
    probe = ("import sys, bot, bot.serve, handlers, handlers.buttons, handlers.answers; "
             "print(sorted(m for m in ('paramiko', 'pydo', 'sqlalchemy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.stdout.strip() == "[]", done.stderr


def test_socket_mode_answers_slash_commands_over_the_websocket(config_file, slack):
    from .socket_peer import SocketPeer
    peer = SocketPeer()
    slack.socket_url = peer.url
    env = {"SLACK_BOT_TOKEN": slack.token, "SLACK_APP_TOKEN": slack.app_token,
           "SLACK_API_URL": slack.url, "DATABASE_URL": f"sqlite:///{config_file.parent}/bg.db",
           "DIGITALOCEAN_TOKEN": "t", "DIGITALOCEAN_API_URL": "http://127.0.0.9:9"}
    base = {"PATH": "/usr/bin:/bin", "HOME": str(config_file.parent), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config_file)], cwd=ROOT,
                            env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        peer.wait_connected()
        command = {"command": "/deploy", "text": "help", "user_id": "U0BOB", "user_name": "bob",
                   "channel_id": "C0GENERAL", "team_id": "T0SANDBOX",
                   "response_url": slack.response_url("C0GENERAL", "U0BOB")}
        assert "/deploy REF" in peer.ack(peer.send("slash_commands", command))["text"]
        refused = peer.ack(peer.send("slash_commands", {**command, "text": "main"}))
        assert "Only <@U0ALICE> may deploy" in refused["text"]
        assert [c.method for c in slack.calls if c.method.startswith("chat.")] == []
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0].decode(errors="replace")
        peer.close()
    assert slack.app_token not in output and slack.token not in output
