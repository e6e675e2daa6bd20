"""What the benchmarks share: tables, result files, the machine, CPU use, event recording."""
from __future__ import annotations

import json
import os
import platform
import statistics
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from deploy_core.config import Config, Host, SSHConfig
from deploy_core.events import Event, StepFinished, StepStarted
from deploy_core.factory import make_router, make_store
from deploy_core.pipeline import Pipeline
from deploy_core.transports.ssh import SSHTransport

RESULTS = Path(__file__).resolve().parent / "results"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table, numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]

    def line(values: Sequence[str], raw: Sequence[Any] | None = None) -> str:
        out = []
        for i, value in enumerate(values):
            numeric = raw is not None and isinstance(raw[i], (int, float))
            out.append(value.rjust(widths[i]) if numeric else value.ljust(widths[i]))
        return "  ".join(out).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(c, r) for c, r in zip(cells, rows, strict=True))])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}",
            "loadavg_at_start": [round(x, 2) for x in load]}


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    if isinstance(data.get("machine"), dict):   # others' work on a shared machine shows here
        data["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


class CPU:
    """CPU use between ``start()`` and ``stop()``: machine-wide (/proc/stat), this process
    (all its threads), and CPU-seconds per process group from /proc/PID/stat: ``sshd``
    (with the commands its sessions ran and reaped: sh, git), ``postgres``, ``nginx``,
    ``gunicorn`` (python -m gunicorn), ``bluegreen`` (this process). A process that both
    starts and ends in between is missed."""

    def start(self) -> CPU:
        self._stat, self._own, self._wall = _proc_stat(), time.process_time(), time.monotonic()
        self._procs = _processes()
        return self

    def stop(self) -> dict[str, Any]:
        busy0, total0 = self._stat
        busy1, total1 = _proc_stat()
        wall = time.monotonic() - self._wall
        groups: dict[str, float] = defaultdict(float)
        for pid, (group, ticks) in _processes().items():
            before = self._procs.get(pid)
            groups[group] += ticks - (before[1] if before and before[0] == group else 0)
        return {"machine_busy_pct": round(100.0 * (busy1 - busy0) / max(total1 - total0, 1), 1),
                "machine_cpu_s": round((busy1 - busy0) / _TICK, 3),
                "own_cpu_s": round(time.process_time() - self._own, 3), "wall_s": round(wall, 3),
                "cpu_s_by_process": {k: round(v / _TICK, 3) for k, v in sorted(groups.items()) if v > 0}}


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]   # idle + iowait
    return sum(fields) - idle, sum(fields)


def _processes() -> dict[int, tuple[str, int]]:
    """pid -> (group, utime + stime + reaped children's) for the processes we account for."""
    found = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = sum(int(x) for x in fields[11:15])     # utime stime cutime cstime
        pid = int(entry.name)
        if pid == me:
            group = "bluegreen"
        elif comm == "sshd":
            group = "sshd"
        elif comm.startswith("postgres"):
            group = "postgres"
        elif comm == "nginx":
            group = "nginx"
        elif b"gunicorn" in cmdline:
            group = "gunicorn"
        else:
            continue
        found[pid] = (group, ticks)
    return found


class Recorder(list):
    """A pipeline listener that keeps every event."""

    def __call__(self, event: Event) -> None:
        self.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self if isinstance(e, kind)]


# -- timing the pipeline's parts, from outside it ------------------------------------------
class Timings:
    """Wall seconds per named call, summed across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] += seconds
            self.calls[name] += 1

    def total(self, prefix: str) -> float:
        with self._lock:
            return sum(v for k, v in self.seconds.items() if k.startswith(prefix))


class Timed:
    """Wraps a store, lease or router: each method call's wall time goes to ``timings``
    under ``prefix.method``; a lease returned by the store is wrapped too."""

    def __init__(self, inner: Any, timings: Timings, prefix: str) -> None:
        self._inner, self._timings, self._prefix = inner, timings, prefix

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                result = value(*args, **kwargs)
            finally:
                self._timings.add(f"{self._prefix}.{name}", time.perf_counter() - t0)
            if name == "acquire_operation":
                return Timed(result, self._timings, "lease")
            return result
        return timed

    def __enter__(self) -> Timed:          # a lease is a context manager that releases
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._inner.__exit__(*exc)
        finally:
            self._timings.add(f"{self._prefix}.__exit__", time.perf_counter() - t0)


class TimedSSH(SSHTransport):
    """The real SSH transport, recording each connection (handshake + auth) and each run."""

    def __init__(self, ssh: SSHConfig, env: Mapping[str, str]) -> None:
        super().__init__(ssh, env)
        self.connects: list[tuple[str, float, float]] = []          # host, start, end (time.time)
        self.runs: list[tuple[str, str, float, float]] = []         # host, command, start, end
        self._record = threading.Lock()

    def _connect(self, host: Host) -> Any:
        t0 = time.time()
        try:
            return super()._connect(host)
        finally:
            with self._record:
                self.connects.append((host.name, t0, time.time()))

    def run(self, host: Host, command: str, **kwargs: Any) -> Any:
        t0 = time.time()
        try:
            return super().run(host, command, **kwargs)
        finally:
            with self._record:
                self.runs.append((host.name, command, t0, time.time()))


class TimedPipeline(Pipeline):
    """A Pipeline whose identity cross-check through the public URL is timed."""

    timings: Timings

    def public_colour(self) -> Any:
        t0 = time.perf_counter()
        try:
            return super().public_colour()
        finally:
            self.timings.add("identity.get", time.perf_counter() - t0)


def timed_pipeline(config: Config, env: Mapping[str, str],
                   listener: Any = None) -> tuple[TimedPipeline, TimedSSH, Timings]:
    """A pipeline built as the factory builds it, with its store, router, transport and
    identity check timed."""
    timings = Timings()
    transport = TimedSSH(config.ssh, env)
    store = Timed(make_store(config, env), timings, "db")
    router = Timed(make_router(config, env, transport), timings, "router")
    p = TimedPipeline(config, store=store, transport=transport, router=router, listener=listener,
                      env=env)
    p.timings = timings
    return p, transport, timings


def phase_spans(events: Sequence[Event]) -> dict[str, float]:
    """Wall seconds of each deploy phase (fetch, resolve, steps, health, smoke): from its
    first StepStarted to its last StepFinished, across all hosts."""
    spans: dict[str, list[float]] = {}
    for event in events:
        if isinstance(event, (StepStarted, StepFinished)):
            name = event.name.split(":")[0]
            name = "steps" if name.startswith("step ") else name
            span = spans.setdefault(name, [event.at, event.at])
            span[0], span[1] = min(span[0], event.at), max(span[1], event.at)
    return {name: end - start for name, (start, end) in spans.items()}
