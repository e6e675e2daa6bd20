"""Load and validate ``bluegreen.toml``.

Every problem is collected and reported at once, each with its key path
(``colours.green.hosts[0].url: not a URL``), as one ``ConfigError`` (exit 2).
Secrets never come from the file: only from the environment.
"""
from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from .errors import ConfigError
from .refs import PLACEHOLDERS, RUN_PLACEHOLDERS, placeholder_problem

COLOURS = ("blue", "green")


def other(colour: str) -> str:
    return "green" if colour == "blue" else "blue"


@dataclass(frozen=True)
class Host:
    address: str          # host name or IP, without port
    port: int | None      # from "address:port", else None (the [ssh] port applies)
    url: str              # base URL of the host's own web server, for health and smoke

    @property
    def name(self) -> str:
        return f"{self.address}:{self.port}" if self.port else self.address


@dataclass(frozen=True)
class AppConfig:
    name: str
    public_url: str
    identity_path: str = "/hostname"
    health_path: str = "/healthz"
    release_path: str | None = None       # answers the sha the serving process runs
    request_timeout_s: float = 5.0


@dataclass(frozen=True)
class SSHConfig:
    user: str = "deploy"
    port: int = 22
    key_file: str | None = None
    known_hosts: str | None = None
    connect_timeout_s: float = 10.0


@dataclass(frozen=True)
class DeployConfig:
    transport: str = "ssh"
    path: str = "."
    fetch: str = "git fetch --prune --tags origin"
    steps: tuple[str, ...] = ()
    step_timeout_s: float = 600.0
    health_timeout_s: float = 60.0
    health_interval_s: float = 0.5
    lease_s: float = 30.0
    output_limit: int = 64_000


@dataclass(frozen=True)
class PromoteConfig:
    verify_count: int = 3
    verify_interval_s: float = 0.2
    verify_timeout_s: float = 30.0


@dataclass(frozen=True)
class SmokeCheck:
    """An HTTP check of each idle host (``path``), or a command run where bluegreen runs
    (``run``, with ``{url}`` the host's URL); each bounded by ``timeout_s``."""
    name: str
    path: str | None = "/"
    status: int = 200
    contains: str | None = None
    run: str | None = None
    timeout_s: float | None = None        # None: app.request_timeout_s for HTTP checks

    def timeout(self, request_timeout_s: float) -> float:
        if self.timeout_s is not None:
            return self.timeout_s
        return RUN_TIMEOUT_S if self.run else request_timeout_s


RUN_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ColourConfig:
    name: str
    identity: str
    hosts: tuple[Host, ...]
    droplet_id: int | None = None


@dataclass(frozen=True)
class RouterConfig:
    kind: str
    reserved_ip: str | None = None
    action_timeout_s: float = 120.0
    action_interval_s: float = 1.0
    api_timeout_s: float = 15.0
    host: str | None = None
    upstream_file: str | None = None
    test: str = "sudo nginx -t"
    reload: str = "sudo nginx -s reload"


@dataclass(frozen=True)
class SlackConfig:
    channel: str | None = None
    deployers: tuple[str, ...] = ()
    lock_reminder_h: float = 3.0
    watch_interval_s: float = 60.0


@dataclass(frozen=True)
class Config:
    app: AppConfig
    ssh: SSHConfig
    deploy: DeployConfig
    promote: PromoteConfig
    smoke: tuple[SmokeCheck, ...]
    colours: Mapping[str, ColourConfig]
    router: RouterConfig
    slack: SlackConfig
    path: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def colour_of_identity(self, identity: str) -> str | None:
        for c in self.colours.values():
            if c.identity == identity.strip():
                return c.name
        return None


class _Checker:
    """Reads typed values out of nested tables, recording a problem per bad key."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, text: str) -> None:
        self.problems.append(f"{path}: {text}")

    def table(self, data: Mapping[str, Any], key: str, path: str, required: bool = True) -> dict:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(path, "missing table")
            return {}
        if not isinstance(value, dict):
            self.problem(path, "must be a table")
            return {}
        return value

    def unknown(self, data: Mapping[str, Any], known: set[str], path: str) -> None:
        for key in data:
            if key not in known:
                self.problem(f"{path}.{key}" if path else key, "unknown key")

    def get(self, data: Mapping[str, Any], key: str, path: str, kind: type | tuple,
            default: Any = None, required: bool = False) -> Any:
        full = f"{path}.{key}" if path else key
        if key not in data:
            if required:
                self.problem(full, "missing")
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            self.problem(full, f"must be {_kind_name(kinds)}, not a boolean")
            return default
        if not isinstance(value, kinds):
            self.problem(full, f"must be {_kind_name(kinds)}")
            return default
        return value

    def string(self, data, key, path, default=None, required=False) -> Any:
        value = self.get(data, key, path, str, default, required)
        if isinstance(value, str) and required and not value.strip():
            self.problem(f"{path}.{key}", "must not be empty")
        return value

    def number(self, data, key, path, default, minimum=0.0, exclusive=True) -> float:
        value = self.get(data, key, path, (int, float), default)
        if value is not None and not math.isfinite(value):      # TOML has inf and nan
            self.problem(f"{path}.{key}", "must be a finite number")
            return default
        if value is not None and (value <= minimum if exclusive else value < minimum):
            self.problem(f"{path}.{key}", f"must be {'>' if exclusive else '>='} {minimum:g}")
            return default
        return float(value) if value is not None else default

    def integer(self, data, key, path, default=None, required=False, minimum=1) -> Any:
        value = self.get(data, key, path, int, default, required)
        if isinstance(value, int) and value < minimum:
            self.problem(f"{path}.{key}", f"must be >= {minimum}")
            return default
        return value

    def url(self, data, key, path, required=True) -> str:
        value = self.string(data, key, path, default="", required=required)
        if value and not _is_url(value):
            self.problem(f"{path}.{key}", "not a URL")
        return (value or "").rstrip("/")

    def url_path(self, data, key, path, default) -> str:
        value = self.string(data, key, path, default=default)
        if value is not None and not value.startswith("/"):
            self.problem(f"{path}.{key}", "must start with /")
        return value or default


def _kind_name(kinds: tuple) -> str:
    if set(kinds) == {int, float}:
        return "a number"
    names = {str: "a string", int: "an integer", float: "a number", list: "an array",
             dict: "a table", bool: "a boolean"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


def _host(c: _Checker, raw: Any, path: str) -> Host | None:
    if not isinstance(raw, dict):
        c.problem(path, "must be a table like { address = \"10.0.0.2\", url = \"http://10.0.0.2\" }")
        return None
    c.unknown(raw, {"address", "url"}, path)
    address = c.string(raw, "address", path, default="", required=True) or ""
    url = c.url(raw, "url", path)
    port = None
    if address.count(":") == 1:
        address, _, port_text = address.partition(":")
        if port_text.isdigit() and 0 < int(port_text) < 65536:
            port = int(port_text)
        else:
            c.problem(f"{path}.address", f"bad port {port_text!r}")
    if address and (address.startswith("-") or any(ch.isspace() for ch in address)):
        c.problem(f"{path}.address", "not a host name or address")
    return Host(address=address, port=port, url=url)


def parse(data: Mapping[str, Any], env: Mapping[str, str] | None = None,
          path: Path | None = None) -> Config:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    env = dict(os.environ if env is None else env)
    c = _Checker()
    c.unknown(data, {"app", "ssh", "deploy", "promote", "smoke", "colours", "router", "slack"}, "")

    a = c.table(data, "app", "app")
    c.unknown(a, {"name", "public_url", "identity_path", "health_path", "release_path",
                  "request_timeout_s"}, "app")
    app = AppConfig(
        name=c.string(a, "name", "app", default="app", required=True) or "app",
        public_url=c.url(a, "public_url", "app"),
        identity_path=c.url_path(a, "identity_path", "app", "/hostname"),
        health_path=c.url_path(a, "health_path", "app", "/healthz"),
        release_path=c.url_path(a, "release_path", "app", None),
        request_timeout_s=c.number(a, "request_timeout_s", "app", 5.0),
    )

    d = c.table(data, "deploy", "deploy")
    c.unknown(d, {"transport", "path", "fetch", "steps", "step_timeout_s", "health_timeout_s",
                  "health_interval_s", "lease_s", "output_limit"}, "deploy")
    transport = c.string(d, "transport", "deploy", default="ssh")
    if transport not in ("ssh", "local"):
        c.problem("deploy.transport", 'must be "ssh" or "local"')
    steps = c.get(d, "steps", "deploy", list, default=[])
    for i, step in enumerate(steps):
        if not isinstance(step, str) or not step.strip():
            c.problem(f"deploy.steps[{i}]", "must be a non-empty string")
        elif problem := placeholder_problem(step, PLACEHOLDERS):
            c.problem(f"deploy.steps[{i}]", problem)
    steps = [s for s in steps if isinstance(s, str) and s.strip()]
    if not steps and "steps" in d:
        c.problem("deploy.steps", "must list at least one command")
    deploy = DeployConfig(
        transport=transport or "ssh",
        path=c.string(d, "path", "deploy", default=".", required=True) or ".",
        fetch=c.string(d, "fetch", "deploy", default=DeployConfig.fetch) or "",
        steps=tuple(steps),
        step_timeout_s=c.number(d, "step_timeout_s", "deploy", 600.0),
        health_timeout_s=c.number(d, "health_timeout_s", "deploy", 60.0),
        health_interval_s=c.number(d, "health_interval_s", "deploy", 0.5),
        lease_s=c.number(d, "lease_s", "deploy", 30.0),
        output_limit=c.integer(d, "output_limit", "deploy", default=64_000, minimum=1000),
    )
    if "steps" not in d and d:
        c.problem("deploy.steps", "missing")

    s = c.table(data, "ssh", "ssh", required=False)
    c.unknown(s, {"user", "port", "key_file", "known_hosts", "connect_timeout_s"}, "ssh")
    ssh = SSHConfig(
        user=c.string(s, "user", "ssh", default="deploy") or "deploy",
        port=c.integer(s, "port", "ssh", default=22) or 22,
        key_file=c.string(s, "key_file", "ssh"),
        known_hosts=c.string(s, "known_hosts", "ssh"),
        connect_timeout_s=c.number(s, "connect_timeout_s", "ssh", 10.0),
    )
    if ssh.port > 65535:
        c.problem("ssh.port", "must be <= 65535")

    p = c.table(data, "promote", "promote", required=False)
    c.unknown(p, {"verify_count", "verify_interval_s", "verify_timeout_s"}, "promote")
    promote = PromoteConfig(
        verify_count=c.integer(p, "verify_count", "promote", default=3) or 3,
        verify_interval_s=c.number(p, "verify_interval_s", "promote", 0.2, exclusive=False),
        verify_timeout_s=c.number(p, "verify_timeout_s", "promote", 30.0),
    )

    smoke: list[SmokeCheck] = []
    raw_smoke = c.get(data, "smoke", "", list, default=[])
    for i, item in enumerate(raw_smoke):
        sp = f"smoke[{i}]"
        if not isinstance(item, dict):
            c.problem(sp, "must be a table")
            continue
        c.unknown(item, {"name", "path", "status", "contains", "run", "timeout_s"}, sp)
        name = c.string(item, "name", sp, default=f"check {i + 1}") or f"check {i + 1}"
        timeout_s = c.number(item, "timeout_s", sp, None)
        if "run" in item:
            for key in ("path", "status", "contains"):
                if key in item:
                    c.problem(f"{sp}.{key}", "not with run: a check is a path or a command")
            run = c.string(item, "run", sp, default="", required=True) or ""
            problem = placeholder_problem(run, RUN_PLACEHOLDERS)
            if problem:
                c.problem(f"{sp}.run", problem)
            smoke.append(SmokeCheck(name=name, path=None, run=run, timeout_s=timeout_s))
            continue
        status = c.integer(item, "status", sp, default=200, minimum=100)
        if isinstance(status, int) and status > 599:
            c.problem(f"{sp}.status", "must be an HTTP status (100-599)")
        smoke.append(SmokeCheck(
            name=name,
            path=c.url_path(item, "path", sp, "/"),
            status=status or 200,
            contains=c.string(item, "contains", sp),
            timeout_s=timeout_s,
        ))

    colours: dict[str, ColourConfig] = {}
    col = c.table(data, "colours", "colours")
    c.unknown(col, set(COLOURS), "colours")
    for name in COLOURS:
        cp = f"colours.{name}"
        # both colours are needed; a missing or malformed [colours] was reported above
        t = c.table(col, name, cp) if isinstance(data.get("colours"), dict) else {}
        if not isinstance(col.get(name), dict):
            continue
        c.unknown(t, {"identity", "hosts", "droplet_id"}, cp)
        hosts_raw = c.get(t, "hosts", cp, list, default=[], required=True)
        if "hosts" in t and isinstance(t["hosts"], list) and not hosts_raw:
            c.problem(f"{cp}.hosts", "must list at least one host")
        hosts = [h for i, r in enumerate(hosts_raw) if (h := _host(c, r, f"{cp}.hosts[{i}]"))]
        colours[name] = ColourConfig(
            name=name,
            identity=(c.string(t, "identity", cp, default="", required=True) or "").strip(),
            hosts=tuple(hosts),
            droplet_id=c.integer(t, "droplet_id", cp),
        )
    if len(colours) == 2 and colours["blue"].identity and \
            colours["blue"].identity == colours["green"].identity:
        c.problem("colours.green.identity", "must differ from colours.blue.identity")

    r = c.table(data, "router", "router")
    c.unknown(r, {"kind", "reserved_ip", "action_timeout_s", "action_interval_s", "api_timeout_s",
                  "host", "upstream_file", "test", "reload"}, "router")
    kind = c.string(r, "kind", "router", default="", required=True)
    if r and kind not in ("digitalocean", "nginx"):
        c.problem("router.kind", 'must be "digitalocean" or "nginx"')
    router = RouterConfig(
        kind=kind or "",
        reserved_ip=c.string(r, "reserved_ip", "router"),
        action_timeout_s=c.number(r, "action_timeout_s", "router", 120.0),
        action_interval_s=c.number(r, "action_interval_s", "router", 1.0),
        api_timeout_s=c.number(r, "api_timeout_s", "router", 15.0),
        host=c.string(r, "host", "router"),
        upstream_file=c.string(r, "upstream_file", "router"),
        test=c.string(r, "test", "router", default=RouterConfig.test) or RouterConfig.test,
        reload=c.string(r, "reload", "router", default=RouterConfig.reload) or RouterConfig.reload,
    )
    if kind == "digitalocean":
        if not router.reserved_ip:
            c.problem("router.reserved_ip", "missing (needed by the digitalocean router)")
        for name, colour in colours.items():
            if colour.droplet_id is None:
                c.problem(f"colours.{name}.droplet_id", "missing (needed by the digitalocean router)")
        if not env.get("DIGITALOCEAN_TOKEN"):
            c.problem("env.DIGITALOCEAN_TOKEN", "not set (needed by the digitalocean router)")
        api = env.get("DIGITALOCEAN_API_URL", "https://api.digitalocean.com")
        if not _is_url(api):
            c.problem("env.DIGITALOCEAN_API_URL", "not a URL")
    elif kind == "nginx":
        if not router.host:
            c.problem("router.host", "missing (needed by the nginx router)")
        if not router.upstream_file:
            c.problem("router.upstream_file", "missing (needed by the nginx router)")

    uses_ssh = deploy.transport == "ssh" or kind == "nginx"
    if uses_ssh and not (ssh.key_file or env.get("BLUEGREEN_SSH_KEY")):
        c.problem("ssh.key_file", "missing (or set $BLUEGREEN_SSH_KEY)")
    if uses_ssh and not (ssh.known_hosts or env.get("BLUEGREEN_KNOWN_HOSTS")):
        c.problem("ssh.known_hosts", "missing (or set $BLUEGREEN_KNOWN_HOSTS)")

    sl = c.table(data, "slack", "slack", required=False)
    c.unknown(sl, {"channel", "deployers", "lock_reminder_h", "watch_interval_s"}, "slack")
    deployers = c.get(sl, "deployers", "slack", list, default=[])
    for i, u in enumerate(deployers):
        if not isinstance(u, str) or not u:
            c.problem(f"slack.deployers[{i}]", "must be a Slack user ID string")
    slack = SlackConfig(
        channel=c.string(sl, "channel", "slack"),
        deployers=tuple(u for u in deployers if isinstance(u, str) and u),
        lock_reminder_h=c.number(sl, "lock_reminder_h", "slack", 3.0),
        watch_interval_s=c.number(sl, "watch_interval_s", "slack", 60.0),
    )

    if c.problems:
        raise ConfigError(c.problems)
    return Config(app=app, ssh=ssh, deploy=deploy, promote=promote, smoke=tuple(smoke),
                  colours=colours, router=router, slack=slack, path=path, env=env)


def find(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``--config PATH``, else ``$BLUEGREEN_CONFIG``, else ``./bluegreen.toml``."""
    env = os.environ if env is None else env
    return Path(path or env.get("BLUEGREEN_CONFIG") or "bluegreen.toml")


def load(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Find, read and validate the configuration file."""
    where = find(path, env)
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{where}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{where}: cannot read ({exc})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{where}: not valid TOML ({exc})"]) from None
    return parse(data, env, where)
