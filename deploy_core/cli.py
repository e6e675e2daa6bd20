"""`bluegreen`: the pipeline from a terminal, with live progress.

Exit codes: 0 done; 1 understood but refused or failed; 2 malformed
invocation or configuration (nothing attempted).
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import NoReturn, Sequence

from rich.console import Console

from . import config as config_mod
from .errors import BluegreenError, UsageError
from .refs import short
from .printer import Printer, print_check, print_history, print_log, print_status, print_switch

COMMANDS = ("status", "deploy", "cancel", "discard", "promote", "rollback", "lock", "unlock",
            "history", "log", "check", "demo")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # exit 2 with a short hint, like argparse
        self.print_usage(sys.stderr)
        print(f"bluegreen: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _whole_number(low: int, high: int):
    """An argparse type: a whole number from ``low`` to ``high`` (a database id or a count),
    refused with exit 2 otherwise rather than failing later in the database."""
    def number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, not {value}")
        return value
    return number


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bluegreen", description="Blue-green deployments for two servers of your own.")
    p.add_argument("--config", help="path of bluegreen.toml (default: $BLUEGREEN_CONFIG or ./bluegreen.toml)")
    p.add_argument("-v", "--verbose", action="store_true", help="show every output line of every step")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    s = sub.add_parser("status", help="live and idle colour, what each runs, health, lock")
    s.add_argument("--json", action="store_true")
    d = sub.add_parser("deploy", help="deploy REF (branch, tag or sha) to the idle colour")
    d.add_argument("ref")
    sub.add_parser("cancel", help="stop a running deploy after its current step")
    sub.add_parser("discard", help="mark the idle colour's deploy not promotable")
    pr = sub.add_parser("promote", help="switch traffic to the idle colour and verify")
    pr.add_argument("--force", action="store_true", help="waive the passed-smoke requirement")
    pr.add_argument("--to", choices=("blue", "green"), help="the colour to send traffic to")
    sub.add_parser("rollback", help="switch back to the colour that was live before")
    lk = sub.add_parser("lock", help="hold: no deploy, promote or rollback until unlock")
    lk.add_argument("reason", nargs="+")
    sub.add_parser("unlock", help="release the hold")
    h = sub.add_parser("history", help="recent deploys and switches")
    h.add_argument("--json", action="store_true")
    h.add_argument("--limit", type=_whole_number(1, 1000), default=20)
    lg = sub.add_parser("log", help="the full output of a deploy's steps")
    lg.add_argument("id", type=_whole_number(1, 2**63 - 1))
    sub.add_parser("check", help="config, SSH reach and host keys, router, health routes, Slack token")
    dm = sub.add_parser("demo", help="the whole cycle on a local sandbox, no accounts needed")
    dm.add_argument("--interactive", action="store_true", help="type the slash commands yourself")
    dm.add_argument("--cli", action="store_true", help="drive the pipeline directly instead of the Slack bot")
    dm.add_argument("--workdir", help="where the sandbox lives (default: a temporary directory)")
    return p


def actor() -> str:
    name = os.environ.get("BLUEGREEN_ACTOR")
    if not name:
        try:
            name = getpass.getuser()
        except Exception:  # noqa: BLE001 - no user name is not fatal
            name = "unknown"
    return f"cli:{name}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out, err = Console(), Console(stderr=True)
    if args.command == "demo":
        from sandbox.demo import run_demo
        return run_demo(interactive=args.interactive, slack=not args.cli, workdir=args.workdir)
    try:
        cfg = config_mod.load(args.config)
    except UsageError as exc:
        err.print(f"bluegreen: {exc}", style="red", markup=False, highlight=False)
        return exc.exit_code
    from .pipeline import Pipeline
    printer = Printer(err, verbose=args.verbose)
    pipeline = None
    try:
        pipeline = Pipeline.from_config(cfg, listener=printer)
        return _run(args, pipeline, out, printer)
    except BluegreenError as exc:
        printer.stop()
        err.print(f"✗ {exc}", style="red", markup=False, highlight=False)
        fix = getattr(exc, "known_hosts_line", "")
        if fix:
            err.print(f"  once verified, add to known_hosts:\n    {fix}", highlight=False, markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        printer.stop()
        err.print("[red]✗ interrupted[/red]")
        return 1
    finally:
        printer.stop()
        if pipeline is not None:
            pipeline.close()


def _run(args, p, out: Console, printer: Printer) -> int:
    who = actor()
    cmd = args.command
    if cmd == "status":
        status = p.status()
        if args.json:
            print(json.dumps(status.to_json(), indent=2))
        else:
            print_status(out, status)
        return 0
    if cmd == "deploy":
        result = p.deploy(args.ref, who)
        out.print(f"[green]✔[/green] {result.ref} @ {short(result.sha)} is on {result.colour}: "
                  f"{result.evidence}; try it at {', '.join(result.host_urls)}, then "
                  "`bluegreen promote`", highlight=False)
        return 0
    if cmd == "promote":
        print_switch(out, p.promote(who, force=args.force, to=args.to))
        return 0
    if cmd == "rollback":
        print_switch(out, p.rollback(who))
        return 0
    if cmd == "cancel":
        dep_id = p.cancel(who)
        out.print(f"cancel requested for deploy #{dep_id}; it stops after its current step"
                  if dep_id else "no deploy is running: nothing to cancel")
        return 0
    if cmd == "discard":
        dep = p.discard(who)
        out.print(f"deploy #{dep.id} ({dep.ref} @ {short(dep.sha)}) on {dep.colour} is now not promotable")
        return 0
    if cmd == "lock":
        lock = p.lock(who, " ".join(args.reason))
        out.print(f"locked by {lock.holder}: {lock.reason}. No deploy, promote or rollback until "
                  "`bluegreen unlock`.", markup=False)
        return 0
    if cmd == "unlock":
        lock = p.unlock(who)
        out.print(f"unlocked (was held by {lock.holder}: {lock.reason})" if lock else
                  "nothing was locked", markup=False)
        return 0
    if cmd == "history":
        items = p.history(args.limit)
        if args.json:
            print(json.dumps([_history_json(i) for i in items], indent=2))
        else:
            print_history(out, items)
        return 0
    if cmd == "log":
        dep, steps = p.log(args.id)
        print_log(out, dep, steps)
        return 0
    if cmd == "check":
        items = p.check()
        print_check(out, items)
        return 0 if all(i.ok for i in items) else 1
    raise UsageError(f"unknown command {cmd}")


def _history_json(item) -> dict:
    data = dict(item.__dict__)
    for key, value in data.items():
        if hasattr(value, "isoformat"):
            data[key] = value.isoformat().replace("+00:00", "Z")
    return data


if __name__ == "__main__":
    sys.exit(main())
