"""Slash command text → a Command, or a ParseError whose message people read."""
from __future__ import annotations

from dataclasses import dataclass

from deploy_core.config import COLOURS
from deploy_core.errors import RefError
from deploy_core.refs import NOT_YET, SUBCOMMANDS, validate_ref

# Commands that change something: only deployers, only in the deploy channel.
MUTATING = frozenset({"deploy", "cancel", "discard", "lock", "unlock", "promote", "rollback"})
# Commands that answer only the person who asked.
PRIVATE = frozenset({"status", "help", "history", "log"})
ANYWHERE = frozenset({"status", "help"})


class ParseError(Exception):
    """A malformed command: nothing was attempted."""


@dataclass(frozen=True)
class Command:
    name: str                    # deploy | status | cancel | discard | lock | unlock | history
    ref: str | None = None       # | log | help | promote | rollback
    reason: str = ""
    id: int | None = None
    force: bool = False
    to: str | None = None

    @property
    def mutating(self) -> bool:
        return self.name in MUTATING


def parse(slash: str, text: str) -> Command:
    """``parse("/deploy", "main")`` → Command("deploy", ref="main")."""
    words = (text or "").split()
    name = slash.lstrip("/")
    if name == "deploy":
        return _deploy(words, text or "")
    if name == "promote":
        return _promote(words)
    if name == "rollback":
        if words:
            raise ParseError("`/rollback` takes no arguments: it goes back to the colour "
                             "that was live before")
        return Command("rollback")
    raise ParseError(f"unknown command `{slash}`")


def _deploy(words: list[str], text: str) -> Command:
    if not words:
        raise ParseError("say what to deploy: `/deploy main` (a branch, tag or sha)")
    head, rest = words[0], words[1:]
    if head in NOT_YET:
        raise ParseError(f"`/deploy {head}` is not available yet (to deploy a branch named "
                         f"{head}: `/deploy refs/heads/{head}`)")
    if head in SUBCOMMANDS and head not in ("lock", "log"):
        if rest:
            raise ParseError(f"`/deploy {head}` takes no arguments")
        return Command(head)
    if head == "lock":
        reason = text.strip()[len("lock"):].strip()
        if not reason:
            raise ParseError("say why: `/deploy lock REASON`")
        return Command("lock", reason=" ".join(reason.split())[:300])
    if head == "log":
        if len(rest) != 1 or not rest[0].lstrip("#").isdigit():
            raise ParseError("say which deploy: `/deploy log ID` (the number from `/deploy history`)")
        return Command("log", id=int(rest[0].lstrip("#")))
    if rest:
        raise ParseError("one REF at a time: `/deploy main`")
    try:
        return Command("deploy", ref=validate_ref(head))
    except RefError as exc:
        raise ParseError(str(exc)) from None


def _promote(words: list[str]) -> Command:
    force, to = False, None
    i = 0
    while i < len(words):
        word = words[i].lower()
        if word in ("force", "--force"):
            force = True
        elif word in ("to", "--to") and i + 1 < len(words) and words[i + 1].lower() in COLOURS:
            to = words[i + 1].lower()
            i += 1
        else:
            raise ParseError("`/promote` takes `force` and `to blue|green`, e.g. `/promote` or "
                             "`/promote force`")
        i += 1
    return Command("promote", force=force, to=to)
