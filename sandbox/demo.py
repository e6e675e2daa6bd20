"""`bluegreen demo`: the whole blue-green cycle on a local sandbox, narrated.

status → deploy the newest commit to the idle colour → promote → release notes
→ rollback → status, while a bounded background load through the reserved IP
counts failed requests. Exit 0 only if the cycle worked with no failed request.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from deploy_core import config as config_mod
from deploy_core.errors import BluegreenError
from deploy_core.pipeline import Pipeline
from deploy_core.printer import Printer, print_notes, print_status

from .load import Load
from .sandbox import Sandbox


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM stop the demo the same way: the first one raises
    KeyboardInterrupt in the main thread, later ones are ignored so the stop finishes.

    Installed whatever the starting shell did (a shell starts background jobs with
    SIGINT ignored, which Python would otherwise keep). Python runs the handler only in
    the main thread and only between bytecodes, while the kernel may hand the signal to
    any thread: every wait of the main thread must therefore be short (see
    ``SlackDemo.wait``), or the stop waits for the wait to end."""
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt
    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_demo(interactive: bool = False, slack: bool = True, workdir: str | None = None) -> int:
    with stop_on_signals():
        return _run_demo(interactive, slack, workdir)


def _run_demo(interactive: bool, slack: bool, workdir: str | None) -> int:
    console = Console()
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bluegreen-demo-")
        workdir = tmp.name
    sandbox = Sandbox(Path(workdir))
    interrupted = False
    try:
        console.print("[bold]Starting the sandbox[/bold]: blue at 127.0.0.2:8000, green at "
                      "127.0.0.3:8000, reserved IP forwarder at 127.0.0.1:8080, DigitalOcean API stand-in")
        sandbox.start()
        env = {**os.environ, **sandbox.env}
        if slack:
            try:
                from .slack_demo import run_slack_demo
            except ImportError:
                run_slack_demo = None
            if run_slack_demo is not None:
                return run_slack_demo(sandbox, env, console, interactive=interactive)
        return _cli_cycle(sandbox, env, console)
    except KeyboardInterrupt:
        interrupted = True
        console.print("[red]interrupted: stopping everything[/red]")
        return 130
    except BluegreenError as exc:
        console.print(f"[red]✗ {exc}[/red]", highlight=False)
        return exc.exit_code
    finally:
        try:
            sandbox.stop()
        finally:
            if tmp is not None:
                tmp.cleanup()
            if interrupted:
                _leave_no_worker_behind()


def _leave_no_worker_behind(grace_s: float = 5.0) -> None:
    """After Ctrl-C a bot worker may still be finishing a cancelled operation: give it a
    few seconds, then exit anyway rather than hang (the sandbox is already stopped)."""
    deadline = time.monotonic() + grace_s
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() and not t.daemon and t is not threading.current_thread()
           for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)


def _cli_cycle(sandbox: Sandbox, env: dict, console: Console) -> int:
    cfg = config_mod.load(sandbox.config_path, env)
    pipeline = Pipeline.from_config(cfg, env, listener=Printer(console))
    timings: dict[str, float] = {}
    load = Load(sandbox.public_url + "/hostname", workers=2, interval=0.02, max_seconds=600)
    try:
        load.start()
        console.rule("status")
        print_status(console, pipeline.status())
        console.rule("deploy main (the newest commit) to the idle colour")
        t0 = time.monotonic()
        result = pipeline.deploy("main", "demo")
        timings["deploy"] = time.monotonic() - t0
        console.rule("promote")
        t0 = time.monotonic()
        promoted = pipeline.promote("demo")
        timings["promote"] = time.monotonic() - t0
        console.rule("release notes")
        print_notes(console, promoted.notes)
        console.rule("rollback")
        t0 = time.monotonic()
        pipeline.rollback("demo")
        timings["rollback"] = time.monotonic() - t0
        console.rule("status")
        print_status(console, pipeline.status())
    finally:
        stats = load.stop()
        pipeline.close()
    return report(console, timings, stats, ok=result.colour == "green")


def report(console: Console, timings: dict[str, float], stats, ok: bool = True) -> int:
    console.rule("figures")
    for name in ("deploy", "promote", "rollback"):
        if name in timings:
            console.print(f"{name:>9}: {timings[name]:.2f} s")
    colour = "green" if stats.failed == 0 else "red"
    console.print(f"[{colour}]{stats.sent} requests, {stats.failed} failed[/{colour}]"
                  + (f" ({', '.join(sorted(set(stats.errors)))})" if stats.errors else ""))
    return 0 if ok and stats.failed == 0 and stats.sent > 0 else 1
