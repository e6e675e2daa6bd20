"""Validate what people type before it reaches a shell, and render config steps."""
from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from .errors import RefError, UsageError

MAX_REF = 200
_REF_CHARS = re.compile(r"[A-Za-z0-9._/-]+")
# Words `/deploy WORD` reads as a subcommand, never as a REF (DESIGN.md): a branch of that
# name is deployed as refs/heads/NAME. Words reserved for what is not built yet are
# answered "not available yet", so that a branch of that name never changes meaning later.
SUBCOMMANDS = ("status", "cancel", "discard", "lock", "unlock", "history", "log", "help",
               "watch", "queue", "dequeue", "freeze", "unfreeze")
NOT_YET = frozenset({"watch", "queue", "dequeue", "freeze", "unfreeze"})
PLACEHOLDERS = frozenset({"sha", "ref", "colour", "host"})
RUN_PLACEHOLDERS = frozenset({"url"})       # a `[[smoke]] run` command's
_FIELD = re.compile(r"\{(\w*)\}")


def short(sha: str | None, missing: str = "unknown") -> str:
    """A sha as people read it: its first seven characters, or ``missing``."""
    return sha[:7] if sha else missing


def validate_ref(ref: str) -> str:
    """Return ``ref`` if it is a safe branch, tag or sha name; else raise RefError."""
    if not isinstance(ref, str) or not ref:
        raise RefError("a REF is needed: a branch, a tag, or a full or short sha")
    shown = ref if len(ref) <= 40 else ref[:40] + "…"
    if len(ref) > MAX_REF:
        raise RefError(f"REF is {len(ref)} characters long; at most {MAX_REF} are allowed")
    if not _REF_CHARS.fullmatch(ref):
        raise RefError(f"REF {shown!r} has characters other than letters, digits and . _ / -")
    if ref.startswith("-"):
        raise RefError(f"REF {shown!r} must not start with '-'")
    if ".." in ref:
        raise RefError(f"REF {shown!r} must not contain '..'")
    if ref.endswith("/") or ref.startswith("/") or "//" in ref or ref.endswith(".lock"):
        raise RefError(f"REF {shown!r} is not a valid git ref name")
    return ref


def placeholder_problem(template: str, allowed: frozenset[str]) -> str | None:
    """Why ``template`` cannot be rendered with ``allowed`` names, or None."""
    escaped = template.replace("{{", "").replace("}}", "")
    unknown = sorted({m.group(1) for m in _FIELD.finditer(escaped)} - allowed)
    if unknown:
        names = ", ".join("{" + n + "}" for n in sorted(allowed))
        return f"unknown placeholder {{{unknown[0]}}} (this command may use {names})"
    return None


def render(template: str, values: Mapping[str, str],
           allowed: frozenset[str] = PLACEHOLDERS) -> str:
    """Substitute {sha} {ref} {colour} {host} in a configured command, each shell-quoted.

    Only ``allowed`` names are substituted; any other ``{name}`` is an error, and
    ``{{``/``}}`` stand for literal braces."""
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in allowed:
            raise UsageError(f"unknown placeholder {{{name}}} in {template!r}")
        if name not in values:
            raise UsageError(f"placeholder {{{name}}} has no value here: {template!r}")
        return shlex.quote(str(values[name]))
    escaped = template.replace("{{", "\0").replace("}}", "\1")
    return _FIELD.sub(sub, escaped).replace("\0", "{").replace("\1", "}")


def render_path(template: str, values: Mapping[str, str]) -> str:
    """``[deploy].path`` may use {colour} and {host}: substituted plainly (not quoted),
    since the result is quoted as one argument where it is used."""
    out = template
    for key in ("colour", "host"):
        out = out.replace("{" + key + "}", str(values.get(key, "")))
    return out
