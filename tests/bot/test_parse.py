"""Slash command text → Command."""
from __future__ import annotations

import pytest

from handlers.parse import Command, ParseError, parse


@pytest.mark.parametrize("slash,text,expected", [
    ("/deploy", "main", Command("deploy", ref="main")),
    ("/deploy", "  v1.2.3 ", Command("deploy", ref="v1.2.3")),
    ("/deploy", "1a2b3c4", Command("deploy", ref="1a2b3c4")),
    ("/deploy", "refs/heads/status", Command("deploy", ref="refs/heads/status")),
    ("/deploy", "status", Command("status")),
    ("/deploy", "cancel", Command("cancel")),
    ("/deploy", "discard", Command("discard")),
    ("/deploy", "unlock", Command("unlock")),
    ("/deploy", "history", Command("history")),
    ("/deploy", "help", Command("help")),
    ("/deploy", "log 12", Command("log", id=12)),
    ("/deploy", "log #12", Command("log", id=12)),
    ("/deploy", "lock  db   migration, back at 3", Command("lock", reason="db migration, back at 3")),
    ("/promote", "", Command("promote")),
    ("/promote", "force", Command("promote", force=True)),
    ("/promote", "to green", Command("promote", to="green")),
    ("/promote", "force to Blue", Command("promote", force=True, to="blue")),
    ("/rollback", "", Command("rollback")),
])
def test_parses(slash, text, expected):
    assert parse(slash, text) == expected


@pytest.mark.parametrize("slash,text,says", [
    ("/deploy", "", "say what to deploy"),
    ("/deploy", "main extra", "one REF at a time"),
    ("/deploy", "-rf", "must not start with '-'"),
    ("/deploy", "a..b", "must not contain '..'"),
    ("/deploy", "main;rm", "characters other than"),
    ("/deploy", "x" * 201, "at most 200"),
    ("/deploy", "lock", "say why"),
    ("/deploy", "log", "say which deploy"),
    ("/deploy", "log abc", "say which deploy"),
    ("/deploy", "status now", "takes no arguments"),
    ("/promote", "now", "takes `force`"),
    ("/promote", "to purple", "takes `force`"),
    ("/rollback", "please", "takes no arguments"),
    ("/status", "", "unknown command"),
])
def test_refuses(slash, text, says):
    with pytest.raises(ParseError, match=None) as caught:
        parse(slash, text)
    assert says in str(caught.value)


def test_which_commands_change_things():
    assert parse("/deploy", "main").mutating and parse("/rollback", "").mutating
    assert parse("/deploy", "lock x").mutating and parse("/deploy", "cancel").mutating
    assert not parse("/deploy", "status").mutating and not parse("/deploy", "log 3").mutating
