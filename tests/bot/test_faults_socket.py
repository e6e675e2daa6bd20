"""The bot (``python -m bot`` in Socket Mode) under faults of its websocket.

- Losing it: Slack's end drops the connection without a word, or says ``disconnect``
  first as it does before cycling connections. The bot asks ``apps.connections.open`` for
  a new URL, connects again, and the next slash command is answered. Bounded: each
  reconnection within 20 s.
- Envelopes Slack never sends: the payloads test_faults_payloads.py posts over HTTP (and
  one over the size limit) are refused with the same sentence before Bolt, without
  dropping the connection; the next slash command is answered.

Already covered (test_entry.py): slash commands answered over the websocket."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.slack_api import LEGACY_TOKEN

from .payload_cases import TOO_LARGE_TEXT, as_envelope_payload, promote_click, unreadable, without
from .socket_peer import SocketPeer
from .support import ALICE, BOB, MINIMAL_TOML, ROOT

RECONNECT_S = 20


class DroppingPeer(SocketPeer):
    """Slack's end of Socket Mode that can drop the current connection."""

    def __init__(self) -> None:
        self.connections = 0
        self.log: Path | None = None       # the bot's output, as it writes it
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
    peer.log = tmp_path / "bot.log"
    with peer.log.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config)], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        peer.wait_connections(1, 30)
        yield peer
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        peer.close()
        output = peer.log.read_text(errors="replace")
        assert slack.app_token not in output and slack.token not in output
        assert "Traceback" not in output, output[-3000:]


def command(slack, text: str, user: tuple[str, str] = BOB) -> dict:
    """A /deploy slash command's payload as Socket Mode carries it."""
    return {"command": "/deploy", "text": text, "user_id": user[0], "user_name": user[1],
            "channel_id": "C0DEPLOYS", "team_id": "T0SANDBOX",
            "response_url": slack.response_url("C0DEPLOYS", user[0])}


def answered(peer: DroppingPeer, slack, text: str) -> dict:
    return peer.ack(peer.send("slash_commands", command(slack, text)), timeout=10)


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


def test_envelopes_slack_never_sends_are_refused_and_the_bot_stays_connected(socket_bot, slack):
    peer = socket_bot
    good = promote_click(slack)                 # alice's, on a Promote button for deployment 1
    sent = [as_envelope_payload(raw, ctype) for raw, ctype in unreadable(good, 1)]
    sent += [None, 7, True]                    # payloads no request has, only Socket Mode can carry
    too_large = command(slack, TOO_LARGE_TEXT, ALICE)
    for payload in sent + [too_large]:
        kind = "slash_commands" if isinstance(payload, dict) and "type" not in payload \
            else "interactive"
        said = peer.ack(peer.send(kind, payload), timeout=10)
        assert said.get("response_type") == "ephemeral", (str(payload)[:80], said)
        assert "could not read this request" in said.get("text", ""), (str(payload)[:80], said)
    assert "(it is too large)" in said["text"]
    # a click's envelope does not take a response payload: acknowledged all the same
    assert peer.ack(peer.send("interactive", without(good, "user"),
                              accepts_response_payload=False)) == {}

    log = peer.log.read_text(errors="replace")
    assert log.count("refused a Socket Mode") == len(sent) + 2, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert LEGACY_TOKEN not in log and good["response_url"] not in log      # no payload logged
    # nothing reached Bolt (its first request asks auth.test), nobody was told anything
    assert [c.method for c in slack.calls] == ["apps.connections.open"]
    assert peer.connections == 1               # the same connection all along

    assert "/deploy REF" in answered(peer, slack, "help")["text"]
    assert "auth.test" in [c.method for c in slack.calls]     # the control did reach Bolt
    assert peer.connections == 1
