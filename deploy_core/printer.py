"""Terminal rendering: a live progress listener and printers for results.

Only the CLI uses this module; the library reports through events. Every text that comes
from outside (refs, reasons, names, step output, answers, commit subjects) goes through
``escape``: rich would read ``[...]`` in it as markup, and ``[/]`` would crash the print.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .events import (Event, Notice, OperationFinished, OperationStarted, OutputLine, StepFinished,
                     StepStarted)


def _short(sha: str | None) -> str:
    return sha[:7] if sha else "—"


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
            c.print(f"[bold]▶ {escape(what)}[/bold] by {escape(e.actor)}", highlight=False)
            if e.kind == "deploy":
                c.print(f"  {e.colour} runs {_short(e.replaces)} now; this deploy replaces it", highlight=False)
        elif isinstance(e, StepStarted):
            self._running[(e.name, e.host)] = time.monotonic()
            self._spin()
        elif isinstance(e, OutputLine):
            if self.verbose:
                c.print(f"    [dim]{escape(e.host or '')} │ {escape(e.line)}[/dim]", highlight=False,
                        markup=True)
        elif isinstance(e, StepFinished):
            self._running.pop((e.name, e.host), None)
            mark = "[green]✔[/green]" if e.ok else "[red]✗[/red]"
            where = f" on {escape(e.host)}" if e.host else ""
            detail = f" — {escape(e.detail)}" if e.detail and (not e.ok or self.verbose or e.name.startswith("smoke")) else ""
            self._print(f"  {mark} {escape(e.name)}{where} [dim]({e.elapsed:.1f}s)[/dim]{detail}")
            if not e.ok and e.tail:
                for line in e.tail[-8:]:
                    self._print(f"      [dim]{escape(line)}[/dim]")
            self._spin()
        elif isinstance(e, Notice):
            colour = "yellow" if e.level == "warning" else "cyan"
            self._print(f"  [{colour}]! {escape(e.text)}[/{colour}]")
        elif isinstance(e, OperationFinished):
            self._running.clear()
            self._spin()
            mark = "[green]✔[/green]" if e.ok else "[red]✗[/red]"
            self._print(f"{mark} {e.kind} {'done' if e.ok else 'failed'} in {e.elapsed:.1f}s")

    def _print(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=True)

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
    c.print(f"live: {live}   idle: {s.idle or '—'}   router: {s.router}"
            + (f" ({escape(s.router_detail)})" if s.router_detail else ""), highlight=False)
    t = Table(show_header=True, header_style="bold")
    for col in ("colour", "release", "healthy", "promotable", "hosts"):
        t.add_column(col)
    for name, col in s.colours.items():
        hosts = escape(", ".join(f"{h.name} ({'ok' if h.healthy else h.detail})" for h in col.hosts))
        t.add_row(name + (" (live)" if name == s.live else ""), _short(col.sha),
                  "yes" if col.healthy else "[red]no[/red]", "yes" if col.promotable else "no", hosts)
    c.print(t)
    if s.lock:
        c.print(f"lock: {s.lock.kind} held by {escape(s.lock.holder)} since "
                f"{s.lock.since:%Y-%m-%d %H:%M} UTC — {escape(s.lock.reason)}", highlight=False)
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
        c.print(f"  {commit.short}  {escape(commit.subject)}  [dim]— {escape(commit.author)}[/dim]",
                highlight=False)


def print_history(c: Console, items) -> None:
    t = Table(show_header=True, header_style="bold")
    for col in ("id", "what", "colour", "release", "by", "status", "when"):
        t.add_column(col)
    for i in items:
        release = f"{i.ref or ''} @ {_short(i.sha)}" if i.ref else _short(i.sha)
        t.add_row(str(i.id), i.kind, i.colour or "", escape(release), escape(i.actor), i.status,
                  f"{i.started_at:%Y-%m-%d %H:%M:%S}")
    c.print(t)


def print_log(c: Console, dep, steps) -> None:
    c.print(f"[bold]deploy #{dep.id}[/bold] {escape(dep.ref)} @ {_short(dep.sha)} to {dep.colour} "
            f"by {escape(dep.actor)}: {dep.status}" + (f" — {escape(dep.error)}" if dep.error else ""),
            highlight=False)
    for s in steps:
        code = "—" if s.exit_status is None else str(s.exit_status)
        c.print(f"\n[bold]{escape(s.name)}[/bold] on {escape(s.host)} (exit {code})", highlight=False)
        c.print(f"$ {s.command}", highlight=False, markup=False)
        if s.output:
            c.print(s.output, highlight=False, markup=False)


def print_check(c: Console, items) -> None:
    for i in items:
        mark = "[green]✔[/green]" if i.ok else "[red]✗[/red]"
        c.print(f"{mark} {escape(i.name)}: {escape(i.detail)}", highlight=False)
        if i.fix and not i.ok:
            c.print(f"    fix: {escape(i.fix)}", highlight=False)
