"""Run commands on this machine with subprocess (the sandbox and ``bluegreen demo``)."""
from __future__ import annotations

import codecs
import os
import queue
import signal
import subprocess
import threading
import time
from typing import IO

from ..config import Host
from ..errors import CommandTimeout
from . import CommandResult, LineCallback

_CHUNK = 65536
# bluegreen's own secrets: a step never needs them (over SSH it would not see them either),
# and a step that prints its environment must not put them in the deploy's log
SECRET_VARIABLES = frozenset({"DIGITALOCEAN_TOKEN", "DATABASE_URL", "BLUEGREEN_SSH_KEY",
                              "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"})


def step_environment() -> dict[str, str]:
    """This process's environment without bluegreen's secrets."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}


class LineBuffer:
    """Decode one output stream incrementally, hand each complete line to ``on_line``
    as it arrives, and keep the text for the result: all of it, or with ``keep`` its
    first and last ``keep // 2`` characters (a command printing megabytes stays bounded)."""

    def __init__(self, stream: str, on_line: LineCallback | None, keep: int | None = None) -> None:
        self.stream = stream
        self.on_line = on_line
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        self._pending = ""
        self._keep = keep
        self._head_left = keep // 2 if keep else 0
        self._tail = ""
        self._cut = 0

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        self._store(text)
        *lines, self._pending = (self._pending + text).split("\n")
        if len(self._pending) > _CHUNK:          # a "line" that never ends: pass it on in parts
            lines.append(self._pending)
            self._pending = ""
        if final and self._pending:
            lines.append(self._pending)
            self._pending = ""
        for line in lines:
            if self.on_line is not None:
                self.on_line(self.stream, line.rstrip("\r"))

    def _store(self, text: str) -> None:
        if self._keep is None:
            self._parts.append(text)
            return
        if self._head_left:
            head, text = text[:self._head_left], text[self._head_left:]
            self._parts.append(head)
            self._head_left -= len(head)
        tail = self._tail + text
        half = self._keep - self._keep // 2
        if len(tail) > half:
            self._cut += len(tail) - half
            tail = tail[-half:]
        self._tail = tail

    def finish(self) -> str:
        """Flush a last line without a newline; return what was kept."""
        self.feed(b"", final=True)
        cut = f"\n… {self._cut} characters cut …\n" if self._cut else ""
        return "".join(self._parts) + cut + self._tail


def describe(command: str, limit: int = 120) -> str:
    """A command shortened for an error message."""
    one_line = " ".join(command.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


class LocalTransport:
    """Runs shell commands as local subprocesses; ``host`` only names the target in messages.

    On timeout the command's whole process group gets SIGTERM, then SIGKILL after
    ``kill_after`` seconds, the way ``timeout --kill-after`` does on SSH hosts.
    """

    def __init__(self, *, kill_after: float = 5.0, keep: int | None = None) -> None:
        self.kill_after = kill_after
        self.keep = keep          # characters of each stream kept for the result (None: all)

    def run(self, host: Host | None, command: str, *, cwd: str | None = None,
            timeout: float = 600.0, on_line: LineCallback | None = None) -> CommandResult:
        where = host.name if host is not None else "local"
        out, err = LineBuffer("stdout", on_line, self.keep), LineBuffer("stderr", on_line, self.keep)
        try:
            # argv, no shell=True: running the configured step's shell text is the point
            proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=cwd,  # noqa: S603 # nosec B603
                                    stdin=subprocess.DEVNULL, env=step_environment(),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
        except OSError as exc:  # a missing or unusable cwd, as `cd` would report it on a host
            err.feed(f"cannot run in {exc.filename}: {exc.strerror}\n".encode())
            return CommandResult(2, out.finish(), err.finish())

        chunks: queue.Queue[tuple[LineBuffer, bytes | None]] = queue.Queue()
        readers = [threading.Thread(target=_read, args=(pipe, buf, chunks), daemon=True,
                                    name=f"local-{buf.stream}")
                   for pipe, buf in ((proc.stdout, out), (proc.stderr, err))]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + timeout
        open_streams = 2
        try:
            while open_streams:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._timed_out(proc, where, command, timeout, out, err)
                try:
                    buf, data = chunks.get(timeout=left)
                except queue.Empty:
                    continue
                if data is None:
                    open_streams -= 1
                else:
                    buf.feed(data)
            try:
                status = proc.wait(max(deadline - time.monotonic(), 0.001))
            except subprocess.TimeoutExpired:
                raise self._timed_out(proc, where, command, timeout, out, err) from None
        finally:
            if proc.returncode is None:  # on_line raised, or a timeout: leave nothing behind
                self._kill_group(proc)
        return CommandResult(status if status >= 0 else 128 - status, out.finish(), err.finish())

    def _timed_out(self, proc: subprocess.Popen[bytes], where: str, command: str,
                   timeout: float, out: LineBuffer, err: LineBuffer) -> CommandTimeout:
        self._kill_group(proc)
        out.finish()
        err.finish()
        return CommandTimeout(f"{where}: `{describe(command)}` ran past its {timeout:g}s timeout "
                              "and was stopped", host=where, timeout=timeout)

    def _kill_group(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM the process group, SIGKILL it after ``kill_after`` seconds, reap."""
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(self.kill_after)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc.pid, signal.SIGKILL)  # stragglers that ignored SIGTERM
        proc.wait()

    def close(self) -> None:
        """Nothing to release: every run is its own process."""


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _read(pipe: IO[bytes] | None, buf: LineBuffer,
          chunks: queue.Queue[tuple[LineBuffer, bytes | None]]) -> None:
    """Reader thread: pass raw chunks to the calling thread, then None at end of stream."""
    try:
        while pipe is not None and (data := os.read(pipe.fileno(), _CHUNK)):
            chunks.put((buf, data))
    except OSError:
        pass
    finally:
        chunks.put((buf, None))
        if pipe is not None:
            pipe.close()
