"""Acknowledgement latency of slash commands over HTTP, idle and while a deploy runs.

The bot runs under gunicorn (one worker, 8 threads) against the sandbox and the
Slack stand-in; 500 signed slash commands (help, status, history, and a refused
/promote, in turn) go out from 4 concurrent senders, each timed from request to
HTTP answer. Then the same again while a deploy with a 30 s step is running.
"in-ack" commands are answered in the acknowledgement itself (help, a refusal);
"queued" ones are acknowledged and then answered from the bot's worker pool
(status, history), whose work shares the process. "busy" counts acks that said
the pool's backlog was full.

    /work/venv/bin/python benchmarks/ack.py [--count 500] [--senders 4]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox import Sandbox  # noqa: E402
from sandbox.slack_api import SlackAPI, render_message  # noqa: E402
from tests.bot.support import ALICE, BOB, CHANNEL, BotServer, slack_env  # noqa: E402

ADDRESSES = {"blue": ("127.0.0.62", 8000), "green": ("127.0.0.63", 8000),
             "public": ("127.0.0.61", 8080)}
MIX = [("/deploy", "help", BOB), ("/deploy", "status", BOB), ("/deploy", "history", ALICE),
       ("/promote", "", BOB)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def burst(bot: BotServer, count: int, senders: int) -> dict:
    def one(i: int) -> tuple[float, int, bool, bool]:
        command, text, user = MIX[i % len(MIX)]
        t0 = time.perf_counter()
        answer = bot.command(command, text, user=user)
        took = (time.perf_counter() - t0) * 1000
        return took, answer.status_code, "busy" in answer.text, text in ("status", "history")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=senders) as pool:
        results = list(pool.map(one, range(count)))
    wall = time.perf_counter() - t0
    times = [r[0] for r in results]
    queued = [r[0] for r in results if r[3]]          # acked, then answered from our pool
    in_ack = [r[0] for r in results if not r[3]]      # answered in the ack itself
    return {"count": count, "ok": sum(r[1] == 200 for r in results),
            "busy": sum(r[2] for r in results), "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(percentile(times, 99), 2), "max_ms": round(max(times), 2),
            "p50_answered_in_ack_ms": round(statistics.median(in_ack), 2),
            "p50_queued_ms": round(statistics.median(queued), 2), "seconds": round(wall, 2)}


def deploy_running(slack: SlackAPI) -> bool:
    shown = [render_message(m) for m in slack.messages(CHANNEL)]
    return any("Deploy `main`" in t and "⏳" in t for t in shown)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bluegreen-ack-") as tmp:
        sb = Sandbox(Path(tmp) / "sandbox", blue=ADDRESSES["blue"], green=ADDRESSES["green"],
                     public=ADDRESSES["public"])
        with sb, SlackAPI(users=dict([ALICE, BOB])) as slack:
            text = sb.config_path.read_text().replace("steps = [\n", 'steps = [\n  "sleep 30",\n')
            sb.config_path.write_text(text)
            with BotServer(slack_env(slack, **sb.env), Path(tmp) / "gunicorn.log", slack) as bot:
                burst(bot, 20, args.senders)                      # warm up
                idle = burst(bot, args.count, args.senders)
                bot.command("/deploy", "main", user=ALICE)
                slack.wait_for(lambda: deploy_running(slack), timeout=30)
                during = burst(bot, args.count, args.senders)
                during["deploy_still_running"] = deploy_running(slack)
    results = {"idle": idle, "during_deploy": during, "senders": args.senders,
               "server": "gunicorn, 1 worker, 8 threads; bot pool 8 workers + 200 waiting",
               "mix": [f"{c} {t}".strip() for c, t, _ in MIX]}
    print(f"{'':15} {'commands':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'busy':>5} "
          f"{'p50 in-ack':>10} {'p50 queued':>10}")
    for name, row in (("idle", idle), ("during deploy", during)):
        print(f"{name:15} {row['count']:>8} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
              f"{row['max_ms']:>8.2f} {row['busy']:>5} {row['p50_answered_in_ack_ms']:>10.2f} "
              f"{row['p50_queued_ms']:>10.2f}")
    out = ROOT / "benchmarks" / "results" / "ack.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    ok = idle["ok"] == during["ok"] == args.count and during["deploy_still_running"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
