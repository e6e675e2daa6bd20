"""The configuration package's shape: a key path given once, sections and rules registered by one line."""
from __future__ import annotations

import dataclasses
import tomllib

import pytest

from deploy_core import config
from deploy_core.config import Checker, Config, Rule, Section
from tests.support.configs import ENV, GOOD, problems


def test_a_checker_builds_the_key_path_from_the_steps_taken():
    root = Checker({"colours": {"green": {"hosts": [{"address": "h", "url": "nope"}]}}})
    host = root.at("colours", "green").at("hosts", 0)
    assert host.path == "colours.green.hosts[0]"
    assert host.url("url") == "nope"
    host.at("address").problem("odd")
    assert root.problems == ["colours.green.hosts[0].url: not a URL",
                             "colours.green.hosts[0].address: odd"]


def test_a_nested_problem_gets_its_full_path_once():
    found = problems(GOOD.replace('url = "http://10.0.0.3"', 'url = "not a url"'))
    assert found == ["colours.green.hosts[0].url: not a URL"]


@pytest.mark.parametrize("data, required, reported", [
    ({}, True, ["app: missing table"]),
    ({}, False, []),
    ({"app": 3}, False, ["app: must be a table"]),
    ({"app": {"name": "x"}}, True, []),
])
def test_a_table_is_checked_where_it_is_read(data, required, reported):
    root = Checker(data)
    table = root.table("app", required)
    assert root.problems == reported
    assert table.path == "app" and table.is_table == isinstance(data.get("app"), dict)
    assert table.fields == (data["app"] if table.is_table else {})


def test_readers_name_the_key_and_fall_back_to_the_default():
    t = Checker({"a": True, "b": "", "c": -1, "d": "x", "e": [1, "s"]}, "watch")
    assert t.number("a", 5.0) == 5.0
    assert t.string("b", "dflt", required=True) == ""
    assert t.integer("c", 7) == 7
    assert t.url_path("d", "/") == "x"                # kept, but the problem refuses the file
    assert [item.path for item in t.array("e").items()] == ["watch.e[0]", "watch.e[1]"]
    t.known("a", "b", "c", "e")
    assert t.problems == ["watch.a: must be a number, not a boolean", "watch.b: must not be empty",
                          "watch.c: must be >= 1", "watch.d: must start with /", "watch.d: unknown key"]


@dataclasses.dataclass(frozen=True)
class WatchConfig:
    duration_s: float = 300.0


@dataclasses.dataclass(frozen=True)
class WatchingConfig(Config):
    watch: WatchConfig = WatchConfig()


def watch(t: Checker) -> WatchConfig:
    t.known("duration_s")
    return WatchConfig(duration_s=t.number("duration_s", 300.0))


@pytest.fixture
def with_watch(monkeypatch):
    """[watch] registered the way DESIGN.md's next sections will be: its reader and one line."""
    monkeypatch.setattr(config, "Config", WatchingConfig)
    monkeypatch.setitem(config.SECTIONS, "watch", Section(watch, required=False))


def test_an_unregistered_section_is_an_unknown_key():
    assert problems(GOOD + "\n[watch]\nduration_s = 60\n") == ["watch: unknown key"]


def test_a_section_registered_with_one_function_is_read_and_checked(with_watch):
    cfg = config.parse(tomllib.loads(GOOD + "\n[watch]\nduration_s = 60\n"), ENV)
    assert cfg.watch == WatchConfig(duration_s=60.0)        # type: ignore[attr-defined]
    assert config.parse(tomllib.loads(GOOD), ENV).watch == WatchConfig()   # type: ignore[attr-defined]
    found = problems(GOOD + "\n[watch]\nduration_s = -1\nrollback = 1\n")
    assert found == ["watch.rollback: unknown key", "watch.duration_s: must be > 0"]


def test_a_rule_runs_once_right_after_the_sections_it_names(monkeypatch):
    seen = []

    def name_is_not_slack(c: Checker, env, app, promote) -> None:
        seen.append((app.name, promote.verify_count, env["DIGITALOCEAN_TOKEN"]))
        c.at("app", "name").problem("must not be slack")

    monkeypatch.setattr(config, "RULES", (*config.RULES, Rule(name_is_not_slack, ("app", "promote"))))
    found = problems(GOOD.replace('name = "shop"', 'name = "slack"')
                     .replace('url = "http://10.0.0.3"', 'url = "not a url"')
                     .replace('[slack]', '[slack]\nwatch_interval_s = 0'))
    assert seen == [("slack", 3, "t")]
    assert found == ["app.name: must not be slack", "colours.green.hosts[0].url: not a URL",
                     "slack.watch_interval_s: must be > 0"]


def test_every_section_is_a_field_of_config_and_every_rule_names_sections():
    assert set(config.SECTIONS) <= {f.name for f in dataclasses.fields(Config)}
    assert all(set(rule.needs) <= set(config.SECTIONS) for rule in config.RULES)


def test_the_environment_is_checked_with_the_file_but_not_kept():
    found = problems(GOOD.replace('url = "http://10.0.0.3"', 'url = "not a url"'), env={})
    assert found == ["colours.green.hosts[0].url: not a URL",
                     "env.DIGITALOCEAN_TOKEN: not set (needed by the digitalocean router)"]
    secret = {**ENV, "DIGITALOCEAN_TOKEN": "s3cret-token", "OTHER": "x"}
    cfg = config.parse(tomllib.loads(GOOD), secret)
    assert "env" not in {f.name for f in dataclasses.fields(cfg)}
    assert "s3cret-token" not in repr(cfg)


def test_every_public_name_is_still_importable_from_the_package():
    for name in ("Config", "Host", "AppConfig", "SSHConfig", "DeployConfig", "PromoteConfig", "SmokeCheck",
                 "ColourConfig", "RouterConfig", "SlackConfig", "COLOURS", "other", "parse", "load",
                 "find", "RUN_TIMEOUT_S"):
        assert hasattr(config, name), name
