"""The bot on the production-shaped fleet: HTTP mode under gunicorn, state in Postgres,
driven by signed Slack requests; the Slack stand-in shows what the channel shows.

Deploys go over real SSH to the fleet's hosts (gunicorn behind nginx) and traffic moves
through the nginx router or the DigitalOcean stand-in's reserved IP; every assertion on
traffic is made through the public address."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from deploy_core.config import Host
from deploy_core.routers.nginx import upstream_text
from deploy_core.store.locks import pid_alive
from sandbox import DROPLETS, RESERVED_IP
from sandbox.repo import release_files
from sandbox.slack_api import SlackAPI, buttons_of, render_message
from tests.bot.support import ALICE, SECRET, BotServer, slack_env
from tests.bot.support import channel_text, found, newest
from tests.support.botproc import (CHANNEL, bot_env, group_members, kill_group, stored,
                                   write_config)
from tests.support.fleet import ROUTERS, WEB, Fleet
from tests.support.fleet import TOKEN as FLEET_TOKEN

pytestmark = pytest.mark.e2e
CAROL = ("U0CAROL", "carol")          # a second deployer
BLUE, GREEN = "blue-fleet", "green-fleet"


@pytest.fixture
def slack():
    with SlackAPI(channels={CHANNEL: "deploys"}, users=dict([ALICE, CAROL])) as api:
        yield api


class Bots:
    """Bot replicas for one router, all on the same config, Postgres schema and Slack."""

    def __init__(self, fleet: Fleet, router: str, slack: SlackAPI, tmp: Path) -> None:
        self.fleet, self.router, self.slack, self.tmp = fleet, router, slack, tmp
        self.config = write_config(fleet, router, tmp / "bluegreen.toml",
                                   [ALICE[0], CAROL[0]])
        self.started = 0

    def replica(self, **extra: str) -> BotServer:
        self.started += 1
        env = bot_env(self.fleet, self.router, self.config, slack_env(self.slack), **extra)
        return BotServer(env, self.tmp / f"bot-{self.started}.log", self.slack)


def bots_for(fleet: Fleet, router: str, slack: SlackAPI, tmp_path: Path) -> Bots:
    fleet.reset()                 # blue live, both colours on release 1.0.0, a fresh schema
    return Bots(fleet, router, slack, tmp_path)


@pytest.fixture(params=ROUTERS)
def bots(request, fleet: Fleet, slack: SlackAPI, tmp_path: Path) -> Bots:
    return bots_for(fleet, request.param, slack, tmp_path)


@pytest.fixture
def bots_do(fleet: Fleet, slack: SlackAPI, tmp_path: Path) -> Bots:
    """Scenarios about the bot rather than the router run on the digitalocean router."""
    return bots_for(fleet, "digitalocean", slack, tmp_path)


def shows(slack: SlackAPI, message) -> str:
    return render_message(slack.message(CHANNEL, message.ts), slack.users, slack.channels)


def labels(slack: SlackAPI, message) -> list[str]:
    return [b["text"]["text"] for _, b in buttons_of(slack.message(CHANNEL, message.ts))]


def wait_topic(slack: SlackAPI, topic: str) -> None:
    try:
        slack.wait_for(lambda: slack.topic(CHANNEL) == topic, 20)
    except AssertionError:
        raise AssertionError(f"topic is {slack.topic(CHANNEL)!r}, not {topic!r}") from None


def serving(fleet: Fleet, router: str) -> tuple[str, str]:
    """(identity, home page's first line) through the public address."""
    return fleet.serving(router)


def clean(slack: SlackAPI, *bots: BotServer) -> None:
    """No traceback and no token in the channel or the bots' logs."""
    channel = "\n".join(channel_text(slack))
    for text in (channel, *(b.log() for b in bots)):
        assert "Traceback" not in text
        assert slack.token not in text and FLEET_TOKEN not in text and SECRET not in text


def worker_of(bot: BotServer) -> int:
    """The pid of the one gunicorn worker of ``bot`` (its master's only group member)."""
    members = group_members(bot.proc.pid) - {bot.proc.pid}
    assert len(members) == 1, members
    return members.pop()


def at_once(*requests: tuple) -> list:
    """Send slash commands ``(bot, command, text, user)`` from threads released together."""
    start = threading.Barrier(len(requests), timeout=10)
    answers: list = [None] * len(requests)

    def send(i: int, bot: BotServer, command: str, text: str, user: tuple[str, str]) -> None:
        start.wait()
        answers[i] = bot.command(command, text, user=user)
    threads = [threading.Thread(target=send, args=(i, *r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    return answers


def test_full_cycle_deploy_promote_button_rollback(bots: Bots, fleet: Fleet, slack: SlackAPI):
    router = bots.router
    sha = fleet.add_commit("Shop v4: wishlist", {"VERSION": "1.3.0\n"})
    short, first = sha[:7], fleet.releases[0][:7]
    was = found(first)                # both colours ran 1.0.0 before bluegreen
    with bots.replica() as bot:
        wait_topic(slack, f"🔵 live: blue @ {was} · idle: green @ {was}")    # the bot is up and looked

        answer = bot.command("/deploy", "main")
        assert (answer.status_code, answer.text) == (200, "")          # acked, nothing to say
        deployed = newest(slack, "ready to promote")
        text = shows(slack, deployed)
        assert deployed.text == f"main @ {short} is on green: every host serves it, healthy, " \
                                "2 smoke checks passed: ready to promote"
        assert f"`main` @ `{short}` is on 🟢 green in " in text
        assert f"replaces {was} on green" in text and "✅ release · 127.0.0.13 · " in text and f"serves {short}" in text
        assert "by @alice" in text and "✅ resolve · 127.0.0.13 · " in text
        assert f"main → {short}" in text and "✅ health · 127.0.0.13" in text
        assert "Try it before it goes live: 127.0.0.13:8081 (http://127.0.0.13:8081)" in text
        assert "✅ smoke: home page · 127.0.0.13" in text and "✅ smoke: identity · 127.0.0.13" in text
        assert labels(slack, deployed) == ["Promote", "Discard"]
        assert serving(fleet, router) == (BLUE, f"Welcome to shop — version 1.0.0 ({first})")

        assert bot.press("Promote", message=deployed).status_code == 200
        promoted = newest(slack, "is live (was 🔵 blue")
        assert promoted.text == f"promoted green @ {short}: {fleet.public_url(router)} answers green"
        assert f"🟢 green @ `{short}` is live (was 🔵 blue @ `{first}`), verified through the public URL" \
            in shows(slack, promoted)
        assert labels(slack, promoted) == ["Rollback"]
        assert labels(slack, deployed) == [] and "Promote pressed by @alice" in shows(slack, deployed)
        assert serving(fleet, router) == (GREEN, f"Welcome to shop — version 1.3.0 ({short})")
        assert fleet.router_colour(router) == "green"
        wait_topic(slack, f"🟢 live: green @ {short} · idle: blue @ {was}")
        notes = newest(slack, f"Release notes: shop green @ {short} is live")
        assert shows(slack, notes).splitlines()[2:] == [       # blue serves 1.0.0: since then
            f"• `{short}` Shop v4: wishlist — Ada Lovelace",
            f"• `{fleet.releases[2][:7]}` Shop v3: gift cards — Margaret Hamilton",
            f"• `{fleet.releases[1][:7]}` Shop v2: free shipping banner — Grace Hopper"]

        assert bot.command("/rollback", "").status_code == 200
        rolled = newest(slack, "is live again")
        assert rolled.text == f"rolled back to blue @ {first}: {fleet.public_url(router)} answers blue"
        assert f"🔵 blue @ `{first}` is live again (was 🟢 green @ `{short}`)" in shows(slack, rolled)
        assert labels(slack, rolled) == []
        assert serving(fleet, router) == (BLUE, f"Welcome to shop — version 1.0.0 ({first})")
        assert fleet.router_colour(router) == "blue"
        wait_topic(slack, f"🔵 live: blue @ {was} · idle: green @ {short}")
    clean(slack, bot)


def test_smoke_failure_refuses_promote_until_forced(bots_do: Bots, fleet: Fleet, slack: SlackAPI):
    router = bots_do.router
    closed = release_files("1.3.0", "Back soon")["app.py"].replace(
        'TITLE = "Welcome to shop"', 'TITLE = "Closed for inventory"')
    sha = fleet.add_commit("Close the shop", {"app.py": closed, "VERSION": "1.3.0\n"})
    short = sha[:7]
    with bots_do.replica() as bot:
        bot.command("/deploy", "main")
        failed = newest(slack, "❌ Deploy of `main`")
        text = shows(slack, failed)
        assert f"❌ Deploy of `main` @ `{short}` to 🟢 green failed. smoke test failed on green" \
            in text
        assert "❌ smoke: home page · 127.0.0.13" in text and "Welcome" in text
        assert labels(slack, failed) == ["View log"]
        assert fleet.get(fleet.apps["green"].url + "/")[1].startswith(
            f"Closed for inventory — version 1.3.0 ({short})")
        assert serving(fleet, router)[0] == BLUE

        bot.command("/promote", "")
        refused = newest(slack, "Promote refused.")
        text = shows(slack, refused)
        assert "green cannot be promoted: the last deploy to green (#1, main @" in text
        assert "failed: 'home page' on 127.0.0.13: /: expected the page to contain 'Welcome'" \
            in text and "(`/promote force` waives this, never the health check)" in text
        assert serving(fleet, router)[0] == BLUE and fleet.router_colour(router) == "blue"

        bot.command("/promote", "force")
        forced = newest(slack, "Promote (FORCED)", "is live")
        text = shows(slack, forced)
        assert forced.text.startswith(f"promoted green @ {short} (FORCED): ")
        assert "FORCED promote of green by alice (U0ALICE)" in text
        assert "⚠️ forced: the smoke-test requirement was waived." in text
        assert serving(fleet, router) == (GREEN, f"Closed for inventory — version 1.3.0 ({short})")
        wait_topic(slack, f"🟢 live: green @ {short} · idle: blue @ {found(fleet.releases[0])}")
    clean(slack, bot)


def test_two_replicas_two_deploys_at_once_one_runs(bots_do: Bots, fleet: Fleet,
                                                    slack: SlackAPI, tmp_path: Path):
    # The winner waits at the seam holding the lock, so the loser meets the lock whatever
    # the timing, and the seam file says which process deploys.
    pause = tmp_path / "pause"
    pause.mkdir()
    seam = {"BLUEGREEN_PAUSE_AT": "deploy:locked", "BLUEGREEN_PAUSE_DIR": str(pause)}
    sha = fleet.add_commit("Shop v4: wishlist", {"VERSION": "1.3.0\n"})
    with bots_do.replica(**seam) as one, bots_do.replica(**seam) as two:
        workers = {"alice": worker_of(one), "carol": worker_of(two)}
        try:
            answers = at_once((one, "/deploy", "main", ALICE), (two, "/deploy", "main", CAROL))
            assert [(a.status_code, a.text) for a in answers] == [(200, ""), (200, "")]
            reached = pause / "deploy:locked.reached"
            slack.wait_for(reached.exists, 20)
            refused = newest(slack, "Deploy of `main` refused.")
        finally:
            (pause / "deploy:locked.go").write_text("")
        deployed = newest(slack, "ready to promote")
    running = int(reached.read_text())
    winner = next(name for name, pid in workers.items() if pid == running)
    loser = "carol" if winner == "alice" else "alice"
    text = shows(slack, refused)
    assert f"Deploy `main` → …\n  by @{loser}\n🚫 Deploy of `main` refused. " \
           f"🔒 @{winner} is running an operation since " in text
    assert text.endswith("min ago): deploy main")
    assert f"by @{winner}" in shows(slack, deployed) and f"`main` @ `{sha[:7]}`" in shows(
        slack, deployed)
    assert [m.text.endswith("ready to promote") for m in slack.messages(CHANNEL)].count(True) == 1
    assert ["refused" in m.text for m in slack.messages(CHANNEL)].count(True) == 1
    rows = stored(fleet.database_url)
    assert [(d["id"], d["status"], d["actor"]) for d in rows["deployments"]] == [
        (1, "succeeded", f"{winner} (U0{winner.upper()})")]
    assert rows["lock"]["owner"] is None
    assert fleet.router_colour("digitalocean") == "blue"
    clean(slack, one, two)


def test_bot_killed_mid_deploy_is_recovered_on_restart(bots_do: Bots, fleet: Fleet,
                                                       slack: SlackAPI, tmp_path: Path):
    pause = tmp_path / "pause"
    pause.mkdir()
    sha = fleet.add_commit("Shop v4: wishlist", {"VERSION": "1.3.0\n"})
    bot = bots_do.replica(BLUEGREEN_PAUSE_AT="deploy:health", BLUEGREEN_PAUSE_DIR=str(pause))
    with bot:
        bot.command("/deploy", "main")
        reached = pause / "deploy:health.reached"
        slack.wait_for(reached.exists, 30)               # steps done, health not checked yet
        worker = int(reached.read_text())
        killed = kill_group(bot.proc)
    assert {bot.proc.pid, worker} <= killed and not pid_alive(worker)
    left = stored(fleet.database_url)                    # as the dead bot left it
    assert (left["lock"]["kind"], left["lock"]["holder"], left["lock"]["pid"]) == (
        "deploy", "alice (U0ALICE)", worker)
    assert [(d["id"], d["status"]) for d in left["deployments"]] == [(1, "running")]
    assert serving(fleet, "digitalocean")[0] == BLUE

    with bots_do.replica() as again:
        notice = newest(slack, "was interrupted", timeout=20)     # said at start, unasked
        assert shows(slack, notice).startswith(
            "⚠️ Deploy #1 to green by @alice, started ")
        assert shows(slack, notice).endswith(
            "was interrupted: the bot stopped while it ran. It is marked interrupted and its "
            "lock released; deploy again before promoting.")
        after = stored(fleet.database_url)
        assert after["lock"]["owner"] is None
        assert [(d["id"], d["status"]) for d in after["deployments"]] == [(1, "interrupted")]
        assert "interrupted: alice (U0ALICE)'s operation stopped (process " \
            f"{worker} on " in after["deployments"][0]["error"]

        again.command("/deploy", "status")
        status = render_message(slack.wait_for(lambda: slack.ephemeral("U0ALICE"))[0])
        assert "Last deploy #1: `main` interrupted (not promotable)" in status
        assert "No lock: deploys are open." in status
        again.command("/deploy", "main")                          # the lock is free again
        deployed = newest(slack, "ready to promote")
        assert f"`main` @ `{sha[:7]}` is on 🟢 green" in shows(slack, deployed)
        assert labels(slack, deployed) == ["Promote", "Discard"]
    assert "by @alice" in shows(slack, deployed)
    assert [d["status"] for d in stored(fleet.database_url)["deployments"]] == [
        "interrupted", "succeeded"]
    clean(slack, again)


def switch_by_hand(fleet: Fleet, router: str, colour: str) -> None:
    """Move traffic the way a person does outside bluegreen: the DigitalOcean console, or
    editing the front nginx's upstream file and reloading it."""
    if router == "digitalocean":
        fleet.do.assign_now(RESERVED_IP, DROPLETS[colour])
    else:
        host = Host(WEB[colour][0], None, fleet.apps[colour].url)
        fleet.front.reset(upstream_text(colour, [host]))
    deadline = time.monotonic() + 10
    while fleet.serving(router)[0] != f"{colour}-fleet":
        assert time.monotonic() < deadline, f"{router} did not move to {colour} by hand"
        time.sleep(0.05)


@pytest.mark.parametrize("when", ["before-next-tick", "after-next-tick"])
def test_a_hand_switch_right_after_ours_is_announced_once(bots: Bots, fleet: Fleet,
                                                          slack: SlackAPI, when: str):
    """Our verified switch records where it left the router, so a switch back by hand —
    seconds later, before or after the next look — is news, told once by one replica."""
    bots.config.write_text(bots.config.read_text().replace("watch_interval_s = 600",
                                                           "watch_interval_s = 1"))
    sha = fleet.add_commit("Shop v4", {"VERSION": "1.3.0\n"})
    with bots.replica() as one, bots.replica() as two:
        one.command("/deploy", "main")
        newest(slack, "ready to promote")
        one.command("/promote", "")
        newest(slack, "is live", sha[:7])
        slack.wait_for(lambda: slack.topic(CHANNEL).startswith(f"🟢 live: green @ {sha[:7]}"), 20)
        if when == "after-next-tick":
            time.sleep(2.5)                    # both replicas have looked at green since
        switch_by_hand(fleet, bots.router, "blue")
        outside = newest(slack, "switched outside bluegreen", timeout=15)
        assert "🔵 blue is live now (was 🟢 green)" in shows(slack, outside)
        try:
            slack.wait_for(lambda: slack.topic(CHANNEL).startswith("🔵 live: blue"), 15)
        except AssertionError:
            raise AssertionError(f"the topic is {slack.topic(CHANNEL)!r}; the replicas logged:\n"
                                 + one.log()[-3000:] + "\n---\n" + two.log()[-3000:]) from None
        time.sleep(2.5)                        # more looks by both replicas: nothing new
        said = [t for t in channel_text(slack) if "outside bluegreen" in t]
        assert len(said) == 1, said
        assert not [t for t in channel_text(slack) if "command line" in t or "outside this channel" in t]
        clean(slack, one, two)
