from __future__ import annotations

import subprocess

import pytest

from deploy_core.notes import log_command, parse_log


def test_log_command_is_exact_and_refuses_non_shas():
    assert log_command("a" * 40, "b" * 40) == (
        f"git log --no-merges --max-count=50 --format=%H%x1f%an%x1f%s {'a' * 40}..{'b' * 40}")
    with pytest.raises(ValueError):
        log_command("main; id", "b" * 40)


def test_parse_log_reads_real_git(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-c", "user.name=Ada", "-c", "user.email=a@x", *args],
                              cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()
    git("init", "-q")
    shas = []
    for i, subject in enumerate(["first", "second: fix | pipes", "third"]):
        (tmp_path / "f").write_text(str(i))
        git("add", "f")
        git("commit", "-q", "-m", subject, "--author", f"Dev {i} <d{i}@x>")
        shas.append(git("rev-parse", "HEAD"))
    out = subprocess.run(log_command(shas[0], shas[2]), shell=True, cwd=tmp_path,  # noqa: S602
                         capture_output=True, text=True, check=True).stdout
    commits = parse_log(out)
    assert [c.subject for c in commits] == ["third", "second: fix | pipes"]
    assert [c.author for c in commits] == ["Dev 2", "Dev 1"]
    assert commits[0].sha == shas[2] and commits[0].short == shas[2][:7]
    assert parse_log("garbage\nmore") == []
