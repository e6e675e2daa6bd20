"""Overhead: `bluegreen deploy` to one host against the seed's own method on the same host.

The host is green of the fleet (tests/support/fleet.py: sshd 127.0.0.13:2222, gunicorn
behind nginx 127.0.0.13:8081). The seed deploys with `ssh root@host "git pull"` and then
restarts the app; here that is the real OpenSSH client against the same sshd: one ssh for
`git pull` in a checkout on branch main, one for the restart (the same graceful HUP
bluegreen's step sends), then a local poll until the host serves the new release (the
seed's restart returns before that). bluegreen runs its pipeline (lock, router read and
identity cross-check, fetch, resolve, checkout, HUP, wait for the release, health, smoke;
state in Postgres, the DigitalOcean router), in-process with a new pipeline per deploy and
as the `bluegreen` CLI process. Every trial deploys a new commit, methods interleaved.

    python benchmarks/overhead.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (Recorder, machine, median, table, timed_pipeline,  # noqa: E402
                               write_results)
from deploy_core.events import StepFinished, StepStarted  # noqa: E402
from sandbox import repo  # noqa: E402
from tests.support.fleet import Fleet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ROUTER = "digitalocean"
STEP_LABELS = {"fetch": "fetch (git fetch)", "resolve": "resolve (git rev-parse)",
               "step 1": "step 1: git checkout", "step 2": "step 2: kill -HUP",
               "step 3": "step 3: wait for the release"}


def ssh_argv(fleet: Fleet, command: str) -> list[str]:
    """The real ssh client, isolated from ~/.ssh, strict about the host key."""
    assert fleet.sshd is not None
    server = fleet.sshd["green"]
    return ["ssh", "-q", "-F", "/dev/null", "-i", str(fleet.sshd.key_file),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={fleet.sshd.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-p", str(server.port),
            f"{fleet.sshd.user}@{server.address}", command]


def prepare_green(fleet: Fleet) -> str:
    """green on branch main at origin's head, serving it; then a new commit; return its sha."""
    green = fleet.apps["green"]
    repo.git(green.checkout, "fetch", "--quiet", "origin")
    repo.git(green.checkout, "checkout", "--quiet", "--force", "-B", "main", "origin/main")
    repo.git(green.checkout, "branch", "--quiet", "--set-upstream-to=origin/main", "main")
    head = repo.git(green.checkout, "rev-parse", "HEAD")
    if not serves(fleet, head):
        green.reload()
        wait_serving(fleet, head)
    return fleet.add_commit(f"overhead release {time.time():.0f}", {"VERSION": f"4.{time.time_ns()}\n"})


def serves(fleet: Fleet, sha: str) -> bool:
    try:
        return f"({sha[:7]})" in fleet.get(fleet.apps["green"].url + "/")[1]
    except OSError:
        return False


def wait_serving(fleet: Fleet, sha: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not serves(fleet, sha):
        if time.monotonic() > deadline:
            raise RuntimeError(f"green does not serve {sha[:7]} after {timeout:g}s")
        time.sleep(0.02)


def run_seed(fleet: Fleet) -> dict[str, float]:
    sha = prepare_green(fleet)
    green = fleet.apps["green"]
    pull = f"cd {shlex.quote(str(green.checkout))} && git pull"
    restart = f'kill -HUP "$(cat {shlex.quote(str(green.pidfile))})"'
    t0 = time.monotonic()
    subprocess.run(ssh_argv(fleet, pull), check=True, capture_output=True, timeout=60)
    t1 = time.monotonic()
    subprocess.run(ssh_argv(fleet, restart), check=True, capture_output=True, timeout=60)
    t2 = time.monotonic()
    wait_serving(fleet, sha)
    t3 = time.monotonic()
    return {"ssh git pull": t1 - t0, "ssh restart (HUP)": t2 - t1, "wait for new release": t3 - t2,
            "seed_s": t2 - t0, "seed_until_serving_s": t3 - t0}


def run_library(fleet: Fleet) -> dict[str, float]:
    """An in-process deploy with a new pipeline; each part of its time, from outside."""
    sha = prepare_green(fleet)
    events = Recorder()
    t0 = time.monotonic()
    config = fleet.config(ROUTER)
    p, transport, timings = timed_pipeline(config, fleet.env(ROUTER), events)
    build = time.monotonic() - t0
    try:
        result = p.deploy("main", "bench")
        total = time.monotonic() - t0
    finally:
        p.close()
    assert result.sha == sha and serves(fleet, sha)
    connect = sum(end - start for _, start, end in transport.connects)
    names = [e.name for e in events.of(StepStarted) if e.name not in ("health",)
             and not e.name.startswith("smoke")]
    runs = [end - start for _, _, start, end in transport.runs]
    parts = {"load config, open store (migration check), clients": build,
             "lock + DB": timings.total("db.") + timings.total("lease."),
             "router read": timings.total("router."), "identity cross-check": timings.total("identity."),
             "SSH connect": connect}
    for name, seconds in zip(names, runs, strict=True):
        label = STEP_LABELS.get(name.split(":")[0], name)
        parts[label] = seconds - (connect if name == "fetch" else 0.0)
    finished = events.of(StepFinished)
    parts["health"] = sum(e.elapsed for e in finished if e.name == "health")
    parts["smoke"] = sum(e.elapsed for e in finished if e.name.startswith("smoke"))
    parts["other (Python, events)"] = total - sum(parts.values())
    return {**parts, "library_s": total}


def run_cli(fleet: Fleet) -> dict[str, float]:
    sha = prepare_green(fleet)
    env = {**os.environ, **fleet.env(ROUTER), "BLUEGREEN_ACTOR": "bench"}
    argv = [sys.executable, "-m", "deploy_core.cli", "--config", str(fleet.config_path(ROUTER)),
            "deploy", "main"]
    t0 = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    total = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"bluegreen deploy exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    assert serves(fleet, sha)
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import deploy_core.cli, deploy_core.factory, paramiko, "
                    "pydo, sqlalchemy, psycopg, alembic"], cwd=ROOT, check=True, timeout=60)
    return {"cli_s": total, "python start + imports": time.monotonic() - started}


def report(trials: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    def col(key: str) -> list[float]:
        return [t[key] for t in trials if key in t]
    served, literal = median(col("seed_until_serving_s")), median(col("seed_s"))
    methods = [("seed: ssh git pull + ssh restart", "seed_s"),
               ("seed + wait until the new release is served", "seed_until_serving_s"),
               ("bluegreen deploy (library: config + new pipeline + deploy)", "library_s"),
               ("bluegreen deploy (CLI process)", "cli_s")]
    rows, figures = [], {}
    for label, key in methods:
        values = col(key)
        m = median(values)
        figures[key] = {"median": m, "min": min(values), "max": max(values), "n": len(values)}
        rows.append([label, len(values), m, min(values), max(values), m / served, m / literal])
    first = table(["method", "n", "median s", "min s", "max s", "x seed until served",
                   "x seed pull+restart"], rows)
    lib = [t for t in trials if "library_s" in t]
    keys = [k for k in lib[0] if k != "library_s"]
    total = median(col("library_s"))
    parts = [[k, median([t[k] for t in lib]), 100 * median([t[k] for t in lib]) / total] for k in keys]
    second = table(["bluegreen (library) phase", "median s", "% of median deploy"], parts)
    seeds = [t for t in trials if "seed_s" in t]
    third = table(["seed phase", "median s"],
                  [[k, median([t[k] for t in seeds])] for k in
                   ("ssh git pull", "ssh restart (HUP)", "wait for new release")]
                  + [["CLI: python start + imports (alone)", median(col("python start + imports"))]])
    figures["library_phases_median_s"] = {k: v for k, v, _ in parts}
    return f"{first}\n\n{second}\n\n{third}", figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two trials of each method")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else 7
    info = machine()
    trials: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bluegreen-overhead-") as tmp:
        with Fleet(Path(tmp)) as fleet:
            run_library(fleet)                     # warm the page cache and git objects: not counted
            for _ in range(rounds):
                for method in (run_seed, run_library, run_cli):
                    trials.append(method(fleet))
    text, figures = report(trials)
    print(text)
    name = "overhead-quick" if args.quick else "overhead"
    path = write_results(name, {"benchmark": "overhead", "machine": info, "quick": args.quick,
                                      "rounds": rounds, "router": ROUTER, "trials": trials,
                                      "figures": figures, "table": text})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
