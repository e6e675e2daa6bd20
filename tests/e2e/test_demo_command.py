"""`bluegreen demo` as a person runs it: the whole cycle, and Ctrl-C mid-deploy."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ADDRESSES = [("127.0.0.2", 8000), ("127.0.0.3", 8000), ("127.0.0.1", 8080)]


def listening(address: tuple[str, int]) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(address) == 0


def demo(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "deploy_core.cli", "demo", "--workdir",
                             str(tmp_path / "demo"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "120", **(env or {})})


def test_demo_runs_the_whole_cycle_with_no_failed_request(tmp_path):
    assert not any(listening(a) for a in ADDRESSES), "the demo's addresses are taken"
    proc = demo(tmp_path)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    for line in ("/deploy main", "[Promote]", "Release notes", "Rollback"):
        assert line in out
    figures = {name: float(value) for name, value in re.findall(r"(deploy|promote|rollback): ([\d.]+) s", out)}
    assert set(figures) == {"deploy", "promote", "rollback"}
    sent, failed = map(int, re.search(r"(\d+) requests, (\d+) failed", out).groups())
    assert sent > 0 and failed == 0
    assert not any(listening(a) for a in ADDRESSES)          # everything it started is stopped


@pytest.mark.parametrize("mode", [[], ["--cli"]], ids=["slack", "cli"])
def test_ctrl_c_mid_deploy_stops_everything(tmp_path, mode):
    pause = tmp_path / "pause"
    pause.mkdir()
    proc = demo(tmp_path, *mode, env={"BLUEGREEN_PAUSE_AT": "deploy:health",
                                        "BLUEGREEN_PAUSE_DIR": str(pause)})
    try:
        deadline = time.monotonic() + 120
        while not (pause / "deploy:health.reached").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the demo never reached deploy"
            time.sleep(0.05)
        assert all(listening(a) for a in ADDRESSES)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in processes_mentioning(str(tmp_path / "demo")):   # never leave a sandbox behind
            os.kill(pid, signal.SIGKILL)
    assert time.monotonic() - sent < 30, "Ctrl-C took too long to stop the demo"
    assert proc.returncode != 0 and ("interrupted" in out or "Ctrl-C" in out), out
    assert not any(listening(a) for a in ADDRESSES)
    assert processes_mentioning(str(tmp_path / "demo")) == []


def processes_mentioning(text: str) -> list[int]:
    """Live (not zombie) processes whose command line mentions ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found
