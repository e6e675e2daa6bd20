"""Terminal rendering: a live progress listener and printers for results.

Only the CLI uses this module; the library reports through events. Text that comes from
outside (names, reasons, step output, answers, errors, commit subjects) is never part of a
markup string: rich would read ``[...]`` in it as markup, and ``[/]`` would crash the print.
It goes in as plain ``Text`` (``Text.assemble``) or with ``markup=False``.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .refs import short
from .events import (Event, Notice, OperationFinished, OperationStarted, OutputLine, StepFinished,
                     StepStarted)


def _short(sha: str | None) -> str:
    return short(sha, "—")


def release_text(sha: str | None, *, foreign: bool = False, proven: bool = True) -> str:
    """A release as the terminal shows it, saying how much of it was checked."""
    if not sha:
        return "unknown"
    notes = [n for n, on in (("not deployed by bluegreen", foreign),
                             ("checked out, not proven served", not proven)) if on]
    return short(sha) + (f" ({'; '.join(notes)})" if notes else "")


def _mark(ok: bool) -> tuple[str, str]:
    return ("✔", "green") if ok else ("✗", "red")


class Printer:
    """Prints each step as it finishes and a spinner with elapsed time for what runs."""

    def __init__(self, console: Console, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        self._running: dict[tuple[str, str | None], float] = {}
        self._lock = threading.Lock()
        self._status: Any = None

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, e: Event) -> None:
        c = self.console
        if isinstance(e, OperationStarted):
            what = {"deploy": f"deploying {e.ref} to {e.colour}",
                    "promote": f"promoting {e.colour} (live now: {e.from_colour or 'none'})",
                    "rollback": f"rolling back to {e.colour} (live now: {e.from_colour})"}[e.kind]
            c.print(Text.assemble((f"▶ {what}", "bold"), f" by {e.actor}"))
            if e.kind == "deploy":
                target = " (the rollback target)" if e.replaces_rollback_target else ""
                what = release_text(e.replaces, foreign=e.replaces_foreign, proven=e.replaces_proven)
                c.print(f"  {e.colour} runs {what} now; this deploy replaces it{target}",
                        highlight=False, markup=False)
        elif isinstance(e, StepStarted):
            self._running[(e.name, e.host)] = time.monotonic()
            self._spin()
        elif isinstance(e, OutputLine):
            if self.verbose:
                c.print(f"    {e.host or ''} │ {e.line}", style="dim", highlight=False, markup=False)
        elif isinstance(e, StepFinished):
            self._running.pop((e.name, e.host), None)
            where = f" on {e.host}" if e.host else ""
            detail = f" — {e.detail}" if e.detail and (not e.ok or self.verbose or e.name.startswith("smoke")) else ""
            self._print(Text.assemble("  ", _mark(e.ok), f" {e.name}{where} ",
                                      (f"({e.elapsed:.1f}s)", "dim"), detail))
            if not e.ok and e.tail:
                for line in e.tail[-8:]:
                    self._print(Text(f"      {line}", style="dim"))
            self._spin()
        elif isinstance(e, Notice):
            colour = "yellow" if e.level == "warning" else "cyan"
            self._print(Text(f"  ! {e.text}", style=colour))
        elif isinstance(e, OperationFinished):
            self._running.clear()
            self._spin()
            self._print(Text.assemble(_mark(e.ok), f" {e.kind} {'done' if e.ok else 'failed'} "
                                                   f"in {e.elapsed:.1f}s"))

    def _print(self, text: Text) -> None:
        self.console.print(text, highlight=False)

    def _spin(self) -> None:
        if not self.console.is_terminal:
            return
        if not self._running:
            if self._status is not None:
                self._status.stop()
                self._status = None
            return
        names = sorted({n for n, _ in self._running})
        oldest = min(self._running.values())
        text = f"{', '.join(names)[:60]} … {time.monotonic() - oldest:.0f}s"
        if self._status is None:
            self._status = self.console.status(text)
            self._status.start()
        else:
            self._status.update(text)

    def stop(self) -> None:
        with self._lock:
            if self._status is not None:
                self._status.stop()
                self._status = None


def print_status(c: Console, s) -> None:
    live = f"[bold]{s.live}[/bold]" if s.live else "[red]none[/red]"
    c.print(f"live: {live}   idle: {s.idle or '—'}   router: {s.router}", end="", highlight=False)
    c.print(f" ({s.router_detail})" if s.router_detail else "", highlight=False, markup=False)
    t = Table(show_header=True, header_style="bold")
    for col in ("colour", "runs", "deployed", "healthy", "promotable", "hosts"):
        t.add_column(col)
    for name, col in s.colours.items():
        hosts = Text(", ".join(f"{h.name} ({'ok' if h.healthy else h.detail})" for h in col.hosts))
        runs = release_text(col.running, foreign=col.foreign, proven=col.running_proven) \
            if col.running else f"unknown ({col.running_detail})"
        t.add_row(name + (" (live)" if name == s.live else ""), Text(runs), _short(col.sha),
                  "yes" if col.healthy else "[red]no[/red]", "yes" if col.promotable else "no", hosts)
    c.print(t)
    if s.lock:
        c.print(f"lock: {s.lock.kind} held by {s.lock.holder} since "
                f"{s.lock.since:%Y-%m-%d %H:%M} UTC — {s.lock.reason}", highlight=False, markup=False)
    else:
        c.print("lock: free")


def print_switch(c: Console, r) -> None:
    forced = " [yellow](FORCED)[/yellow]" if r.forced else ""
    c.print(f"[green]✔[/green] {r.to_colour} is live @ {_short(r.to_sha)}{forced} "
            f"(was {r.from_colour or 'none'} @ {_short(r.from_sha)}), verified in {r.elapsed:.1f}s",
            highlight=False)
    if r.kind == "promote":
        print_notes(c, r.notes)


def print_notes(c: Console, notes) -> None:
    if not notes:
        c.print("release notes: no new commits")
        return
    c.print(f"[bold]release notes[/bold] ({len(notes)} commit{'s' if len(notes) != 1 else ''}):")
    for commit in notes:
        c.print(Text.assemble(f"  {commit.short}  {commit.subject}  ", (f"— {commit.author}", "dim")))


def print_history(c: Console, items) -> None:
    t = Table(show_header=True, header_style="bold")
    for col in ("id", "what", "colour", "release", "by", "status", "when"):
        t.add_column(col)
    for i in items:
        release = f"{i.ref or ''} @ {_short(i.sha)}" if i.ref else _short(i.sha)
        t.add_row(str(i.id), i.kind, i.colour or "", Text(release), Text(i.actor), i.status,
                  f"{i.started_at:%Y-%m-%d %H:%M:%S}")
    c.print(t)


def print_log(c: Console, dep, steps) -> None:
    c.print(Text.assemble((f"deploy #{dep.id}", "bold"), f" {dep.ref} @ {_short(dep.sha)} to "
                          f"{dep.colour} by {dep.actor}: {dep.status}"
                          + (f" — {dep.error}" if dep.error else "")))
    for s in steps:
        code = "—" if s.exit_status is None else str(s.exit_status)
        c.print(Text.assemble("\n", (s.name, "bold"), f" on {s.host} (exit {code})"))
        c.print(f"$ {s.command}", highlight=False, markup=False)
        if s.output:
            c.print(s.output, highlight=False, markup=False)


def print_check(c: Console, items) -> None:
    for i in items:
        mark = ("!", "yellow") if i.warning else _mark(i.ok)
        c.print(Text.assemble(mark, f" {i.name}: {i.detail}"))
        if i.fix and not i.ok:
            c.print(f"    fix: {i.fix}", highlight=False, markup=False)
