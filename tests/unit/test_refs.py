from __future__ import annotations

import shlex

import pytest
from hypothesis import given, strategies as st

from deploy_core.errors import RefError, UsageError
from deploy_core.hosts import resolve_command
from deploy_core.refs import render, validate_ref


@pytest.mark.parametrize("ref", ["main", "v1.0", "feature/login-fix", "1a2b3c4",
                                 "0123456789abcdef0123456789abcdef01234567", "release_2026.11"])
def test_good_refs_pass(ref):
    assert validate_ref(ref) == ref


@pytest.mark.parametrize("ref", ["main; rm -rf /", "$(id)", "-x", "a..b", "x" * 500, "",
                                 "`id`", "a b", "main\nid", "'", "\"", "ref|cat", "é", "/abs",
                                 "trailing/", "a//b", "x.lock", "--upload-pack=evil"])
def test_bad_refs_refused(ref):
    with pytest.raises(RefError) as info:
        validate_ref(ref)
    assert info.value.exit_code == 2


@given(st.text(max_size=300))
def test_anything_accepted_is_inert_in_a_shell(text):
    try:
        ref = validate_ref(text)
    except RefError:
        return
    assert shlex.split(shlex.quote(ref)) == [ref]
    assert not set(ref) & set(";|&$`'\"<>(){}[]*?!~ \t\n\\")
    assert not ref.startswith("-") and ".." not in ref


def test_render_quotes_every_substitution():
    cmd = render("git checkout --force --detach {sha} && echo {ref} {colour}",
                 {"sha": "abc", "ref": "a b;c", "colour": "blue"})
    assert cmd == "git checkout --force --detach abc && echo 'a b;c' blue"


def test_render_refuses_unknown_placeholders_and_keeps_escaped_braces():
    with pytest.raises(UsageError):
        render("echo {token}", {"sha": "x"})
    assert render("awk '{{print $1}}' {sha}", {"sha": "f00"}) == "awk '{print $1}' f00"


def test_resolve_command_tries_branch_tag_then_commit():
    assert resolve_command("main") == (
        "git rev-parse --verify --quiet 'refs/remotes/origin/main^{commit}' || "
        "git rev-parse --verify --quiet 'refs/tags/main^{commit}'")
    assert resolve_command("abc1234").endswith("git rev-parse --verify 'abc1234^{commit}'")
    assert resolve_command("refs/heads/status") == \
        "git rev-parse --verify --quiet 'refs/remotes/origin/status^{commit}'"
