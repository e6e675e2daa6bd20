"""Fan-out: how deploy time grows with 1, 4 and 16 hosts per colour.

Every host is a real sshd (127.0.1.1-16 blue, 127.0.1.17-32 green, :2222) with its own
checkout of a local origin; the deploy runs the real pipeline over SSH (fetch, resolve,
`git checkout --force --detach {sha}`, a check of HEAD), then health and smoke against
one light HTTP server all hosts share (what is measured is our parallel SSH work), with
state in Postgres and the DigitalOcean stand-in as router. Each deploy fetches a new
commit. "cold" builds a new pipeline per deploy (new SSH connections, as the CLI does);
"warm" reuses one (the bot keeps its connections). "local same work" runs the same
commands on as many checkouts at once without SSH: what the work costs on this machine.

Two profiles: "git" runs only the git work above, which on one 2-core machine shares the
cores with our side of the fan-out; "host-work-1s" adds a step `sleep 1` standing for
host-side work (install, reload) that real hosts do on their own CPUs, in parallel.

Columns: phases are wall spans from the pipeline's events across all hosts ("before
fetch": lock, router read, identity cross-check, DB rows); "connect wall" from the first
SSH connection attempt to the last one established, "1 connect" the median handshake +
auth; "checkout cmd" the median `git checkout` command over an open connection; "DB calls"
the time of every store call summed over the host threads; CPU-seconds per process group
from /proc ("machine CPU" counts every process, others' work on a shared machine too).

    python benchmarks/fanout.py [--quick]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (CPU, Recorder, machine, median, phase_spans,  # noqa: E402
                               table, timed_pipeline, write_results)
from deploy_core import config as config_mod  # noqa: E402
from deploy_core.events import StepFinished, StepStarted  # noqa: E402
from sandbox import repo  # noqa: E402
from sandbox.do_api import DOStandIn  # noqa: E402
from sandbox.sandbox import DROPLETS, RESERVED_IP  # noqa: E402
from tests.support.fleet import IDENTITY, TOKEN, config_text  # noqa: E402
from tests.support.postgres import create_database, drop_database  # noqa: E402
from tests.support.sshd import SSHDFleet  # noqa: E402

SIZES = (1, 4, 16)
ADDRESSES = {f"fan{i}": (f"127.0.1.{i}", 2222) for i in range(1, 33)}
CHECKOUT = ("git checkout --force --detach {sha}", 'test "$(git rev-parse HEAD)" = {sha}')
PROFILES = {"git": CHECKOUT, "host-work-1s": (*CHECKOUT, "sleep 1")}


class _Pages(BaseHTTPRequestHandler):
    """The shared light app: health, a home page, blue's identity; 404 for anything else."""

    PAGES = {"/healthz": "ok", "/": "Welcome to shop", "/hostname": IDENTITY.format(colour="blue")}

    def do_GET(self) -> None:
        body = self.PAGES.get(self.path)
        data = (body or "not found").encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128   # the default 5 drops SYNs of 16 hosts' checks: 1 s retransmits


class Bench:
    """Origin, 32 sshd hosts with checkouts, the shared app, the DO stand-in, a database."""

    def __init__(self, workdir: Path, stack: ExitStack) -> None:
        self.workdir = workdir
        self.origin = repo.make_origin(workdir / "repo")
        self.sshd = SSHDFleet.start(workdir / "sshd", ADDRESSES)
        stack.callback(self.sshd.stop)
        for address, _ in ADDRESSES.values():
            repo.git(workdir, "clone", "--quiet", str(self.origin), str(self.checkout(address)))
        self.web = _Server(("127.0.0.1", 0), _Pages)
        threading.Thread(target=self.web.serve_forever, args=(0.05,), daemon=True).start()
        stack.callback(self.web.server_close)
        stack.callback(self.web.shutdown)
        self.url = f"http://127.0.0.1:{self.web.server_address[1]}"
        self.do = DOStandIn(TOKEN, host="127.0.0.1", port=0, action_delay_s=0.1)
        for colour, droplet in DROPLETS.items():
            self.do.add_droplet(droplet, f"shop-{colour}", ("127.0.0.1", self.web.server_address[1]))
        self.do.add_reserved_ip(RESERVED_IP, None, DROPLETS["blue"])
        self.do.start()
        stack.callback(self.do.stop)
        name, self.database_url = create_database("bluegreen_fanout")
        stack.callback(drop_database, name)
        self.env = {"DATABASE_URL": self.database_url, "DIGITALOCEAN_TOKEN": TOKEN,
                    "DIGITALOCEAN_API_URL": self.do.url}
        self.commits = 0

    def checkout(self, address: str) -> Path:
        return self.workdir / "fan" / address

    def hosts(self, colour: str, n: int) -> list[str]:
        first = 1 if colour == "blue" else 17
        return [f"127.0.1.{i}" for i in range(first, first + n)]

    def config(self, profile: str, n: int) -> config_mod.Config:
        path = self.workdir / f"fanout-{profile}-{n}.toml"
        path.write_text(config_text(
            public_url=self.url, ssh=self.sshd, deploy_path=str(self.workdir / "fan" / "{host}"),
            steps=PROFILES[profile], colours={c: [(a, self.url) for a in self.hosts(c, n)] for c in DROPLETS},
            router={"kind": "digitalocean", "reserved_ip": RESERVED_IP, "action_timeout_s": 10,
                    "action_interval_s": 0.1}))
        return config_mod.load(path, self.env)

    def new_commit(self) -> str:
        self.commits += 1
        return repo.add_commit(self.origin, f"fan-out release {self.commits}",
                               {"VERSION": f"3.{self.commits}.0\n"})

    def local_same_work(self, profile: str, n: int, sha: str) -> float:
        """The deploy's commands on n (blue) checkouts at once, without SSH."""
        script = (f"git fetch --prune --tags origin && git rev-parse --verify --quiet "
                  f"refs/remotes/origin/main^{{commit}} >/dev/null && "
                  f"git checkout --quiet --force --detach {sha} && test \"$(git rev-parse HEAD)\" = {sha}")
        if profile == "host-work-1s":
            script += " && sleep 1"

        def work(address: str) -> None:
            subprocess.run(["sh", "-c", script], cwd=self.checkout(address), check=True,
                           capture_output=True, timeout=60)
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=n) as pool:
            list(pool.map(work, self.hosts("blue", n)))
        return time.monotonic() - t0


def measure(bench: Bench, profile: str, n: int, built: tuple | None,
            events: Recorder) -> dict[str, Any]:
    """One deploy of a new commit to the n green hosts; ``built`` reuses a warm pipeline."""
    sha = bench.new_commit()
    local = bench.local_same_work(profile, n, sha)
    cfg = bench.config(profile, n) if built is None else None
    p, transport, timings = built or timed_pipeline(cfg, bench.env, events)
    events.clear()
    connects, runs = len(transport.connects), len(transport.runs)
    db_before = dict(timings.seconds)
    cpu = CPU().start()
    t0 = time.time()
    result = p.deploy("main", "bench")
    end = time.time()
    used = cpu.stop()
    if built is None:
        p.close()
    assert result.sha == sha and len(result.host_urls) == n
    spans = phase_spans(events)
    started = [e.at for e in events if isinstance(e, StepStarted)]
    finished = [e.at for e in events if isinstance(e, StepFinished)]
    new_connects = transport.connects[connects:]
    checkout_runs = [e - s for _, c, s, e in transport.runs[runs:] if c.startswith("git checkout")]
    return {
        "hosts": n, "deploy_s": end - t0, "local_same_work_s": local,
        "before_fetch_s": min(started) - t0, "after_smoke_s": end - max(finished),
        **{f"{k.replace(' ', '_')}_s": v for k, v in spans.items()},
        "connects": len(new_connects),
        "connect_wall_s": (max(e for _, _, e in new_connects) - min(s for _, s, _ in new_connects))
        if new_connects else 0.0,
        "connect_median_s": median([e - s for _, s, e in new_connects]) or 0.0,
        "checkout_cmd_median_s": median(checkout_runs) or 0.0,
        "db_s_summed": timings.total("db.") + timings.total("lease.") - sum(
            v for k, v in db_before.items() if k.startswith(("db.", "lease."))),
        "db_calls_s": {k: round(v - db_before.get(k, 0.0), 4) for k, v in timings.seconds.items()
                       if k.startswith(("db.", "lease.")) and v - db_before.get(k, 0.0) > 0},
        "sshd_cpu_s": used["cpu_s_by_process"].get("sshd", 0.0),
        "postgres_cpu_s": used["cpu_s_by_process"].get("postgres", 0.0),
        **used}


TIME_COLUMNS = [
    ("deploy s", "deploy_s"), ("before fetch s", "before_fetch_s"),
    ("connect wall s", "connect_wall_s"), ("1 connect s", "connect_median_s"),
    ("fetch s", "fetch_s"), ("resolve s", "resolve_s"), ("steps s", "steps_s"),
    ("checkout cmd s", "checkout_cmd_median_s"), ("health s", "health_s"), ("smoke s", "smoke_s"),
    ("after smoke s", "after_smoke_s")]
CPU_COLUMNS = [
    ("deploy s", "deploy_s"), ("local same work s", "local_same_work_s"),
    ("DB calls s (summed)", "db_s_summed"), ("machine CPU %", "machine_busy_pct"),
    ("machine CPU s", "machine_cpu_s"), ("bluegreen CPU s", "own_cpu_s"),
    ("sshd+sh+git CPU s", "sshd_cpu_s"), ("postgres CPU s", "postgres_cpu_s")]
COLUMNS = TIME_COLUMNS + CPU_COLUMNS[1:]


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for profile in PROFILES:
        for mode in ("cold", "warm"):
            for n in SIZES:
                mine = [r for r in runs if (r["profile"], r["mode"], r["hosts"]) == (profile, mode, n)]
                if not mine:
                    continue
                row = {"profile": profile, "mode": mode, "hosts": n, "deploys": len(mine)}
                row.update({key: median([r.get(key, 0.0) for r in mine]) for _, key in COLUMNS})
                rows.append(row)
    for row in rows:
        one = next(r for r in rows if (r["profile"], r["mode"], r["hosts"]) ==
                   (row["profile"], row["mode"], 1))
        row["ratio_to_1"] = row["deploy_s"] / one["deploy_s"]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one deploy per size and mode")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else 3
    info = machine()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bluegreen-fanout-") as tmp, ExitStack() as stack:
        bench = Bench(Path(tmp), stack)
        for profile in PROFILES:
            for n in SIZES:
                events = Recorder()
                for _ in range(rounds):
                    runs.append({"profile": profile, "mode": "cold",
                                 **measure(bench, profile, n, None, events)})
                warm = timed_pipeline(bench.config(profile, n), bench.env, events)
                measure(bench, profile, n, warm, events)     # opens the connections: not counted
                for _ in range(rounds):
                    runs.append({"profile": profile, "mode": "warm",
                                 **measure(bench, profile, n, warm, events)})
                warm[0].close()
    rows = summarise(runs)
    keys = ("profile", "mode", "hosts", "deploys")
    text = "\n\n".join(
        table([*keys, "x 1 host", *(h for h, _ in columns)],
              [[*(r[k] for k in keys), r["ratio_to_1"], *(r[k] for _, k in columns)] for r in rows])
        for columns in (TIME_COLUMNS, CPU_COLUMNS))
    ratios = {f"{r['profile']} {r['mode']}": r["ratio_to_1"] for r in rows if r["hosts"] == 16}
    text += ("\n\n16-host : 1-host deploy time (medians; goal under 2): "
             + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    print(text)
    name = "fanout-quick" if args.quick else "fanout"
    path = write_results(name, {"benchmark": "fanout", "machine": info, "quick": args.quick,
                                    "rounds": rounds, "profiles": PROFILES, "runs": runs,
                                    "summary": rows, "ratio_16_to_1": ratios, "table": text})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
