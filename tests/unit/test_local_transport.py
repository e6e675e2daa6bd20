"""LocalTransport: real subprocesses, streamed lines, exit status, cwd, timeouts."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from deploy_core.config import Host
from deploy_core.errors import CommandTimeout
from deploy_core.transports import CommandResult
from deploy_core.transports.local import LineBuffer, LocalTransport

HOST = Host(address="127.0.0.2", port=8000, url="http://127.0.0.2:8000")


def alive(pid: int) -> bool:
    """Running and not a zombie (an unreaped zombie is dead for our purposes)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_dead(pid: int, within: float = 3.0) -> bool:
    until = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > until:
            return False
        time.sleep(0.02)
    return True


def test_streams_lines_in_order_as_they_arrive():
    seen: list[tuple[float, str, str]] = []
    start = time.monotonic()
    result = LocalTransport().run(
        HOST, "echo one; sleep 0.3; echo two >&2; sleep 0.1; printf 'three'",
        on_line=lambda stream, line: seen.append((time.monotonic() - start, stream, line)))
    assert [(s, text) for _, s, text in seen] == [("stdout", "one"), ("stderr", "two"),
                                            ("stdout", "three")]
    assert seen[0][0] < 0.25  # delivered while the command was still sleeping
    assert result == CommandResult(0, "one\nthree", "two\n")


def test_exit_status_and_stderr():
    result = LocalTransport().run(HOST, "echo oops >&2; exit 3")
    assert result.exit_status == 3
    assert result.stderr == "oops\n"
    assert result.stdout == ""


def test_runs_in_cwd_and_argv_is_not_split(tmp_path):
    odd = tmp_path / "dir with space 'and quote'"
    odd.mkdir()
    result = LocalTransport().run(HOST, "pwd; echo \"$0\"", cwd=str(odd))
    assert result.stdout.splitlines() == [str(odd), "/bin/sh"]


def test_missing_cwd_is_a_failed_command_not_a_crash(tmp_path):
    lines: list[tuple[str, str]] = []
    result = LocalTransport().run(HOST, "true", cwd=str(tmp_path / "nope"),
                                  on_line=lambda s, text: lines.append((s, text)))
    assert result.exit_status != 0
    assert "nope" in result.stderr
    assert lines and lines[0][0] == "stderr"


def test_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        LocalTransport().run(HOST, f"sleep 30 & echo $! > {pidfile}; echo started; wait",
                             timeout=0.5)
    assert time.monotonic() - start < 3
    assert "0.5s timeout" in str(caught.value) and HOST.name in str(caught.value)
    assert not isinstance(caught.value, TimeoutError)
    assert wait_dead(int(pidfile.read_text()))


def test_timeout_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path):
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    with pytest.raises(CommandTimeout):
        LocalTransport(kill_after=0.3).run(
            HOST, f"trap '' TERM; sleep 30 & echo $! > {pidfile}; wait", timeout=0.4)
    assert time.monotonic() - start < 3
    assert wait_dead(int(pidfile.read_text()))


def test_callback_error_stops_the_command(tmp_path):
    pidfile = tmp_path / "pid"

    def boom(stream: str, line: str) -> None:
        raise RuntimeError("listener failed")

    with pytest.raises(RuntimeError, match="listener failed"):
        LocalTransport(kill_after=0.5).run(HOST, f"echo $$ > {pidfile}; echo hi; sleep 30",
                                           on_line=boom)
    assert wait_dead(int(pidfile.read_text()))


def test_line_buffer_joins_split_utf8_and_crlf():
    lines: list[str] = []
    buf = LineBuffer("stdout", lambda s, text: lines.append(text))
    data = "héllo\r\nwörld".encode()
    for i in range(len(data)):
        buf.feed(data[i:i + 1])
    assert buf.finish() == "héllo\r\nwörld"
    assert lines == ["héllo", "wörld"]


def test_environment_is_inherited(monkeypatch):
    monkeypatch.setenv("BLUEGREEN_TEST_VALUE", "x y")
    assert LocalTransport().run(HOST, 'echo "$BLUEGREEN_TEST_VALUE"').stdout == "x y\n"
