"""The Slack side of `bluegreen demo`: the real App driven by signed requests,
printed as Slack shows it; scripted and interactive."""
from __future__ import annotations

import io
import os
import tomllib

from deploy_core import config as config_mod
from sandbox.slack_demo import SlackDemo, run_interactive, run_scripted
from tests.support.bot_faults import Refusing

from .payload_cases import TOO_LARGE_TEXT, promote_click, unreadable
from .support import MINIMAL_TOML


def load(sb):
    env = {**os.environ, **sb.env}
    return config_mod.load(sb.config_path, env), env


def test_scripted_demo_shows_the_whole_conversation(sandbox):
    sandbox.add_commit("Faster checkout", {"speed.txt": "fast\n"})
    config, env = load(sandbox)
    out = io.StringIO()
    assert run_scripted(config, env, out=out, progress_interval=0.2) == 0
    shown = out.getvalue()
    for line in ["alice> /deploy status", "shop: blue-green status", "alice> /deploy main",
                 "ready to promote", "[1: Promote]  [2: Discard]", "alice clicks [Promote]",
                 "Promote this release?", "#deploys topic is now: 🟢 live: green @",
                 "Release notes: shop green @", "Faster checkout — Ada Lovelace",
                 "alice clicks [Rollback]", "is live again",
                 "The channel topic reads: 🔵 live: blue @ ", "(not deployed by bluegreen) · idle: green @"]:
        assert line in shown, f"{line!r} missing from:\n{shown}"
    assert "Traceback" not in shown


def test_interactive_demo_takes_typed_commands_and_clicks(sandbox):
    config, env = load(sandbox)
    typed = iter(["/deploy main", "buttons", "press 1", "n", "press 1", "y", "/deploy history",
                  "press 9", "quit"])
    out = io.StringIO()
    assert run_interactive(config, env, out=out, input=lambda prompt: next(typed),
                           progress_interval=0.2) == 0
    shown = out.getvalue()
    assert "1: [Promote]" in shown and "2: [Discard]" in shown
    assert "alice clicks [Not yet]: nothing happens" in shown
    assert "is live (was 🔵 blue" in shown
    assert "History (newest first)" in shown and "there is no button 9" in shown


def test_the_demo_refuses_what_the_http_endpoint_refuses(tmp_path):
    """The demo's dispatch runs the same size and shape checks as the HTTP endpoint, and
    shows the person the same sentence."""
    config = config_mod.parse(tomllib.loads(MINIMAL_TOML), {"DIGITALOCEAN_TOKEN": "t"})
    double, out = Refusing(), io.StringIO()
    demo = SlackDemo(config, {"DATABASE_URL": f"sqlite:///{tmp_path}/state.db"},
                     pipeline=double, out=out)
    try:
        good = promote_click(demo.slack, demo.user)
        for raw, _ in unreadable(good, 1):
            said = demo._dispatch(raw.decode())
            assert "could not read this request" in said, (raw[:80], said)
            assert f"(only you can see this)\n  │ {said}" in out.getvalue()
        said = demo.slash("/deploy " + TOO_LARGE_TEXT)
        assert "could not read this request (it is too large)" in said
        # nothing reached Bolt (its first request asks auth.test) or the pipeline
        assert demo.slack.calls == [] and double.calls == []

        assert "/deploy REF" in demo.slash("/deploy help")              # the control
        assert [c.method for c in demo.slack.calls] == ["auth.test"]
    finally:
        demo.close()
    assert "Traceback" not in out.getvalue() and "HTTP 500" not in out.getvalue()
