"""Slack's request signature, for slash commands and button clicks alike: a missing or
wrong signature, a missing, stale, future or malformed timestamp, a body changed after
signing — each gets 401 and changes nothing; the same request signed properly acts
(so each refusal is the signature check's doing, not a request that would do nothing).

Already covered in test_http.py (slash commands, bot under gunicorn): a wrong signing
secret, a timestamp six minutes old, a request with no Slack headers at all."""
from __future__ import annotations

import time

import pytest
from slack_sdk.signature import SignatureVerifier

from handlers import blocks
from sandbox.slack_api import Message
from tests.support.bot_faults import Bot, snapshot

from .support import ALICE, CHANNEL, SECRET, changes

NOW = int(time.time())


def sign(body: str, timestamp: str, secret: str = SECRET) -> str:
    return SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) or ""


def forged(body: str, case: str) -> dict[str, str]:
    """Headers for ``body`` that Slack would never send, one way per case."""
    now = str(int(time.time()))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return {
        "no signature": {**form, "X-Slack-Request-Timestamp": now},
        "empty signature": {**form, "X-Slack-Request-Timestamp": now, "X-Slack-Signature": ""},
        "no timestamp": {**form, "X-Slack-Signature": sign(body, now)},
        "wrong secret": {**form, "X-Slack-Request-Timestamp": now,
                         "X-Slack-Signature": sign(body, now, "not-the-secret")},
        "other version": {**form, "X-Slack-Request-Timestamp": now,
                          "X-Slack-Signature": "v1=" + sign(body, now)[3:]},
        "signed another body": {**form, "X-Slack-Request-Timestamp": now,
                                "X-Slack-Signature": sign(body.replace("U0", "U1"), now)},
        "stale timestamp": {**form, "X-Slack-Request-Timestamp": str(int(now) - 301),
                            "X-Slack-Signature": sign(body, str(int(now) - 301))},
        "future timestamp": {**form, "X-Slack-Request-Timestamp": str(int(now) + 330),
                             "X-Slack-Signature": sign(body, str(int(now) + 330))},
        "timestamp not a number": {**form, "X-Slack-Request-Timestamp": "soon",
                                   "X-Slack-Signature": sign(body, "soon")},
        "timestamp a float": {**form, "X-Slack-Request-Timestamp": now + ".5",
                              "X-Slack-Signature": sign(body, now + ".5")},
        "timestamp in other digits": {**form, "X-Slack-Request-Timestamp": "¹²³",
                                      "X-Slack-Signature": sign(body, "¹²³")},
        "signature not ASCII": {**form, "X-Slack-Request-Timestamp": now,
                                "X-Slack-Signature": sign(body, now)[:-1] + "é"},
    }[case]


CASES = ["no signature", "empty signature", "no timestamp", "wrong secret", "other version",
         "signed another body", "stale timestamp", "future timestamp", "timestamp not a number",
         "timestamp a float", "timestamp in other digits", "signature not ASCII"]


@pytest.fixture
def bot(world, slack):
    with Bot(world.config(), world.env, slack, background=False) as b:
        yield b


def test_forged_slash_commands_get_401_and_change_nothing(bot, world, slack):
    p = world.pipeline()
    for case in CASES:
        body = bot.command_body("/deploy", f"lock forged: {case}")
        answer = bot.post(body, headers=forged(body, case))
        assert answer.status == 401, (case, answer)
    bot.wait()
    assert p.store.current_lock() is None and p.history() == []
    assert changes(slack) == []

    answer = bot.command("/deploy", "lock signed properly")          # the control
    assert answer.status == 200
    bot.wait()
    assert p.store.current_lock().reason == "signed properly"


def test_forged_button_clicks_get_401_and_change_nothing(bot, world, slack):
    p = world.pipeline()
    hold = p.lock("alice (U0ALICE)", "db migration")
    reminder = Message(CHANNEL, "1.000001", "reminder", blocks.lock_reminder(hold))
    before = snapshot(p, world.sb, slack)
    for case in CASES:
        body = bot.press_body("Unlock", ALICE, reminder)
        answer = bot.post(body, headers=forged(body, case))
        assert answer.status == 401, (case, answer)
    bot.wait()
    assert snapshot(p, world.sb, slack) == before
    assert changes(slack) == []

    assert bot.press("Unlock", ALICE, reminder).status == 200          # the control
    bot.wait()
    assert p.store.current_lock() is None


def test_a_replayed_request_older_than_five_minutes_is_refused(bot, world, slack):
    """Slack's own request, captured and sent again later: the signature still matches
    the body, only the timestamp gives it away."""
    p = world.pipeline()
    body = bot.command_body("/deploy", "lock captured")
    then = str(int(time.time()) - 6 * 60)
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Slack-Request-Timestamp": then, "X-Slack-Signature": sign(body, then)}
    assert bot.post(body, headers=headers).status == 401
    bot.wait()
    assert p.store.current_lock() is None and changes(slack) == []


def test_slacks_certificate_check_and_an_oversized_body_change_nothing(bot, world, slack):
    """Slack's ssl_check is answered empty (as Bolt does), signed or not; a body over a
    megabyte is refused before it is read, signed or not."""
    p = world.pipeline()
    check = "ssl_check=1&token=legacy-verification-token"
    assert bot.post(check, headers={"Content-Type": "application/x-www-form-urlencoded"}).status == 200
    assert bot.post(check).status == 200
    huge = bot.command_body("/deploy", "lock " + "x" * (1 << 20))
    answer = bot.post(huge)
    assert answer.status == 413 and "could not read this request" in answer.json()["text"]
    bot.wait()
    assert p.store.current_lock() is None and changes(slack) == []
