"""`bluegreen` from a terminal: commands, --json, exit codes 0/1/2."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from deploy_core.cli import main


@pytest.fixture
def cli(cycle, monkeypatch, capsys):
    for key, value in cycle.sb.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BLUEGREEN_ACTOR", "carol")

    def run(*argv):
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_status_json_shape(cli):
    code, out, _ = cli("status", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"live", "idle", "router", "colours", "lock"}
    assert (data["live"], data["idle"], data["router"], data["lock"]) == ("blue", "green", "ok", None)
    assert data["colours"]["blue"]["healthy"] is True and data["colours"]["blue"]["sha"] is None
    assert data["colours"]["green"]["hosts"][0]["url"].startswith("http://127.0.0.43")


def test_cycle_and_exit_codes(cli):
    code, out, err = cli("deploy", "main")
    assert code == 0 and "is on green" in out
    code, out, _ = cli("promote")
    assert code == 0 and "green is live" in out and "release notes" in out
    code, _, err = cli("promote")
    assert code == 1 and "nothing has been deployed to blue" in err
    code, out, _ = cli("rollback")
    assert code == 0 and "blue is live" in out
    code, out, _ = cli("history", "--json")
    items = json.loads(out)
    assert [i["kind"] for i in items[:3]] == ["rollback", "promote", "deploy"]
    assert items[0]["actor"] == "cli:carol"
    code, out, _ = cli("log", str(items[2]["id"]))
    assert code == 0 and "git checkout --force --detach" in out
    code, _, err = cli("log", "999")
    assert code == 1 and "no deployment #999" in err


def test_lock_unlock_and_refusals(cli):
    code, out, _ = cli("lock", "migrating", "the", "db")
    assert code == 0 and "migrating the db" in out
    code, _, err = cli("deploy", "main")
    assert code == 1 and "cli:carol has a hold" in err and "migrating the db" in err
    code, out, _ = cli("status", "--json")
    lock = json.loads(out)["lock"]
    assert lock["kind"] == "hold" and lock["holder"] == "cli:carol" and lock["since"].endswith("Z")
    assert cli("unlock")[0] == 0
    code, out, _ = cli("unlock")
    assert code == 0 and "nothing was locked" in out


@pytest.mark.parametrize("argv", [["deploy", "main;id"], ["deploy", "-x"], ["deploy", "a..b"],
                                  ["frobnicate"], ["deploy"], ["promote", "--to", "red"], []])
def test_malformed_invocations_exit_2(cli, argv):
    with pytest.raises(SystemExit) as info:
        code = main(argv)
        raise SystemExit(code)
    assert info.value.code == 2


def test_cancel_and_discard(cli):
    code, out, _ = cli("cancel")
    assert code == 0 and "nothing to cancel" in out
    code, _, err = cli("discard")
    assert code == 1 and "nothing to discard" in err
    assert cli("deploy", "main")[0] == 0
    code, out, _ = cli("discard")
    assert code == 0 and "not promotable" in out
    code, _, err = cli("promote")
    assert code == 1 and "discarded by cli:carol" in err


def test_check_reports_each_part(cli):
    code, out, _ = cli("check")
    assert code == 0
    for part in ("configuration", "state database", "blue 127.0.0.42 health", "router"):
        assert part in out


def test_broken_config_exit_2_listing_every_problem(tmp_path):
    bad = tmp_path / "bluegreen.toml"
    bad.write_text('[app]\nname = "x"\npublic_url = "nope"\n[deploy]\nsteps = []\n')
    done = subprocess.run([sys.executable, "-m", "deploy_core.cli", "--config", str(bad), "status"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "app.public_url: not a URL" in done.stderr
    assert "colours: missing table" in done.stderr and "router: missing table" in done.stderr
