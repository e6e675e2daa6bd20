"""Release notes: the commits between the previously live sha and the new one."""
from __future__ import annotations

import re
import shlex

from .events import Commit

_SHA = re.compile(r"[0-9a-f]{7,40}")
SEP = "\x1f"
LIMIT = 50


def short(sha: str | None) -> str:
    """A sha as people read it: seven characters, or "unknown"."""
    return sha[:7] if sha else "unknown"


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
