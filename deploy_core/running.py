"""What each host really runs: the sha its release route answers (proven served), else
``git rev-parse HEAD`` in its checkout (checked out, not proven served), else unknown.

A team adopting bluegreen on a fleet it never deployed sees real shas from the first
``status``; a colour whose hosts disagree, or could not be read, runs "unknown".
"""
from __future__ import annotations

import re
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable

from . import web
from .config import Config, Host
from .errors import BluegreenError
from .refs import render_path, short

_FULL_SHA = re.compile(r"[0-9a-f]{40}")
GIT_TIMEOUT_S = 15.0
NO_RELEASE_PATH = (
    "app.release_path is not set, so bluegreen cannot prove that health and smoke tested "
    "the new release: a graceful reload returns before the new workers serve. Add a route "
    "that answers the sha its process loaded, e.g. in Flask:\n"
    "    RELEASE = subprocess.run([\"git\", \"rev-parse\", \"HEAD\"], capture_output=True, text=True).stdout.strip()\n"
    "    @app.get(\"/version\")\n"
    "    def version(): return RELEASE\n"
    "then set release_path = \"/version\" in [app].")


@dataclass(frozen=True)
class Running:
    """``sha``: the full sha a host (or every host of a colour) runs, or None when unknown.
    ``proven``: read from the release route, i.e. what the serving process loaded."""
    sha: str | None
    proven: bool = False
    detail: str = ""

    def matches(self, sha: str | None) -> bool:
        return web.same_release(self.sha, sha)


def read_host(config: Config, transport, http: web.HTTP, colour: str, host: Host) -> Running:
    """What ``host`` of ``colour`` runs; never raises for an unreachable host."""
    app = config.app
    served = None
    why = ""
    if app.release_path:
        answer = http.get(host.url + app.release_path, app.request_timeout_s)
        served = web.release_sha(answer.text) if answer.ok else None
        why = web.describe_release(answer, app.release_path)
        if served and _FULL_SHA.fullmatch(served):
            return Running(served, True, f"answered at {app.release_path}")
    cwd = render_path(config.deploy.path, {"colour": colour, "host": host.address})
    if served:      # a short sha: the checkout's git knows its full name
        full = _git(transport, host, cwd, ["git", "rev-parse", "--verify", "--quiet",
                                            f"{served}^{{commit}}"])
        if full:
            return Running(full, True, f"answered {served} at {app.release_path}")
    head = _git(transport, host, cwd, ["git", "rev-parse", "--verify", "HEAD"])
    if head is None:
        return Running(None, False, f"could not read it ({why or 'no release_path'}; git HEAD "
                                    "unreadable)")
    note = f"{app.release_path}: {why}; " if app.release_path else ""
    return Running(head, False, f"{note}checked out (git HEAD), not proven served")


def _git(transport, host: Host, cwd: str, argv: list[str]) -> str | None:
    try:
        result = transport.run(host, shlex.join(argv), cwd=cwd, timeout=GIT_TIMEOUT_S)
    except BluegreenError:
        return None
    value = result.stdout.strip().splitlines()[-1].strip() if result.stdout.strip() else ""
    return value if result.exit_status == 0 and _FULL_SHA.fullmatch(value) else None


def common(values: Iterable[Running]) -> Running:
    """A colour's running: its hosts' common sha (proven only if every host proved it),
    unknown when they disagree or none could be read."""
    hosts = list(values)
    shas = {r.sha for r in hosts}
    if not hosts or None in shas:
        unread = sum(r.sha is None for r in hosts)
        return Running(None, False, f"{unread} of {len(hosts)} host(s) could not be read")
    if len(shas) > 1:
        return Running(None, False, "the hosts run different releases: "
                                    + ", ".join(sorted(short(s) for s in shas if s)))
    proven = all(r.proven for r in hosts)
    return Running(hosts[0].sha, proven, hosts[0].detail if len(hosts) == 1 else
                   ("every host answered it" if proven else "checked out, not proven served"))


def read_colour(config: Config, transport, http: web.HTTP, colour: str) -> Running:
    """What ``colour`` runs: its hosts read in parallel (see ``common``)."""
    hosts = config.colours[colour].hosts
    if len(hosts) == 1:
        return common([read_host(config, transport, http, colour, hosts[0])])
    with ThreadPoolExecutor(max_workers=min(len(hosts), 16)) as pool:
        return common(pool.map(lambda h: read_host(config, transport, http, colour, h), hosts))
