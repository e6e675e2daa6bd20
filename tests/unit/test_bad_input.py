"""Bad input of every shape, with hypothesis: refs, command lines and configuration files.

Each gets a clear refusal (exit 2 and a message, or ConfigError listing the problems),
never a traceback or another exception, never a shell, never a record of something done.
The CLI runs for real (``deploy_core.cli.main``) over a real SQLite store; only the
transport and the router are replaced, by ones that fail the test if anything reaches them.
"""
from __future__ import annotations

import copy
import io
import math
import re
import tomllib
from datetime import date, datetime, time, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st
from rich.console import Console

from deploy_core import config, factory
from deploy_core.cli import COMMANDS, main
from deploy_core.errors import ConfigError, RefError
from deploy_core.events import Commit, Notice, OperationStarted, OutputLine, StepFinished
from deploy_core.printer import Printer, print_check, print_history, print_log, print_notes
from deploy_core.refs import validate_ref
from deploy_core.results import CheckItem
from deploy_core.store import Store

SHELL = ";|&$`'\"<>(){}[]*?!~#% \t\n\r\\\x00\x1b"
ODD = "é中\u200b\u202eаﬁ\U0001f680\ufeff"       # accents, CJK, zero-width, RTL override, Cyrillic а, emoji
REF_ALPHABET = "abcAB09._/-" + SHELL + ODD
CRAFTED = ["", "-", "--", "-x", "--upload-pack=touch /tmp/pwned", "..", "a/../b", "main..dev",
           "x" * 10_000, "x" * 201, "main; rm -rf /", "$(id)", "`id`", "main\nid", "ma in",
           "'", '"', "main|cat", "/abs", "trailing/", "a//b", "x.lock", "mаin", "main\u200b",
           "\x00", "main\x00", "ref\r", "~", "HEAD^", "a:b", "@{-1}", "*"]
refs = st.one_of(st.sampled_from(CRAFTED), st.text(REF_ALPHABET, max_size=60),
                 st.text(max_size=300))
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

# a configuration that is valid with ENV: the starting point of every mutation
GOOD = """
[app]
name = "shop"
public_url = "http://127.0.0.1:9"

[deploy]
transport = "local"
path = "/srv/{colour}"
steps = ["git checkout --force --detach {sha}", "sudo systemctl reload shop"]
step_timeout_s = 30

[promote]
verify_count = 2

[[smoke]]
name = "home page"
path = "/"
contains = "Welcome"

[colours.blue]
identity = "blue-production"
hosts = [{ address = "127.0.0.2", url = "http://127.0.0.2:8000" }]
droplet_id = 111111

[colours.green]
identity = "green-production"
hosts = [{ address = "127.0.0.3:2222", url = "http://127.0.0.3:8000" }]
droplet_id = 222222

[router]
kind = "digitalocean"
reserved_ip = "203.0.113.7"
action_timeout_s = 5

[slack]
channel = "C0DEPLOYS"
deployers = ["U0ALICE"]
"""
ENV = {"DIGITALOCEAN_TOKEN": "dop_v1_unit", "DIGITALOCEAN_API_URL": "http://127.0.0.1:9"}


# -- refs -------------------------------------------------------------------------------------
ALLOWED = re.compile(r"[A-Za-z0-9._/-]{1,200}")


@given(refs)
@example("x" * 10_000)
def test_validate_ref_accepts_only_what_design_allows(ref):
    try:
        accepted = validate_ref(ref)
    except RefError as refused:
        assert refused.exit_code == 2
        assert 0 < len(str(refused)) < 200              # a 10 000-character ref is not echoed
        assert "\n" not in str(refused)
        return
    assert accepted == ref
    assert ALLOWED.fullmatch(ref) and not ref.startswith("-") and ".." not in ref


# -- the CLI ----------------------------------------------------------------------------------
class Unreachable:
    """Stands in for the transport and the router: nothing may get this far."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __getattr__(self, name: str) -> Any:
        if name == "close":
            return lambda: None
        raise AssertionError(f"bad input reached the {self.what} ({name})")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"bad input reached the {self.what}: {args!r}")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch, capsys):
    """``cli(*argv) -> (exit code, stdout, stderr)`` on a valid config and a fresh state file;
    the transport and router refuse to be used. ``SystemExit`` (argparse) is an exit code."""
    path = tmp_path / "bluegreen.toml"
    path.write_text(GOOD)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    for key, value in {**ENV, "BLUEGREEN_CONFIG": str(path), "DATABASE_URL": state,
                       "BLUEGREEN_ACTOR": "fuzz"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(factory, "make_transport", lambda cfg, env: Unreachable("transport"))
    monkeypatch.setattr(factory, "make_router", lambda cfg, env, t, on_event=None: Unreachable("router"))
    monkeypatch.setattr("subprocess.Popen", Unreachable("shell"))

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exited:
            code = exited.code
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    run.state = state  # type: ignore[attr-defined]
    return run


def nothing_recorded(state: str) -> bool:
    store = Store(state)
    try:
        return store.history() == [] and store.current_lock() is None
    finally:
        store.close()


def asks_for_help(word: str) -> bool:
    """argparse answers -h, -hANYTHING and the prefixes of --help with the help text."""
    return word.startswith("-h") or (len(word) >= 3 and "--help".startswith(word))


@FAST
@given(refs)
@example("[/]")                                           # rich markup: found by this test
@example("[red]main")
def test_deploy_with_a_bad_ref_exits_2_and_reaches_nothing(cli, ref):
    assume(not asks_for_help(ref))
    try:
        validate_ref(ref)
        assume(False)                                     # a good ref: not this test's business
    except RefError:
        pass
    code, out, err = cli("deploy", ref)
    assert code == 2
    assert err.strip() and "REF" in err or "usage:" in err
    assert nothing_recorded(cli.state)
    if "REF" in err and 0 < len(ref) <= 40 and not set(ref) & set("\n\r\x1b\x00"):
        assert flat(repr(ref)) in flat(err)              # the refused REF is shown as typed


@FAST
@given(st.text(REF_ALPHABET + "status", min_size=1, max_size=30),
       st.lists(st.text(max_size=20), max_size=3))
@example("deploy2", [])
@example("Deploy", ["main"])
@example("stat", [])
def test_unknown_subcommands_exit_2(cli, command, rest):
    assume(command not in COMMANDS and not command.startswith("-"))
    code, _, err = cli(command, *rest)
    assert code == 2 and "invalid choice" in err
    assert nothing_recorded(cli.state)


@pytest.mark.parametrize("argv", [
    [], ["deploy"], ["deploy", "main", "extra"], ["promote", "--to", "red"], ["promote", "--to"],
    ["promote", "--force=yes"], ["log"], ["log", "abc"], ["log", "1.5"], ["log", "0"], ["log", "-5"],
    ["log", "99999999999999999999"], ["history", "--limit", "-3"], ["history", "--limit", "0"],
    ["history", "--limit", "99999999999999999999"], ["history", "--limit", "ten"],
    ["lock"], ["lock", " ", "\t"], ["--config"], ["status", "--json", "--yaml"],
])
def test_malformed_invocations_exit_2_with_a_message(cli, argv):
    code, out, err = cli(*argv)
    assert code == 2, (code, out, err)
    assert err.strip()
    assert nothing_recorded(cli.state)


@FAST
@given(st.lists(st.text(SHELL + ODD + "ab", min_size=1, max_size=400), min_size=1, max_size=4))
@example(["x" * 10_000])
@example(["[/]"])
@example(["[bold]db", "migration[/bold]"])
def test_lock_reasons_of_every_shape_are_stored_as_plain_text(cli, words):
    assume(not any(w.startswith("-") for w in words))     # option-like words are argparse's
    code, out, err = cli("lock", *words)
    reason = " ".join(" ".join(words).split())
    if not reason:
        assert code == 2 and "say why" in err
        assert nothing_recorded(cli.state)
        return
    assert code == 0, err
    store = Store(cli.state)
    try:
        lock = store.current_lock()
        assert (lock.kind, lock.reason) == ("hold", reason[:300])
    finally:
        store.close()
    if "\x1b" not in reason and "\r" not in reason:      # the terminal's own controls aside
        assert flat(reason[:300]) in flat(out)            # shown as typed, markup or not
    assert cli("unlock")[0] == 0


def flat(text: str) -> str:
    """``text`` without whitespace: what survives the printer's line wrapping."""
    return "".join(text.split())


@given(st.text("[]/\\ab=#@ ", min_size=1, max_size=40))
@example("[/]")
@example("[/dim]")
@example("[bold]x")
@example("[skip ci] fix the build")
@example("[link=file:///etc/passwd]click[/link]")
def test_the_terminal_printer_shows_any_text_literally(text):
    """Names, reasons, step output, answers, commit subjects: printed as they are, never
    read as rich markup (where ``[/]`` would crash the CLI after the work was done)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=500, color_system=None)
    printer = Printer(console, verbose=True)
    printer(OperationStarted(kind="deploy", colour="green", actor=text, ref="main"))
    printer(OutputLine(name=text, host=text, stream="stdout", line=text))
    printer(StepFinished(name=text, host=text, ok=False, elapsed=0.1, detail=text, tail=(text,)))
    printer(Notice(text, level="warning"))
    print_notes(console, [Commit("a" * 40, text, text)])
    when = datetime(2026, 11, 27, tzinfo=timezone.utc)
    dep = SimpleNamespace(id=1, ref="main", sha="a" * 40, colour="green", actor=text,
                          status="failed", error=text)
    step = SimpleNamespace(name=text, host=text, exit_status=1, command=text, output=text)
    print_log(console, dep, [step])
    print_check(console, [CheckItem(text, False, text, text)])
    print_history(console, [SimpleNamespace(id=1, kind="deploy", colour="green", ref="main",
                                            sha=None, actor=text, status="failed", started_at=when)])
    assert flat(buffer.getvalue()).count(flat(text)) >= 15      # every place it was given


# -- configuration files ---------------------------------------------------------------------
ODD_VALUES = st.sampled_from([
    "", " ", "x", "not a url", "http://", "/", "-rf", "{token}", 0, -1, 2**63 - 1, 1.5, -0.0,
    math.nan, math.inf, -math.inf, True, False, [], [1, "a"], [{}], {}, {"a": 1},
    date(2026, 11, 27), datetime(2026, 11, 27, 6, 0), time(6, 0)])


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a parsed TOML document (list items by index)."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        found.append(prefix + (key,))
        found += _paths(value, prefix + (key,))
    return found


@st.composite
def mutated(draw) -> dict:
    """The good document with a few keys dropped or given a value of another type."""
    doc = tomllib.loads(GOOD)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(draw(ODD_VALUES))
    return doc


def check_outcome(load) -> None:
    """``load()`` gives a Config that keeps every promise, or ConfigError naming each problem."""
    try:
        cfg = load()
    except ConfigError as refused:
        assert refused.exit_code == 2 and refused.problems
        for problem in refused.problems:
            assert re.match(r"^[^:\s]+: \S", problem) or ": " in problem, problem
        return
    assert set(cfg.colours) == {"blue", "green"}
    for colour in cfg.colours.values():
        assert colour.identity and colour.hosts
        assert all(h.address and h.url.startswith(("http://", "https://")) for h in colour.hosts)
    assert cfg.colours["blue"].identity != cfg.colours["green"].identity
    assert cfg.deploy.steps and all(isinstance(s, str) and s.strip() for s in cfg.deploy.steps)
    for value in (cfg.deploy.step_timeout_s, cfg.deploy.health_timeout_s, cfg.deploy.lease_s,
                  cfg.deploy.health_interval_s, cfg.promote.verify_timeout_s,
                  cfg.promote.verify_interval_s, cfg.router.action_timeout_s,
                  cfg.router.action_interval_s, cfg.router.api_timeout_s, cfg.app.request_timeout_s):
        assert math.isfinite(value) and value >= 0
    assert cfg.router.kind in ("digitalocean", "nginx") and 0 < cfg.ssh.port < 65536


@settings(max_examples=300, deadline=None)
@given(mutated())
@example({**tomllib.loads(GOOD), "colours": {}})
@example({**tomllib.loads(GOOD), "colours": {"blue": {}, "green": tomllib.loads(GOOD)["colours"]["green"]}})
@example({**tomllib.loads(GOOD), "deploy": {**tomllib.loads(GOOD)["deploy"], "step_timeout_s": math.nan}})
@example({**tomllib.loads(GOOD), "promote": {"verify_timeout_s": math.inf}})
def test_mutated_documents_give_a_good_config_or_config_error(doc):
    check_outcome(lambda: config.parse(doc, ENV))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(GOOD)), st.integers(0, len(GOOD)), st.text(max_size=8))
@example(len(GOOD) // 2, len(GOOD) // 2, "")
def test_truncated_or_garbled_files_give_a_good_config_or_config_error(tmp_path_factory, cut, at, garbage):
    path = tmp_path_factory.mktemp("cfg") / "bluegreen.toml"
    text = GOOD[:cut]
    path.write_text(text[:at] + garbage + text[at:], encoding="utf-8")
    check_outcome(lambda: config.load(path, ENV))


@pytest.mark.parametrize("content", [b"\xff\xfe[app]\n", b"[app]\nname = \"x\x00\"\n", b"", b"=",
                                     b"[[colours]]\n", b"colours = 3\n" + GOOD.encode()])
def test_unreadable_files_are_config_errors(tmp_path, content):
    path = tmp_path / "bluegreen.toml"
    path.write_bytes(content)
    check_outcome(lambda: config.load(path, ENV))
    with pytest.raises(ConfigError):
        config.load(tmp_path, ENV)                      # a directory


def test_the_cli_reports_a_broken_config_with_exit_2_listing_problems(cli, tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text(GOOD.replace('hosts = [{ address = "127.0.0.2", url = "http://127.0.0.2:8000" }]',
                                   "hosts = 3")
                      .replace("step_timeout_s = 30", "step_timeout_s = nan"))
    code, out, err = cli("--config", str(broken), "deploy", "main")
    assert code == 2
    assert "deploy.step_timeout_s: must be a finite number" in err
    assert "colours.blue.hosts: must be an array" in err
