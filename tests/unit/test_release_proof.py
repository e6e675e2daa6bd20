"""Release proof and smoke's building blocks: what a release route answered, what a colour
runs, the `[[smoke]] run` command, and the words a deploy may use about its evidence."""
from __future__ import annotations

import json
import os
import time
import tomllib
from pathlib import Path

import pytest

from deploy_core import config, web
from deploy_core.results import DeployResult
from deploy_core.running import Running, common
from deploy_core.smoke import check_host
from deploy_core.web import RealHTTP
from deploy_core.transports.local import LineBuffer
from tests.support.configs import ENV, GOOD, problems

A, B = "a1b2c3d" + "0" * 33, "b" * 40


@pytest.mark.parametrize("text, sha", [(A, A), (f"  {A}\n", A), (A[:7], A[:7]), (A.upper(), A),
                                       ("", None), ("a1b2c3", None), ("not a sha", None),
                                       ("<html>404</html>", None), (A + "0", None)])
def test_release_sha_reads_7_to_40_hex_digits(text, sha):
    assert web.release_sha(text) == sha


def test_same_release_accepts_a_prefix_of_at_least_seven():
    assert web.same_release(A, A) and web.same_release(A[:7], A)
    assert not web.same_release(A[:6], A) and not web.same_release(B, A)
    assert not web.same_release(None, A) and not web.same_release(A, None)


@pytest.mark.parametrize("answer, said", [
    (web.Answer(True, 200, A + "\n", "HTTP 200"), "a1b2c3d"),
    (web.Answer(True, 200, "", "HTTP 200"), "/version answered an empty body"),
    (web.Answer(True, 200, "hello world", "HTTP 200"), "/version answered 'hello world', not a sha"),
    (web.Answer(False, 404, "nope", "HTTP 404"), "/version answered HTTP 404"),
    (web.Answer(False, None, "", "connection failed (connection refused)"),
     "/version: connection failed (connection refused)"),
])
def test_describe_release_says_what_came_back(answer, said):
    assert web.describe_release(answer, "/version") == said


def test_a_colour_runs_what_all_its_hosts_run():
    assert common([Running(A, True), Running(A, True)]) == Running(A, True, "every host answered it")
    mixed = common([Running(A, True), Running(A, False)])
    assert mixed.sha == A and not mixed.proven
    assert common([Running(A, True), Running(B, True)]).sha is None
    assert "different releases" in common([Running(A, True), Running(B, True)]).detail
    assert common([Running(A, True), Running(None)]).sha is None
    assert common([]).sha is None


def test_user_agent_names_bluegreen_and_its_version():
    from deploy_core import __version__
    assert web.USER_AGENT == f"bluegreen/{__version__}"


def test_deploy_evidence_claims_only_what_was_checked():
    base = dict(deployment_id=1, colour="green", ref="main", sha=A, replaced_sha=None,
                smoke_ok=True, host_urls=("http://x",))
    proven = DeployResult(**base, release_proven=True, smoke_checks=2).evidence
    assert proven.endswith("ready to promote") and "every host serves it" in proven
    unproven = DeployResult(**base, release_proven=False, smoke_checks=2).evidence
    assert "ready" not in unproven and "cannot prove" in unproven
    no_smoke = DeployResult(**base, release_proven=True, smoke_checks=0).evidence
    assert "ready" not in no_smoke and "no smoke checks" in no_smoke


# -- configuration ------------------------------------------------------------------------
def test_release_path_and_run_checks_parse():
    text = GOOD.replace('public_url = "https://shop.example.com"',
                        'public_url = "https://shop.example.com"\nrelease_path = "/version"')
    text += '\n[[smoke]]\nname = "e2e"\nrun = "pytest e2e --base-url {url}"\ntimeout_s = 120\n'
    cfg = config.parse(tomllib.loads(text), ENV)
    assert cfg.app.release_path == "/version"
    e2e = cfg.smoke[-1]
    assert (e2e.run, e2e.path, e2e.timeout(5.0)) == ("pytest e2e --base-url {url}", None, 120.0)
    assert cfg.smoke[0].timeout(5.0) == 5.0 and cfg.smoke[0].run is None


def test_release_path_is_optional():
    assert config.parse(tomllib.loads(GOOD), ENV).app.release_path is None


@pytest.mark.parametrize("extra, problem", [
    ('[[smoke]]\nname = "x"\nrun = "pytest {sha}"\n', "smoke[1].run: unknown placeholder {sha}"),
    ('[[smoke]]\nname = "x"\nrun = "pytest"\npath = "/"\n', "smoke[1].path: not with run"),
    ('[[smoke]]\nname = "x"\nrun = ""\n', "smoke[1].run: must not be empty"),
    ('[[smoke]]\nname = "x"\nrun = "x"\ntimeout_s = 0\n', "smoke[1].timeout_s: must be > 0"),
    ('[[smoke]]\nname = "x"\nrun = "x"\ntimeout_s = inf\n', "smoke[1].timeout_s: must be a finite"),
])
def test_bad_run_checks_are_refused_with_their_key_path(extra, problem):
    found = problems(GOOD + "\n" + extra)
    assert any(p.startswith(problem) for p in found), found


def test_an_unknown_placeholder_in_a_step_is_a_config_problem_not_a_failed_deploy():
    text = GOOD.replace('"sudo systemctl reload shop"', '"deploy {version}"')
    assert "deploy.steps[1]: unknown placeholder {version} (this command may use {colour}, " \
           "{host}, {ref}, {sha})" in problems(text)


def test_release_path_must_be_a_path():
    text = GOOD.replace('public_url = "https://shop.example.com"',
                        'public_url = "https://shop.example.com"\nrelease_path = "version"')
    assert "app.release_path: must start with /" in problems(text)


# -- `[[smoke]] run` ----------------------------------------------------------------------
def run_config(tmp_path: Path, run: str, timeout_s: float = 10, output_limit: int = 64_000):
    text = GOOD.replace('path = "/srv/shop"', f'path = "/srv/shop"\noutput_limit = {output_limit}')
    text += f'\n[[smoke]]\nname = "e2e"\nrun = {json.dumps(run)}\ntimeout_s = {timeout_s}\n'
    where = tmp_path / "bluegreen.toml"
    where.write_text(text)
    cfg = config.parse(tomllib.loads(text), ENV, where)
    return cfg, cfg.smoke[-1]


def test_a_run_check_gets_the_quoted_url_and_passes_on_exit_0(tmp_path):
    cfg, check = run_config(tmp_path, "echo checking {url}; test {url} = http://h:1/a")
    outcome = check_host(cfg, RealHTTP(), check, "http://h:1/a")
    assert outcome.ok and outcome.exit_status == 0
    assert outcome.output == "checking http://h:1/a" and "passed" in outcome.detail
    weird = "http://h/$(touch pwned);x"
    outcome = check_host(cfg, RealHTTP(), check, weird)
    assert not outcome.ok and not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    assert f"checking {weird}" in outcome.output


def test_a_failing_run_check_says_its_exit_and_last_lines(tmp_path):
    cfg, check = run_config(tmp_path, "seq 1 30; echo 'FAILED test_checkout' >&2; exit 3")
    outcome = check_host(cfg, RealHTTP(), check, "http://h")
    assert not outcome.ok and outcome.exit_status == 3
    assert outcome.detail.startswith("`e2e` exited 3: ") and "FAILED test_checkout" in outcome.detail
    assert outcome.tail[-1] == "[stderr] FAILED test_checkout" and len(outcome.tail) == 12


def test_a_hanging_run_check_is_killed_with_its_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    cfg, check = run_config(tmp_path, f"sleep 60 & echo $! > {pidfile}; wait", timeout_s=0.5)
    outcome = check_host(cfg, RealHTTP(), check, "http://h")
    assert not outcome.ok and "ran past its 0.5s timeout and was stopped" in outcome.detail
    child = int(pidfile.read_text())
    for _ in range(100):
        if not os.path.exists(f"/proc/{child}") or "Z" in Path(f"/proc/{child}/stat").read_text().split(")")[-1][:3]:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the run check's child survived its timeout")


def test_a_run_check_printing_megabytes_is_kept_bounded(tmp_path):
    cfg, check = run_config(tmp_path, "yes line | head -c 5000000; echo the end", output_limit=2000)
    outcome = check_host(cfg, RealHTTP(), check, "http://h")
    assert outcome.ok and len(outcome.output) < 2200
    assert outcome.output.endswith("the end") and "characters cut" in outcome.output


def test_a_run_check_never_sees_bluegreens_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dop_v1_secret")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret")
    cfg, check = run_config(tmp_path, "env")
    outcome = check_host(cfg, RealHTTP(), check, "http://h")
    assert outcome.ok and "HOME=" in outcome.output
    assert "dop_v1_secret" not in outcome.output and "xoxb-secret" not in outcome.output


def test_a_run_check_runs_in_the_config_files_directory(tmp_path):
    cfg, check = run_config(tmp_path, "pwd")
    assert check_host(cfg, RealHTTP(), check, "http://h").output == str(tmp_path)


def test_line_buffer_keeps_head_and_tail_within_its_limit():
    buf = LineBuffer("stdout", None, keep=10)
    for chunk in (b"0123456789", b"abcdefghij", b"KLMNO"):
        buf.feed(chunk)
    kept = buf.finish()
    assert kept.startswith("01234") and kept.endswith("jKLMNO"[-5:]) and "15 characters cut" in kept
