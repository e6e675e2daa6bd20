"""Cutover: does any visitor see an error while traffic moves, and how fast does it move?

A bounded constant load (a new connection per request, GET /hostname) goes through the
public address of the fleet (tests/support/fleet.py: real sshd hosts, gunicorn behind
nginx, deploys over SSH, Postgres state) during CYCLES cycles of deploy -> promote ->
rollback, once per router (the nginx front host, and the DigitalOcean stand-in's
reserved-IP forwarder). Loopback only. "promote->1st green" is the time from the start of
promote to the first answer from the new colour; "promote->last blue" to the last answer
from the old one, after which every answer came from the new colour (answers are timed
when they complete). Rollback likewise, the other way round.

    python benchmarks/cutover.py [--quick] [--cycles N] [--router nginx|digitalocean]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CPU, machine, median, table, write_results  # noqa: E402
from sandbox.load import Load  # noqa: E402
from tests.support.fleet import IDENTITY, ROUTERS, Fleet  # noqa: E402

BLUE, GREEN = IDENTITY.format(colour="blue"), IDENTITY.format(colour="green")
WORKERS, INTERVAL_S = 2, 0.01          # the load: 2 clients, 10 ms pause between requests
MAX_REQUESTS, MAX_SECONDS = 60_000, 600


def run_router(fleet: Fleet, router: str, cycles: int, settle: float) -> dict[str, Any]:
    """One load over ``cycles`` cycles on ``router``; the timings of each cycle."""
    fleet.reset()
    p = fleet.pipeline(router)
    marks: list[dict[str, Any]] = []
    load = Load(fleet.public_url(router) + "/hostname", workers=WORKERS, interval=INTERVAL_S,
                timeout=5.0, max_requests=MAX_REQUESTS, max_seconds=MAX_SECONDS)
    cpu = CPU().start()
    load.start()
    try:
        time.sleep(settle)
        for n in range(1, cycles + 1):
            fleet.add_commit(f"cutover release {n}", {"VERSION": f"2.{n}.0\n"})
            mark: dict[str, Any] = {"cycle": n}
            t0 = time.monotonic()
            mark["sha"] = p.deploy("main", "bench").sha
            mark["deploy_s"] = time.monotonic() - t0
            time.sleep(settle)
            mark["promote_at"] = time.time()
            mark["promote_s"] = p.promote("bench").elapsed
            time.sleep(settle)
            mark["rollback_at"] = time.time()
            mark["rollback_s"] = p.rollback("bench").elapsed
            time.sleep(settle)
            marks.append(mark)
    finally:
        result = load.stop()
        used = cpu.stop()
    end = time.time()
    answers = sorted(result.answers)
    for i, mark in enumerate(marks):
        following = marks[i + 1]["promote_at"] if i + 1 < len(marks) else end
        mark["to_new_first_s"], mark["to_new_all_s"] = moves(
            answers, mark["promote_at"], mark["rollback_at"], GREEN, BLUE)
        mark["back_first_s"], mark["back_all_s"] = moves(
            answers, mark["rollback_at"], following, BLUE, GREEN)
    seconds = used["wall_s"]
    return {"router": router, "cycles": marks, "cpu": used,
            "load": {"workers": WORKERS, "interval_s": INTERVAL_S, "sent": result.sent,
                     "failed": result.failed, "errors": result.errors,
                     "rate_per_s": result.sent / seconds if seconds else 0.0,
                     "p50_ms": 1000 * result.percentile(0.50), "p99_ms": 1000 * result.percentile(0.99),
                     "max_ms": 1000 * max(result.latencies, default=0.0), "seconds": seconds}}


def moves(answers: list[tuple[float, str]], start: float, end: float, new: str,
          old: str) -> tuple[float | None, float]:
    """Seconds from ``start`` to the first answer of ``new`` and to the last answer of ``old``
    (after which every answer came from ``new``), among answers completed in [start, end)."""
    window = [(t, body) for t, body in answers if start <= t < end]
    first_new = min((t for t, body in window if body == new), default=None)
    last_old = max((t for t, body in window if body == old), default=start)
    return (None if first_new is None else first_new - start), last_old - start


def report(runs: list[dict[str, Any]]) -> str:
    load = table(["router", "cycles", "requests sent", "failed", "req/s", "p50 ms", "p99 ms",
                  "max ms", "machine CPU %"],
                 [[r["router"], len(r["cycles"]), r["load"]["sent"], r["load"]["failed"],
                   r["load"]["rate_per_s"], r["load"]["p50_ms"], r["load"]["p99_ms"],
                   r["load"]["max_ms"], r["cpu"]["machine_busy_pct"]] for r in runs])
    keys = ["deploy_s", "promote_s", "to_new_first_s", "to_new_all_s", "rollback_s",
            "back_first_s", "back_all_s"]
    heads = ["deploy s", "promote s", "promote->1st green s", "promote->last blue s",
             "rollback s", "rollback->1st blue s", "rollback->last green s"]
    cycles = table(["router", "cycle", *heads],
                   [[r["router"], m["cycle"], *(m[k] for k in keys)] for r in runs for m in r["cycles"]])
    summary = table(["router", "figure", *heads],
                    [[r["router"], agg, *(fn([m[k] for m in r["cycles"] if m[k] is not None])
                                          for k in keys)]
                     for r in runs for agg, fn in (("median", median), ("max", _max))])
    return f"{load}\n\n{cycles}\n\n{summary}"


def _max(values: list[float]) -> float | None:
    return max(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one cycle per router")
    parser.add_argument("--cycles", type=int, default=None, help="cycles per router (default 5)")
    parser.add_argument("--router", choices=ROUTERS, action="append", help="default: both")
    args = parser.parse_args(argv)
    cycles = max(1, min(args.cycles or (1 if args.quick else 5), 20))
    settle = 0.5 if args.quick else 1.0
    routers = args.router or list(ROUTERS)
    info = machine()
    with tempfile.TemporaryDirectory(prefix="bluegreen-cutover-") as tmp:
        with Fleet(Path(tmp)) as fleet:
            action_delay = fleet.action_delay_s
            runs = [run_router(fleet, router, cycles, settle) for router in routers]
    text = report(runs)
    print(text)
    failed = sum(r["load"]["failed"] for r in runs)
    print(f"\nfailed requests in total: {failed} (goal 0). DigitalOcean stand-in action delay "
          f"{action_delay:g}s (the real API documents none; its example action ran ~11 s).")
    name = "cutover-quick" if args.quick else "cutover"
    path = write_results(name, {
        "benchmark": "cutover", "machine": info, "quick": args.quick, "cycles_per_router": cycles,
        "settle_s": settle, "do_action_delay_s": action_delay, "runs": runs,
        "failed_total": failed, "table": text})
    print(f"results: {path}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
