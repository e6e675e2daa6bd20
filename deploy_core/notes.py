"""Release notes: the commits between the previously live sha and the new one."""
from __future__ import annotations

import re
import shlex

from .config import Config
from .errors import BluegreenError
from .events import Callback, Commit, Notice
from .refs import render_path

_SHA = re.compile(r"[0-9a-f]{7,40}")
SEP = "\x1f"
LIMIT = 50


def log_command(old: str | None, new: str, limit: int = LIMIT) -> str:
    """The git command listing commits in ``old..new`` (or the last few of ``new``)."""
    for sha in (old, new):
        if sha is not None and not _SHA.fullmatch(sha):
            raise ValueError(f"not a sha: {sha!r}")
    span = f"{old}..{new}" if old else new
    return shlex.join(["git", "log", "--no-merges", f"--max-count={limit}",
                       "--format=%H%x1f%an%x1f%s", span])


def parse_log(text: str) -> list[Commit]:
    commits = []
    for line in text.splitlines():
        parts = line.split(SEP)
        if len(parts) == 3 and re.fullmatch(r"[0-9a-f]{40}", parts[0]):
            commits.append(Commit(sha=parts[0], author=parts[1], subject=parts[2]))
    return commits


def release_notes(config: Config, transport, emit: Callback, colour: str, old: str | None,
                  new: str | None) -> tuple[Commit, ...]:
    """The commits from ``old`` to ``new``, read with git on a host of ``colour`` (which
    runs ``new``); none, and a notice saying why, when git cannot tell."""
    if not new:
        return ()
    host = config.colours[colour].hosts[0]
    cwd = render_path(config.deploy.path, {"colour": colour, "host": host.address})
    try:
        result = transport.run(host, log_command(old, new), cwd=cwd, timeout=30)
    except (BluegreenError, ValueError) as exc:
        emit(Notice(f"release notes unavailable: {exc}", level="warning"))
        return ()
    if result.exit_status != 0:
        emit(Notice(f"release notes unavailable: git log exited {result.exit_status}",
                    level="warning"))
        return ()
    return tuple(parse_log(result.stdout))
