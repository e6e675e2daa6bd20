"""The bot under gunicorn, over real HTTP: Slack's signature check, its own health
route, and people who may not act (or act in the wrong place) changing nothing."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
import requests

from deploy_core.errors import LockInfo
from handlers import blocks
from sandbox.slack_api import Message, SlackAPI

from .support import ALICE, BOB, MINIMAL_TOML, BotServer, changes, slack_env


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One bot for the module (starting gunicorn takes a second); each test starts quiet."""
    tmp = tmp_path_factory.mktemp("bot")
    config = tmp / "bluegreen.toml"
    config.write_text(MINIMAL_TOML)
    with SlackAPI(channels={"C0DEPLOYS": "deploys", "C0GENERAL": "general"},
                  users=dict([ALICE, BOB])) as slack:
        env = slack_env(slack, BLUEGREEN_CONFIG=str(config), DATABASE_URL=f"sqlite:///{tmp}/bg.db",
                        DIGITALOCEAN_TOKEN="do-token", DIGITALOCEAN_API_URL="http://127.0.0.9:9")
        with BotServer(env, tmp / "gunicorn.log", slack) as server:
            yield server, slack


@pytest.fixture
def slack(served):
    served[1].clear_calls()
    return served[1]


@pytest.fixture
def bot(served, slack):
    return served[0]


def quiet_for(slack, seconds: float = 0.3) -> list:
    """What the bot changed in Slack after waiting a moment for stray work."""
    time.sleep(seconds)
    return changes(slack)


def test_health_route(bot):
    answer = requests.get(bot.url + "/healthz", timeout=5)
    assert answer.status_code == 200 and answer.json() == {"ok": True}
    assert requests.get(bot.url + "/nope", timeout=5).status_code == 404


def test_bad_signature_is_refused_and_nothing_happens(bot, slack):
    answer = bot.command("/deploy", "main", secret="not-the-secret")
    assert answer.status_code == 401
    assert quiet_for(slack) == []


def test_stale_timestamp_is_refused(bot, slack):
    answer = bot.command("/deploy", "main", timestamp=int(time.time()) - 6 * 60)
    assert answer.status_code == 401
    assert quiet_for(slack) == []


def test_unsigned_request_is_refused(bot, slack):
    answer = bot.post("command=%2Fdeploy&text=main", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 401
    assert quiet_for(slack) == []


@pytest.mark.parametrize("command,text", [("/deploy", "main"), ("/promote", ""),
                                          ("/rollback", ""), ("/deploy", "lock fixing the db"),
                                          ("/deploy", "unlock"), ("/promote", "force")])
def test_non_deployer_changes_nothing(bot, slack, command, text):
    answer = bot.command(command, text, user=BOB)
    assert answer.status_code == 200
    said = answer.json()
    assert said["response_type"] == "ephemeral"
    assert "Only <@U0ALICE> may deploy" in said["text"]
    assert quiet_for(slack) == []


def test_non_deployer_may_not_press_buttons(bot, slack):
    reminder = Message("C0DEPLOYS", "1.000001", "reminder", blocks.lock_reminder(
        LockInfo("hold", "alice (U0ALICE)", "db migration", datetime(2026, 1, 1, tzinfo=timezone.utc))))
    assert bot.press("Unlock", user=BOB, message=reminder).status_code == 200
    reply = slack.wait_for(lambda: slack.ephemeral("U0BOB"))
    assert "Only <@U0ALICE> may" in reply[0].text
    assert [c.method for c in quiet_for(slack)] == ["response_url"]


def test_commands_elsewhere_get_a_pointer_to_the_deploy_channel(bot, slack):
    answer = bot.command("/deploy", "main", channel="C0GENERAL").json()
    assert answer["response_type"] == "ephemeral"
    assert "<#C0DEPLOYS>" in answer["text"]
    assert quiet_for(slack) == []


def test_help_and_parse_errors_answer_only_the_asker(bot, slack):
    help_answer = bot.command("/deploy", "help", user=BOB, channel="C0GENERAL").json()
    assert help_answer["response_type"] == "ephemeral" and "/deploy REF" in help_answer["text"]
    bad = bot.command("/deploy", "-rf", user=ALICE).json()
    assert bad["response_type"] == "ephemeral" and "must not start with '-'" in bad["text"]
    bad = bot.command("/deploy", "lock", user=ALICE).json()
    assert "say why" in bad["text"]
    assert quiet_for(slack) == []


def test_status_works_anywhere_and_reports_errors_readably(bot, slack):
    """The router here is unreachable: status says so, privately, without a traceback."""
    answer = bot.command("/deploy", "status", user=BOB, channel="C0GENERAL")
    assert answer.status_code == 200 and answer.text == ""
    reply = slack.wait_for(lambda: slack.ephemeral("U0BOB"), timeout=20)[0]
    assert reply.text.startswith("❌ "), reply.text
    print(reply.text)
    assert "Traceback" not in reply.text and "do-token" not in reply.text
    assert json.dumps(reply.blocks).count("do-token") == 0
