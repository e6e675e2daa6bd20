"""The sample app's git history: a bare "origin" and a clone that authors commits.

Git runs with no global or system configuration (HOME may be a temp dir), and
every identity is given on the command line.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent / "app"
ADA = "Ada Lovelace <ada@example.com>"
GRACE = "Grace Hopper <grace@example.com>"
MARGARET = "Margaret Hamilton <margaret@example.com>"
_AUTHOR = re.compile(r"\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>\s]+)>\s*")

# (version, tagline, author, message): the three releases make_origin writes.
RELEASES = (
    ("1.0.0", "Fresh goods daily", ADA, "Shop v1: first release"),
    ("1.1.0", "Now with free shipping", GRACE, "Shop v2: free shipping banner"),
    ("1.2.0", "Now with gift cards", MARGARET, "Shop v3: gift cards"),
)


class GitError(RuntimeError):
    """A git command failed; the message carries its output."""


def git(cwd: Path, *args: str, author: str | None = None) -> str:
    """Run git in ``cwd`` isolated from the user's configuration; return stdout."""
    name, email = _split(author or ADA)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env = {**inherited, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
           "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    command = ["git", "-c", f"user.name={name}", "-c", f"user.email={email}",
               "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always",
               "-c", "advice.detachedHead=false", *args]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def _split(author: str) -> tuple[str, str]:
    match = _AUTHOR.fullmatch(author)
    if not match:
        raise ValueError(f"author must look like 'Name <email>', not {author!r}")
    return match["name"], match["email"]


def release_files(version: str, tagline: str) -> dict[str, str]:
    """The app's files at one release: the template with its version and tagline."""
    app = (APP_DIR / "app.py").read_text(encoding="utf-8")
    marker = 'TAGLINE = "Fresh goods daily"'
    if marker not in app:
        raise ValueError(f"{APP_DIR / 'app.py'} lost its line {marker}")
    app = app.replace(marker, f"TAGLINE = {json.dumps(tagline)}")
    return {"app.py": app, "requirements.txt": (APP_DIR / "requirements.txt").read_text(),
            "VERSION": version + "\n", ".gitignore": "__pycache__/\n"}


def author_clone(origin: Path) -> Path:
    """The working clone next to ``origin`` that authors commits."""
    return origin.parent / "author"


def make_origin(path: Path) -> Path:
    """Create ``path/origin.git`` (bare, branch main) with three releases; return it.

    The first commit carries the tag ``v1.0``."""
    path.mkdir(parents=True, exist_ok=True)
    origin = path / "origin.git"
    git(path, "init", "--quiet", "--bare", str(origin))
    work = author_clone(origin)
    git(path, "init", "--quiet", str(work))
    git(work, "remote", "add", "origin", str(origin))
    for i, (version, tagline, author, message) in enumerate(RELEASES):
        add_commit(origin, message, release_files(version, tagline), author=author)
        if i == 0:
            git(work, "tag", "--annotate", "v1.0", "--message", "Release 1.0", author=author)
            git(work, "push", "--quiet", "origin", "v1.0")
    return origin


def add_commit(origin: Path, message: str, files: dict[str, str | bytes | None],
               author: str = ADA) -> str:
    """Write ``files`` (None deletes one), commit, push to origin's main; return the sha."""
    work = author_clone(origin)
    for name, content in files.items():
        target = work / name
        if content is None:
            git(work, "rm", "--quiet", "--force", "--ignore-unmatch", "--", name)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
        git(work, "add", "--", name)
    git(work, "commit", "--quiet", "--allow-empty", "--message", message, author=author)
    git(work, "push", "--quiet", "origin", "HEAD:refs/heads/main", author=author)
    return git(work, "rev-parse", "HEAD")


def commits(origin: Path, ref: str = "main") -> list[str]:
    """Full shas on ``ref`` in origin, oldest first."""
    return git(origin, "rev-list", "--reverse", ref).split()
