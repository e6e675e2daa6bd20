"""Requests Slack never sends, signed as if it had: every slash command text, and button
clicks with missing fields, wrong types, oversized or crafted values, unknown action_ids,
malformed JSON. Each gets a clear refusal the sender can read (an ephemeral answer, or a
400 with a sentence when the body cannot be read at all), never a 500 or a traceback, and
nothing is done: no pipeline call, history and state unchanged, no shell reached.

Already covered elsewhere: parse() on chosen texts (test_parse.py), bad refs and unknown
subcommands of the CLI (tests/unit/test_bad_input.py)."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import tomllib
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient

from deploy_core.config import parse as parse_config
from bot import serve as bot_serve
from handlers import blocks, payloads
from tests.support.bot_faults import Bot, Refusing, everything_shown, snapshot

from .payload_cases import form, payload_of, unreadable
from .support import ALICE, BOB, CHANNEL, MINIMAL_TOML, SECRET

REF = re.compile(r"[A-Za-z0-9._/-]{1,200}")
MUTATING = {"deploy", "promote", "rollback", "cancel", "discard", "lock", "unlock"}


def signed(raw: bytes, content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    """Slack's headers for any bytes (slack_sdk's helper signs text only)."""
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": "v0=" + digest}


# -- every slash command text -------------------------------------------------------------

WORDS = st.sampled_from(["status", "cancel", "discard", "lock", "unlock", "history", "log", "help",
                         "force", "to", "green", "blue", "purple", "main", "v1.2.3", "#12", "12",
                         "-rf", "..", "a..b", "refs/heads/status", "--force", "--to"])
META = st.sampled_from([";", "&&", "|", "`", "$(", ")", "'", '"', "\n", "\r\n", "\t", "\\", "*",
                        "?", "~", ">", "<", "$HOME", "\x00", "é", "🚀", "\u202e", "\u00a0", "\u3000",
                        "ｍａｉｎ", "%", "+", "&", "="])
TOKEN = st.one_of(WORDS, META, st.text(min_size=1, max_size=12),
                  st.from_regex(r"[A-Za-z0-9._/-]{1,30}", fullmatch=True))
TEXTS = st.one_of(
    WORDS, st.from_regex(r"[A-Za-z0-9._/-]{1,40}", fullmatch=True),
    st.tuples(WORDS, TOKEN).map(" ".join), st.tuples(TOKEN, WORDS).map("\n".join),
    st.lists(TOKEN, max_size=6).map(" ".join),
    st.lists(TOKEN, max_size=8).map("".join),
    st.text(max_size=300),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "/", " ", ";", "main "]),
              st.integers(9_990, 10_050)),
)


@pytest.fixture(scope="module")
def double_bot():
    from sandbox.slack_api import SlackAPI
    double = Refusing()
    config = parse_config(tomllib.loads(MINIMAL_TOML), {"DIGITALOCEAN_TOKEN": "t"})
    with SlackAPI(channels={CHANNEL: "deploys", "C0GENERAL": "general"}) as api:
        with Bot(config, {}, api, background=False, pipeline=double) as bot:
            yield bot, double, api


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(slash=st.sampled_from(["/deploy"] * 4 + ["/promote", "/rollback", "/status", "/nope"]),
       text=TEXTS, user=st.sampled_from([ALICE, ALICE, BOB]),
       channel=st.sampled_from([CHANNEL, CHANNEL, "C0GENERAL"]))
def test_every_command_text_is_answered_and_only_valid_work_reaches_the_pipeline(
        double_bot, slash, text, user, channel):
    bot, double, api = double_bot
    double.calls.clear()
    api.clear_calls()
    answer = bot.command(slash, text, user, channel)
    assert answer.status == 200, answer
    bot.wait()
    said, calls = answer.json(), list(double.calls)
    event("refused at once" if said else f"reached the pipeline: {calls[0][0] if calls else '-'}")
    if said:                                  # refused at once, only the asker sees why
        assert said["response_type"] == "ephemeral" and said["text"].strip()
        assert calls == []
    else:                                     # acknowledged: the work was tried, and told
        assert len(calls) == 1, calls
        assert [c for c in api.calls if c.method in ("chat.postMessage", "response_url")]
    for name, args, _ in calls:
        if name in MUTATING:
            assert user == ALICE and channel == CHANNEL and slash in ("/deploy", "/promote",
                                                                       "/rollback")
        if name == "deploy":
            ref = args[0]
            assert REF.fullmatch(ref) and not ref.startswith("-") and ".." not in ref
            assert text.split() == [ref]
    shown = everything_shown(api, answer)
    assert "Traceback" not in shown and "Error:" not in shown


# -- hand-written commands against the real pipeline ---------------------------------------

@pytest.fixture
def bot(world, slack):
    with Bot(world.config(), world.env, slack) as b:
        yield b


def test_crafted_command_texts_are_refused_before_any_shell(bot, world, slack, tmp_path):
    canary = tmp_path / "canary"
    p = world.pipeline()
    before = snapshot(p, world.sb, slack)
    cases = [("/deploy", f"main; touch {canary}"), ("/deploy", f"$(touch {canary})"),
             ("/deploy", f"`touch {canary}`"), ("/deploy", f"main\ntouch {canary}"),
             ("/deploy", f"main&&touch {canary}"), ("/deploy", f"main|touch${{IFS}}{canary}"),
             ("/deploy", "'main'"), ("/deploy", "ｍａｉｎ"), ("/deploy", "main\u202e"),
             ("/deploy", "--upload-pack=touch"), ("/deploy", "../../etc/passwd"),
             ("/deploy", "x" * 10_000), ("/deploy", "é" * 10_000), ("/deploy", "main " * 2_000),
             ("/deploy", "frobnicate now"), ("/deploy", "status now"),
             ("/deploy", "log ../1"), ("/deploy", f"log 1;touch {canary}"),
             ("/deploy", "unlock please"), ("/deploy", "lock"), ("/deploy", ""),
             ("/promote", f"force; touch {canary}"), ("/promote", "to purple"),
             ("/promote", "--to green\nrm"), ("/rollback", "now"), ("/rollback", "\n\n;"),
             ("/status", ""), ("/nope", "main")]
    for command, text in cases:
        answer = bot.command(command, text)
        assert answer.status == 200, (command, text[:40], answer)
        said = answer.json()
        assert said.get("response_type") == "ephemeral" and said["text"].strip(), (command, text)
    bot.wait()
    assert not canary.exists()
    assert snapshot(p, world.sb, slack) == before
    assert not [c for c in slack.calls if c.method in ("chat.postMessage", "chat.update")]


# -- button clicks Slack never sends ------------------------------------------------------

def test_malformed_clicks_are_refused_readably_and_change_nothing(world, slack):
    p = world.pipeline()
    result = p.deploy("main", "alice (U0ALICE)")          # a release ready to promote
    client = WebClient(token=slack.token, base_url=slack.url)
    ts = client.chat_postMessage(channel=CHANNEL, text="ready",
                                 blocks=blocks.deploy_ready(result, 1.0))["ts"]
    with Bot(world.config(), world.env, slack) as bot:
        message = slack.message(CHANNEL, ts)
        good = payload_of(bot.press_body("Promote", ALICE, message))
        action = good["actions"][0]
        before = snapshot(p, world.sb, slack)

        def with_action(**changes):
            return {**good, "actions": [{**action, **changes}]}

        answers = []
        for raw, ctype in unreadable(good, result.deployment_id):  # 400 with a sentence
            answer = bot.post(raw, headers=signed(raw, ctype))
            answers.append(answer)
            assert answer.status == 400, (raw[:80], answer)
            assert "could not read this request" in answer.json()["text"], answer
        answer = bot.post(b"\xff\xfe\x00garbage", headers=signed(b"\xff\xfe\x00garbage"))
        assert answer.status in (400, 401), answer

        refused = [                                        # acknowledged, told why, privately
            (with_action(action_id="launch_missiles"), "is not one bluegreen made"),
            (with_action(action_id="prömote"), "is not one bluegreen made"),
            (with_action(action_id="x" * 10_000), "is not one bluegreen made"),
            (with_action(value="abc"), "is not one bluegreen made"),
            (with_action(value=""), "is not one bluegreen made"),
            (with_action(value="-1"), "is not one bluegreen made"),
            (with_action(value="１"), "is not one bluegreen made"),          # a fullwidth digit
            (with_action(value=f"{result.deployment_id}; touch x"), "is not one bluegreen made"),
            (with_action(value="9" * 10_000), "is not one bluegreen made"),
            (with_action(value="99999"), "This button is out of date"),
            (with_action(action_id="rollback", value="1"), "This button is out of date"),
            (with_action(action_id="unlock", value="1970-01-01T00:00:00"), "out of date"),
            ({**good, "user": {"id": "U0MALLORY", "username": "mallory"}}, "Only <@U0ALICE>"),
            ({**good, "user": {"id": "", "username": "alice"}}, "Only <@U0ALICE>"),
        ]
        for payload, says in refused:
            slack.clear_calls()
            raw = form(payload)
            answer = bot.post(raw, headers=signed(raw))
            answers.append(answer)
            assert answer.status == 200, (payload["actions"], answer)
            bot.wait()
            told = [c.args.get("text", "") for c in slack.calls_to("response_url")]
            assert told and says in told[-1], (payload["actions"][0].get("action_id", "")[:40],
                                               payload["actions"][0].get("value", "")[:40], told)
            assert snapshot(p, world.sb, slack) == before
        shown = everything_shown(slack, *answers)
        assert "Traceback" not in shown and "ValueError" not in shown
        assert snapshot(p, world.sb, slack) == before

        assert bot.press("Promote", ALICE, message).status == 200           # the control
        bot.wait()
        assert world.sb.live_identity() == "green-sandbox"


# -- one size limit, however the request arrives -----------------------------------------

def test_the_size_limit_is_the_same_over_http_socket_mode_and_the_demo():
    """A body is measured as it arrives: form text over HTTP and in the demo, the payload's
    JSON in Socket Mode; up to MAX_BODY bytes it is read, one byte more is refused."""
    command = {"command": "/deploy", "text": "", "user_id": "U0ALICE", "channel_id": CHANNEL}
    json_size = len(json.dumps(command, separators=(",", ":")))
    at_limit = {**command, "text": "é" * ((payloads.MAX_BODY - json_size) // 2)}
    assert len(json.dumps(at_limit, ensure_ascii=False, separators=(",", ":")).encode()) \
        == payloads.MAX_BODY                          # é is two bytes in UTF-8
    assert payloads.socket_refusal(at_limit) is None
    assert payloads.socket_refusal({**at_limit, "text": at_limit["text"] + "x"}) \
        == payloads.TOO_LARGE

    form = urlencode(command)
    at_limit_form = form + "x" * (payloads.MAX_BODY - len(form))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert not isinstance(payloads.read(at_limit_form, headers), payloads.Refusal)
    assert payloads.read(at_limit_form + "x", headers) == payloads.TOO_LARGE
    assert bot_serve.MAX_BODY == payloads.MAX_BODY
