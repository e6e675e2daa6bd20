"""One reader per section of ``bluegreen.toml``.

Each takes the ``Checker`` standing at its table (or, for ``[[smoke]]``, its
array) and returns the section's dataclass, built from defaults where a value
is bad: the problems are recorded, and ``parse`` refuses the file if any are.
"""
from __future__ import annotations

from ..refs import PLACEHOLDERS, RUN_PLACEHOLDERS, placeholder_problem
from .model import (COLOURS, AppConfig, ColourConfig, DeployConfig, Host, PromoteConfig, RouterConfig,
                    SlackConfig, SmokeCheck, SSHConfig)
from .reader import Checker


def app(t: Checker) -> AppConfig:
    t.known("name", "public_url", "identity_path", "health_path", "release_path", "request_timeout_s")
    return AppConfig(
        name=t.string("name", "app", required=True) or "app",
        public_url=t.url("public_url"),
        identity_path=t.url_path("identity_path", "/hostname"),
        health_path=t.url_path("health_path", "/healthz"),
        release_path=t.url_path("release_path", None),
        request_timeout_s=t.number("request_timeout_s", 5.0),
    )


def deploy(t: Checker) -> DeployConfig:
    t.known("transport", "path", "fetch", "steps", "step_timeout_s", "health_timeout_s",
            "health_interval_s", "lease_s", "output_limit")
    transport = t.string("transport", "ssh")
    if transport not in ("ssh", "local"):
        t.at("transport").problem('must be "ssh" or "local"')
    steps = []
    for step in t.array("steps").items():
        if not isinstance(step.data, str) or not step.data.strip():
            step.problem("must be a non-empty string")
            continue
        if problem := placeholder_problem(step.data, PLACEHOLDERS):
            step.problem(problem)
        steps.append(step.data)
    if not steps and "steps" in t.fields:
        t.at("steps").problem("must list at least one command")
    section = DeployConfig(
        transport=transport or "ssh",
        path=t.string("path", ".", required=True) or ".",
        fetch=t.string("fetch", DeployConfig.fetch) or "",
        steps=tuple(steps),
        step_timeout_s=t.number("step_timeout_s", 600.0),
        health_timeout_s=t.number("health_timeout_s", 60.0),
        health_interval_s=t.number("health_interval_s", 0.5),
        lease_s=t.number("lease_s", 30.0),
        output_limit=t.integer("output_limit", 64_000, minimum=1000),
    )
    if "steps" not in t.fields and t.fields:
        t.at("steps").problem("missing")
    return section


def ssh(t: Checker) -> SSHConfig:
    t.known("user", "port", "key_file", "known_hosts", "connect_timeout_s")
    section = SSHConfig(
        user=t.string("user", "deploy") or "deploy",
        port=t.integer("port", 22) or 22,
        key_file=t.string("key_file", None),
        known_hosts=t.string("known_hosts", None),
        connect_timeout_s=t.number("connect_timeout_s", 10.0),
    )
    if section.port > 65535:
        t.at("port").problem("must be <= 65535")
    return section


def promote(t: Checker) -> PromoteConfig:
    t.known("verify_count", "verify_interval_s", "verify_timeout_s")
    return PromoteConfig(
        verify_count=t.integer("verify_count", 3) or 3,
        verify_interval_s=t.number("verify_interval_s", 0.2, exclusive=False),
        verify_timeout_s=t.number("verify_timeout_s", 30.0),
    )


def smoke(t: Checker) -> tuple[SmokeCheck, ...]:
    return tuple(check for i, item in enumerate(t.items()) if (check := _smoke_check(item, i + 1)))


def _smoke_check(t: Checker, number: int) -> SmokeCheck | None:
    if not t.is_table:
        t.problem("must be a table")
        return None
    t.known("name", "path", "status", "contains", "run", "timeout_s")
    name = t.string("name", f"check {number}") or f"check {number}"
    timeout_s = t.number("timeout_s", None)
    if "run" in t.fields:
        for key in ("path", "status", "contains"):
            if key in t.fields:
                t.at(key).problem("not with run: a check is a path or a command")
        run = t.string("run", "", required=True) or ""
        if problem := placeholder_problem(run, RUN_PLACEHOLDERS):
            t.at("run").problem(problem)
        return SmokeCheck(name=name, path=None, run=run, timeout_s=timeout_s)
    status = t.integer("status", 200, minimum=100)
    if status > 599:
        t.at("status").problem("must be an HTTP status (100-599)")
    return SmokeCheck(name=name, path=t.url_path("path", "/"), status=status or 200,
                      contains=t.string("contains", None), timeout_s=timeout_s)


def colours(t: Checker) -> dict[str, ColourConfig]:
    """Both colours; a missing or malformed ``[colours]`` is reported by ``parse``."""
    t.known(*COLOURS)
    if not t.is_table:
        return {}
    found = {}
    for name in COLOURS:
        if (table := t.table(name)).is_table:
            found[name] = _colour(table, name)
    return found


def _colour(t: Checker, name: str) -> ColourConfig:
    t.known("identity", "hosts", "droplet_id")
    hosts = t.array("hosts", required=True)
    if t.fields.get("hosts") == []:
        hosts.problem("must list at least one host")
    found = tuple(host for item in hosts.items() if (host := _host(item)))
    return ColourConfig(name=name, identity=(t.string("identity", "", required=True) or "").strip(),
                        hosts=found, droplet_id=t.integer("droplet_id", None))


def _host(t: Checker) -> Host | None:
    if not t.is_table:
        t.problem("must be a table like { address = \"10.0.0.2\", url = \"http://10.0.0.2\" }")
        return None
    t.known("address", "url")
    address = t.string("address", "", required=True) or ""
    url = t.url("url")
    port = None
    if address.count(":") == 1:
        address, _, port_text = address.partition(":")
        if port_text.isdigit() and 0 < int(port_text) < 65536:
            port = int(port_text)
        else:
            t.at("address").problem(f"bad port {port_text!r}")
    if address and (address.startswith("-") or any(ch.isspace() for ch in address)):
        t.at("address").problem("not a host name or address")
    return Host(address=address, port=port, url=url)


def router(t: Checker) -> RouterConfig:
    t.known("kind", "reserved_ip", "action_timeout_s", "action_interval_s", "api_timeout_s",
            "host", "upstream_file", "test", "reload")
    kind = t.string("kind", "", required=True)
    if t.fields and kind not in ("digitalocean", "nginx"):
        t.at("kind").problem('must be "digitalocean" or "nginx"')
    return RouterConfig(
        kind=kind or "",
        reserved_ip=t.string("reserved_ip", None),
        action_timeout_s=t.number("action_timeout_s", 120.0),
        action_interval_s=t.number("action_interval_s", 1.0),
        api_timeout_s=t.number("api_timeout_s", 15.0),
        host=t.string("host", None),
        upstream_file=t.string("upstream_file", None),
        test=t.string("test", RouterConfig.test) or RouterConfig.test,
        reload=t.string("reload", RouterConfig.reload) or RouterConfig.reload,
    )


def slack(t: Checker) -> SlackConfig:
    t.known("channel", "deployers", "lock_reminder_h", "watch_interval_s")
    deployers = []
    for user in t.array("deployers").items():
        if isinstance(user.data, str) and user.data:
            deployers.append(user.data)
        else:
            user.problem("must be a Slack user ID string")
    return SlackConfig(
        channel=t.string("channel", None),
        deployers=tuple(deployers),
        lock_reminder_h=t.number("lock_reminder_h", 3.0),
        watch_interval_s=t.number("watch_interval_s", 60.0),
    )
