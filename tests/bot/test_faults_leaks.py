"""Secrets never reach Slack: the failures most likely to leak them, through the bot under
gunicorn whose environment holds them all — DigitalOcean refusing the token (a wrong
token, and a 401 mid-promote), a DATABASE_URL with a password that cannot be reached or
does not even parse, a broken SSH key, a deploy step that prints its environment (shown
in the failure's last lines and in View log). Every message, edit, private answer, topic,
response_url post and HTTP answer the bot gave is searched for each secret, and for a
traceback; the bot's own log too.

Already covered: the CLI side of the same failures (tests/e2e/test_faults_secrets.py), an
unreachable router reported without the token (test_http.py, status only)."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sandbox import RESERVED_IP
from tests.support.bot_faults import DO_TOKEN, Answer, everything_shown
from tests.support.sshd import keygen

from .support import ALICE, BOB, CHANNEL, BotServer, newest, slack_env

DB_PASSWORD = "db-s3cret-Pa55w0rd"
WRONG_TOKEN = "dop_v1_" + "bad0" * 16


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shows(secret: str, text: str) -> bool:
    """Also when something wrapped or re-flowed the text."""
    return secret in text or secret in "".join(text.split())


def secrets_of(env: dict[str, str]) -> list[str]:
    return [env[k] for k in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DIGITALOCEAN_TOKEN")
            if env.get(k)] + [DO_TOKEN, DB_PASSWORD]


def settled(slack) -> bool:
    """Every operation message shows its outcome (it starts as the bare title)."""
    return not [m for m in slack.messages(CHANNEL)
                if m.text.startswith(("🚀 Deploy", "🔀 Promote", "↩️ Rollback"))]


def ask_everything(bot: BotServer, slack, commands) -> list[Answer]:
    """Send each (command, text, user); wait until each is answered somewhere."""
    answers = []
    shown = lambda: len(slack.messages(CHANNEL)) + len(slack.ephemeral())  # noqa: E731
    for command, text, user in commands:
        before = shown()
        r = bot.command(command, text, user)
        assert r.status_code == 200, (command, text, r.text)
        answers.append(Answer(r.status_code, r.text, 0.0))
        if not r.text:         # acknowledged: the answer comes later, in the channel or privately
            slack.wait_for(lambda b=before: shown() > b and settled(slack), timeout=30)
    return answers


def assert_clean(bot: BotServer, slack, answers, secrets, lines=()) -> str:
    slack.wait_for(lambda: settled(slack), timeout=60)
    shown = everything_shown(slack, *answers)
    assert "Traceback" not in shown and 'File "' not in shown
    for secret in [*secrets, *lines]:
        assert not shows(secret, shown), f"{secret[:12]}… is in what Slack was sent"
        assert not shows(secret, bot.log()), f"{secret[:12]}… is in the bot's log"
    return shown


def start(world, slack, tmp_path: Path, name: str, **env: str) -> BotServer:
    full = slack_env(slack, **{**world.env, **env})
    return BotServer(full, tmp_path / f"{name}.log", slack)


def test_digitalocean_token_and_step_environment_never_reach_slack(world, slack, tmp_path):
    fail_flag = tmp_path / "fail-now"
    config = tmp_path / "bluegreen.toml"
    # the whole environment, then the variables named like bluegreen's secrets last, so that
    # they are among the failure's last lines whatever else the environment holds
    secretish = "^(DIGITALOCEAN_|SLACK_|DATABASE_URL=|BLUEGREEN_SSH_KEY=)"
    step = f"env | grep -Ev '{secretish}'; env | grep -E '{secretish}' | sort; test ! -e {fail_flag}"
    config.write_text(world.sb.config_path.read_text().replace(
        '"git checkout --force --detach {sha}",',
        f'"git checkout --force --detach {{sha}}", "{step}",'))
    with start(world, slack, tmp_path, "env-step", BLUEGREEN_CONFIG=str(config)) as bot:
        answers = ask_everything(bot, slack, [("/deploy", "main", ALICE)])
        newest(slack, "ready to promote")
        answers += ask_everything(bot, slack, [("/deploy", "log 1", BOB)])
        log = slack.wait_for(lambda: slack.ephemeral(BOB[0]))[-1]
        assert "DIGITALOCEAN_API_URL=" in str(log.blocks)          # env ran and was shown…
        world.sb.do.fail_next("POST", rf"^/v2/reserved_ips/{RESERVED_IP}/actions$", 401)
        answers += ask_everything(bot, slack, [("/promote", "", ALICE)])
        refused = newest(slack, "Promote", "refused the token (401)")
        assert world.sb.live_identity() == "blue-sandbox", refused.text
        fail_flag.write_text("")                                 # the env step fails now
        answers += ask_everything(bot, slack, [("/deploy", "main", ALICE)])
        failed = newest(slack, "❌ Deploy of `main`", "failed.")
        assert "DIGITALOCEAN_API_URL=" in str(failed.blocks)     # its last lines are shown…
        bot.press("View log", user=BOB, message=failed)
        slack.wait_for(lambda: len(slack.ephemeral(BOB[0])) >= 2)
        assert_clean(bot, slack, answers, secrets_of(bot.env))     # …without a secret


def test_a_refused_digitalocean_token_is_said_plainly_without_it(world, slack, tmp_path):
    with start(world, slack, tmp_path, "wrong-token", DIGITALOCEAN_TOKEN=WRONG_TOKEN) as bot:
        answers = ask_everything(bot, slack, [("/deploy", "main", ALICE), ("/promote", "", ALICE),
                                              ("/rollback", "", ALICE), ("/deploy", "status", BOB),
                                              ("/deploy", "discard", ALICE)])
        bot_said = assert_clean(bot, slack, answers, [WRONG_TOKEN, *secrets_of(bot.env)])
        assert bot_said.count("DigitalOcean refused the token (401)") >= 4


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://deploy:{pw}@127.0.0.1:{port}/state?connect_timeout=2",   # nothing there
    "postgresql://deploy:{pw}@127.0.0.1:notaport/state",                           # does not parse
])
def test_a_database_password_never_reaches_slack(world, slack, tmp_path, url):
    database_url = url.format(pw=DB_PASSWORD, port=free_port())
    with start(world, slack, tmp_path, "db", DATABASE_URL=database_url) as bot:
        answers = ask_everything(bot, slack, [
            ("/deploy", "status", BOB), ("/deploy", "main", ALICE), ("/deploy", "history", BOB),
            ("/deploy", "log 1", BOB), ("/deploy", "lock maintenance", ALICE),
            ("/deploy", "unlock", ALICE), ("/deploy", "cancel", ALICE), ("/promote", "", ALICE),
            ("/rollback", "", ALICE)])
        bot_said = assert_clean(bot, slack, answers, secrets_of(bot.env))
        assert "database" in bot_said


def test_an_ssh_key_never_reaches_slack(world, slack, tmp_path):
    key = keygen(tmp_path / "id_ed25519")
    lines = key.read_text().splitlines()
    body = [line for line in lines if "PRIVATE KEY" not in line]
    broken = tmp_path / "broken_key"
    broken.write_text("\n".join(lines[:2] + lines[3:]) + "\n")       # a line lost in pasting
    known = tmp_path / "known_hosts"
    known.write_text("")
    base = world.sb.config_path.read_text().replace('transport = "local"', 'transport = "ssh"')
    config = tmp_path / "bluegreen.toml"
    for setting, env in ((f'key_file = "{broken}"', {}),
                         ("", {"BLUEGREEN_SSH_KEY": broken.read_text()})):
        config.write_text(f'{base}\n[ssh]\n{setting}\nknown_hosts = "{known}"\nconnect_timeout_s = 1\n')
        slack.clear_calls()
        with start(world, slack, tmp_path, "ssh", BLUEGREEN_CONFIG=str(config), **env) as bot:
            answers = ask_everything(bot, slack, [("/deploy", "main", ALICE),
                                                  ("/deploy", "status", BOB)])
            newest(slack, "❌ Deploy of `main`", "cannot use the SSH key")
            assert_clean(bot, slack, answers, secrets_of(bot.env), lines=body)
