"""`bluegreen check`: configuration, SSH reach and host keys, router access,
health routes, database and Slack token — each ok or what to fix."""
from __future__ import annotations

import requests

from . import web
from .errors import BluegreenError, HostKeyError, RouterAuthError
from .refs import short
from .results import CheckItem
from .running import NO_RELEASE_PATH

from .parts import Parts


def run_checks(p: Parts) -> list[CheckItem]:
    cfg = p.config
    items = [CheckItem("configuration", True, f"{cfg.path or 'bluegreen.toml'} is valid")]
    items.append(_database(p))
    for colour in cfg.colours.values():
        for host in colour.hosts:
            items.append(_reach(p, colour.name, host))
            answer = p.http.get(host.url + cfg.app.health_path, cfg.app.request_timeout_s)
            items.append(CheckItem(f"{colour.name} {host.name} health", answer.ok,
                                   f"{host.url}{cfg.app.health_path}: {answer.detail}",
                                   "" if answer.ok else "start the app or fix health_path"))
            if cfg.app.release_path:
                items.append(_release(p, colour.name, host))
    if not cfg.app.release_path:
        items.append(CheckItem("release proof", True, NO_RELEASE_PATH, warning=True))
    items.extend(_router(p))
    items.append(_slack(p.env))
    return items


def _database(p: Parts) -> CheckItem:
    try:
        p.store.ping()
    except BluegreenError as exc:
        return CheckItem("state database", False, str(exc), "check DATABASE_URL")
    return CheckItem("state database", True, "reachable, schema up to date")


def _reach(p: Parts, colour: str, host) -> CheckItem:
    name = f"{colour} {host.name} {p.config.deploy.transport}"
    try:
        result = p.transport.run(host, "true", timeout=p.config.ssh.connect_timeout_s + 5)
    except HostKeyError as exc:
        fix = (f"verify the fingerprint {exc.fingerprint} with the host's owner, then add "
               f"this line to known_hosts:\n    {exc.known_hosts_line}") if not exc.changed else \
            "the host key CHANGED: find out why before trusting it (reinstalled host, or an attack)"
        return CheckItem(name, False, str(exc), fix)
    except BluegreenError as exc:
        return CheckItem(name, False, str(exc), "check the address, port, user and key")
    ok = result.exit_status == 0
    if not ok:
        return CheckItem(name, False, f"`true` exited {result.exit_status}")
    if p.config.deploy.transport == "local":     # say only what was checked: no SSH here
        return CheckItem(name, True, "commands run on this machine (local transport: no SSH, "
                                     "no host key to verify)")
    return CheckItem(name, True, "reachable, host key verified")


def _release(p: Parts, colour: str, host) -> CheckItem:
    path = p.config.app.release_path or ""
    answer = p.http.get(host.url + path, p.config.app.request_timeout_s)
    sha = web.release_sha(answer.text) if answer.ok else None
    if sha:
        return CheckItem(f"{colour} {host.name} release", True, f"{host.url}{path} serves {short(sha)}")
    return CheckItem(f"{colour} {host.name} release", False,
                     f"{host.url}{path}: {web.describe_release(answer, path)}",
                     "the route must answer the sha its process loaded; deploys wait for it")


def _router(p: Parts) -> list[CheckItem]:
    """What the router's token may read (routers that can tell), then which colour is live:
    a token that cannot read droplets makes the reserved IP look unassigned."""
    items: list[CheckItem] = []
    check_access = getattr(p.router, "check_access", None)   # routers reached with an API token
    if check_access is not None:
        try:
            items.append(CheckItem("router token", True, check_access()))
        except RouterAuthError as exc:
            scope = exc.scope
            return [CheckItem("router token", False, str(exc),
                              f"give the token the {scope} scope" if scope else
                              "check the router token")]
        except BluegreenError as exc:     # e.g. a colour's droplet that does not exist
            items.append(CheckItem("router token", False, str(exc), "correct the id named above"))
    try:
        state = p.router.read()
    except BluegreenError as exc:
        return [*items, CheckItem("router", False, str(exc), "check the router settings and token")]
    detail = f"{p.router.describe()}: " + (f"{state.live} is live" if state.live else
                                           f"{state.status} ({state.detail})")
    fix = "" if state.status == "ok" else "repair with `bluegreen promote --to COLOUR`"
    return [*items, CheckItem("router", state.status == "ok", detail, fix)]


def _slack(env) -> CheckItem:
    token = env.get("SLACK_BOT_TOKEN")
    if not token:
        return CheckItem("slack token", True, "SLACK_BOT_TOKEN not set (only the bot needs it)")
    base = env.get("SLACK_API_URL", "https://slack.com/api/").rstrip("/") + "/"
    try:
        resp = requests.post(base + "auth.test", headers={"Authorization": f"Bearer {token}"},
                             timeout=10)
        body = resp.json()
    except (requests.RequestException, ValueError) as exc:
        return CheckItem("slack token", False, f"Slack API unreachable ({type(exc).__name__})",
                         "check SLACK_API_URL and the network")
    if body.get("ok"):
        return CheckItem("slack token", True, f"valid for team {body.get('team', '?')}")
    return CheckItem("slack token", False, f"Slack says {body.get('error', 'not ok')}",
                     "check SLACK_BOT_TOKEN")
