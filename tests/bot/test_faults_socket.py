"""The bot (``python -m bot`` in Socket Mode) losing its websocket: Slack's end drops the
connection without a word, or says ``disconnect`` first as it does before cycling
connections. The bot asks ``apps.connections.open`` for a new URL, connects again, and
the next slash command is answered. Bounded: each reconnection within 20 s.

Already covered (test_entry.py): slash commands answered over the websocket."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from .socket_peer import SocketPeer
from .support import MINIMAL_TOML, ROOT

RECONNECT_S = 20


class DroppingPeer(SocketPeer):
    """Slack's end of Socket Mode that can drop the current connection."""

    def __init__(self) -> None:
        self.connections = 0
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with self._cond:
            self.connections += 1
        super()._serve(conn)

    def wait_connections(self, n: int, timeout: float) -> float:
        t0 = time.monotonic()
        with self._cond:
            if not self._cond.wait_for(lambda: self.connections >= n and self._conn is not None,
                                       timeout):
                raise AssertionError(f"the bot did not connect again within {timeout}s")
        return time.monotonic() - t0

    def drop(self) -> None:
        """Close the websocket's TCP connection under the bot, without a close frame."""
        with self._cond:
            conn, self._conn = self._conn, None
        assert conn is not None
        conn.shutdown(socket.SHUT_RDWR)
        conn.close()

    def say_disconnect(self) -> None:
        """What Slack sends before it closes a connection it is refreshing."""
        self._frame(0x1, json.dumps({"type": "disconnect", "reason": "refresh_requested",
                                     "debug_info": {"host": "applink-test"}}).encode())
        with self._cond:
            self._conn = None


@pytest.fixture
def socket_bot(tmp_path, slack):
    config = tmp_path / "bluegreen.toml"
    config.write_text(MINIMAL_TOML)
    peer = DroppingPeer()
    slack.socket_url = peer.url
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "SLACK_BOT_TOKEN": slack.token, "SLACK_APP_TOKEN": slack.app_token,
           "SLACK_API_URL": slack.url, "DATABASE_URL": f"sqlite:///{tmp_path}/bg.db",
           "DIGITALOCEAN_TOKEN": "t", "DIGITALOCEAN_API_URL": "http://127.0.0.9:9"}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        peer.wait_connections(1, 30)
        yield peer
    finally:
        proc.terminate()
        try:
            output = proc.communicate(timeout=10)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate(timeout=5)[0].decode(errors="replace")
        peer.close()
        assert slack.app_token not in output and slack.token not in output
        assert "Traceback" not in output, output[-3000:]


def answered(peer: DroppingPeer, slack, text: str, user: str = "U0BOB") -> dict:
    command = {"command": "/deploy", "text": text, "user_id": user, "user_name": "bob",
               "channel_id": "C0DEPLOYS", "team_id": "T0SANDBOX",
               "response_url": slack.response_url("C0DEPLOYS", user)}
    return peer.ack(peer.send("slash_commands", command), timeout=10)


def test_a_dropped_websocket_is_reopened_and_the_next_command_answered(socket_bot, slack):
    peer = socket_bot
    assert "/deploy REF" in answered(peer, slack, "help")["text"]
    assert len(slack.calls_to("apps.connections.open")) == 1

    peer.drop()                                    # no close frame, no goodbye
    took = peer.wait_connections(2, RECONNECT_S)
    assert len(slack.calls_to("apps.connections.open")) >= 2
    assert "Only <@U0ALICE> may deploy" in answered(peer, slack, "main")["text"]

    peer.say_disconnect()                          # Slack refreshing the connection
    peer.wait_connections(3, RECONNECT_S)
    assert len(slack.calls_to("apps.connections.open")) >= 3
    assert "/deploy REF" in answered(peer, slack, "help")["text"]
    print(f"reconnected {took:.1f}s after the drop")
