"""The Slack side of ``bluegreen demo``: the real Bolt App and handlers, driven by
signed slash commands and button clicks, answered by the local Slack stand-in,
which prints each posted or updated message and topic change as Slack shows it.

    run_slack_demo(sandbox, env, console, interactive=False)   what `bluegreen demo` calls
    run_scripted(config, env)            /deploy main → Promote → Rollback, narrated
    run_interactive(config, env)         a prompt: /deploy main, /promote, press N, …
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, Mapping, TextIO

from handlers import payloads

from .slack_api import (Change, Message, SlackAPI, block_actions_body, buttons_of, render_message,
                        signed_headers, slash_command_body)

SECRET = "sandbox-signing-secret"  # nosec B105 # the demo signs its own requests


class SlackDemo:
    """``with SlackDemo(config, env) as demo: demo.slash("/deploy main"); demo.wait()``."""

    def __init__(self, config: Any, env: Mapping[str, str], *, pipeline: Any = None,
                 out: TextIO = sys.stdout, user: tuple[str, str] | None = None,
                 progress_interval: float = 1.0, show_updates: bool = True) -> None:
        from bot import create_app
        self.config, self.out, self.show_updates = config, out, show_updates
        deployer = config.slack.deployers[0] if config.slack.deployers else "U0ALICE"
        self.user = user or (deployer, "alice" if deployer == "U0ALICE" else deployer.lower())
        self.channel = config.slack.channel or "C0DEPLOYS"
        self._print_lock = threading.Lock()
        self.slack = SlackAPI(channels={self.channel: "deploys", "C0GENERAL": "general"},
                              users={self.user[0]: self.user[1]}, on_change=self._show)
        self.slack.start()
        full_env = {**env, "SLACK_BOT_TOKEN": self.slack.token, "SLACK_SIGNING_SECRET": SECRET,
                    "SLACK_API_URL": self.slack.url}
        full_env.pop("SLACK_APP_TOKEN", None)
        self.app = create_app(config, full_env, pipeline, progress_interval=progress_interval,
                              socket_mode=False)
        self.background: Any = None

    def __enter__(self) -> SlackDemo:
        from bot import start_background
        self.background = start_background(self.app)
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            from bot import context_of
            # Ctrl-C: stop the bot's running operation at its next check, don't wait long
            context_of(self.app).pipeline.cancel("demo (Ctrl-C)")
            self.close(wait_s=5)
        else:
            self.close()

    def close(self, wait_s: float = 30) -> None:
        from bot import context_of
        if self.background is not None:
            self.background.stop()
        self.wait(wait_s)
        context_of(self.app).jobs.shutdown(wait=False)   # idle workers end now, not at exit
        self.slack.stop()

    # -- what a person does --------------------------------------------------------------
    def slash(self, line: str, user: tuple[str, str] | None = None, channel: str | None = None) -> str:
        """Type a slash command, e.g. ``/deploy main``; return what only they see at once."""
        user = user or self.user
        channel = channel or self.channel
        command, _, text = line.strip().partition(" ")
        self.say(f"\n{user[1]}> {line.strip()}")
        body = slash_command_body(command, text.strip(), user_id=user[0], user_name=user[1],
                                  channel_id=channel,
                                  response_url=self.slack.response_url(channel, user[0]))
        return self._dispatch(body)

    def buttons(self) -> list[tuple[Message, str, dict]]:
        """Every button the channel shows now, oldest message first: (message, block_id, button)."""
        found = []
        for m in self.slack.messages(self.channel):
            found += [(m, block_id, b) for block_id, b in buttons_of(m)]
        return found

    def press(self, which: int | str, user: tuple[str, str] | None = None,
              confirm: Callable[[dict], bool] | None = None) -> str:
        """Click button number ``which`` (1-based) or the newest button labelled ``which``."""
        user = user or self.user
        shown = self.buttons()
        if isinstance(which, int):
            if not 1 <= which <= len(shown):
                raise LookupError(f"there is no button {which}; `buttons` lists them")
            m, block_id, button = shown[which - 1]
        else:
            matches = [s for s in shown if s[2].get("text", {}).get("text") == which]
            if not matches:
                raise LookupError(f"no message shows a {which!r} button now")
            m, block_id, button = matches[-1]
        label = button.get("text", {}).get("text", "")
        self.say(f"\n{user[1]} clicks [{label}]")
        if button.get("confirm"):
            dialog = button["confirm"]
            self.say(f"  ┌ {dialog['title']['text']}\n  │ {dialog['text']['text']}\n"
                     f"  └ [{dialog['confirm']['text']}] [{dialog['deny']['text']}]")
            if confirm is not None and not confirm(dialog):
                self.say(f"{user[1]} clicks [{dialog['deny']['text']}]: nothing happens")
                return ""
        body = block_actions_body(button, m, user_id=user[0], user_name=user[1], block_id=block_id,
                                  response_url=self.slack.response_url(m.channel, user[0], m.ts))
        return self._dispatch(body)

    def wait(self, timeout: float = 180.0, slice_s: float = 0.1) -> bool:
        """Wait until the bot has finished what it was asked.

        In short slices: a signal the kernel hands to another thread reaches Python's
        handler only when the main thread runs again, and one long wait on a lock would
        keep Ctrl-C from the demo until it ends."""
        from bot import context_of
        jobs = context_of(self.app).jobs
        deadline = time.monotonic() + timeout
        while not jobs.wait_idle(min(slice_s, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return False
        return True

    # -- plumbing ------------------------------------------------------------------------
    def _dispatch(self, body: str) -> str:
        """Post ``body`` as Slack would: refused as the HTTP endpoint refuses it, else to Bolt."""
        request = payloads.read(body, signed_headers(SECRET, body))
        if isinstance(request, payloads.Refusal):
            self.say(_indent(f"(only you can see this)\n{request.text}"))
            return request.text
        response = self.app.dispatch(request)
        text = _ack_text(response.body)
        if response.status != 200:
            self.say(f"  (Slack shows an error: HTTP {response.status})")
        elif text:
            self.say(_indent(f"(only you can see this)\n{text}"))
        return text

    def say(self, text: str) -> None:
        with self._print_lock:
            if hasattr(self.out, "print"):      # a rich Console: no markup in Slack text
                self.out.print(text, markup=False, highlight=False, emoji=False)
            else:
                print(text, file=self.out, flush=True)

    def _number(self, button: dict, m: Message) -> int | None:
        for n, (shown_m, _, b) in enumerate(self.buttons(), 1):
            if shown_m.ts == m.ts and b.get("action_id") == button.get("action_id") \
                    and b.get("value") == button.get("value"):
                return n
        return None

    def _show(self, change: Change) -> None:
        if change.kind == "topic":
            return self.say(f"\n#deploys topic is now: {change.topic}")
        m = change.message
        if m is None or (change.kind == "update" and not self.show_updates):
            return
        text = render_message(m, self.slack.users, self.slack.channels, self._number)
        head = {"post": "bluegreen", "update": "bluegreen (edited)", "delete": "(message deleted)",
                "ephemeral": "bluegreen (only you can see this)"}[change.kind]
        self.say(f"\n{head}:\n{_indent(text)}")


def _ack_text(body: str) -> str:
    import json
    if not body:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    return data.get("text", "") if isinstance(data, dict) else ""


def _indent(text: str) -> str:
    return "\n".join("  │ " + line for line in text.splitlines())


def run_scripted(config: Any, env: Mapping[str, str], *, ref: str = "main",
                 out: TextIO = sys.stdout, pipeline: Any = None,
                 progress_interval: float = 1.0) -> int:
    """The whole cycle as a Slack conversation: status, deploy, Promote, Rollback.
    Returns 0 when every step ended as expected, 1 otherwise."""
    with SlackDemo(config, env, pipeline=pipeline, out=out,
                   progress_interval=progress_interval) as demo:
        demo.wait(30)
        demo.slash("/deploy status")
        demo.wait()
        for step, action in ((f"/deploy {ref}", None), ("Promote", "press"), ("Rollback", "press")):
            try:
                demo.press(step) if action else demo.slash(step)
            except LookupError as exc:
                demo.say(f"\n(demo stops: {exc})")
                return 1
            demo.wait()
        demo.say(f"\nThe channel topic reads: {demo.slack.topic(demo.channel)}")
    return 0


INTERACTIVE_HELP = """Type what a person types in Slack, for example:
  /deploy main      /deploy status    /promote    /rollback    /deploy history
  buttons           list the buttons the channel shows now
  press N           click button N (confirm dialogs ask y/n)
  quit"""


def run_interactive(config: Any, env: Mapping[str, str], *, out: TextIO = sys.stdout,
                    input: Callable[[str], str] = input, pipeline: Any = None,
                    progress_interval: float = 1.0) -> int:
    """A prompt in front of the real App: the person types slash commands and clicks."""
    with SlackDemo(config, env, pipeline=pipeline, out=out,
                   progress_interval=progress_interval) as demo:
        demo.wait(30)
        demo.say(INTERACTIVE_HELP)
        while True:
            try:
                line = input(f"\n{demo.user[1]}@#deploys> ").strip()
            except (EOFError, KeyboardInterrupt):
                return 0
            if line in ("quit", "exit", "q"):
                return 0
            try:
                _interactive_step(demo, line, input)
            except LookupError as exc:
                demo.say(str(exc))
            demo.wait()


def _interactive_step(demo: SlackDemo, line: str, input: Callable[[str], str]) -> None:
    if not line:
        return
    if line.startswith("/"):
        demo.slash(line)
    elif line == "buttons":
        shown = demo.buttons()
        demo.say("\n".join(f"  {n}: [{b['text']['text']}] on message {m.ts}"
                           for n, (m, _, b) in enumerate(shown, 1)) or "  no buttons now")
    elif line.startswith("press"):
        arg = line[len("press"):].strip()
        which: int | str = int(arg) if arg.isdigit() else arg
        demo.press(which, confirm=lambda d: input(
            f"  {d['confirm']['text']}? [y/N] ").strip().lower().startswith("y"))
    else:
        demo.say(INTERACTIVE_HELP)


def run_slack_demo(sandbox: Any, env: Mapping[str, str], console: Any, *,
                   interactive: bool = False, progress_interval: float = 1.0) -> int:
    """`bluegreen demo [--interactive]` on a started sandbox, in Slack: the scripted cycle
    (or a prompt) while a background load through the reserved IP counts failed requests."""

    from deploy_core import config as config_mod
    from deploy_core.events import OperationFinished
    from deploy_core.pipeline import Pipeline

    from .demo import report
    from .load import Load
    cfg = config_mod.load(sandbox.config_path, env)
    timings: dict[str, float] = {}
    outcomes: dict[str, bool] = {}

    def measure(event: object) -> None:
        if isinstance(event, OperationFinished):
            timings[event.kind] = event.elapsed
            outcomes[event.kind] = event.ok
    pipeline = Pipeline.from_config(cfg, env, listener=measure)
    load = Load(sandbox.public_url + "/hostname", workers=2, interval=0.02, max_seconds=3600)
    load.start()
    try:
        if interactive:
            code = run_interactive(cfg, env, out=console, pipeline=pipeline,
                                   progress_interval=progress_interval)
        else:
            code = run_scripted(cfg, env, out=console, pipeline=pipeline,
                                progress_interval=progress_interval)
    except KeyboardInterrupt:
        pipeline.cancel("demo (Ctrl-C)")      # a deploy in a bot worker stops at its next check
        raise
    finally:
        stats = load.stop()
        pipeline.close()
    if interactive:
        report(console, timings, stats)
        return code
    cycle_ok = code == 0 and all(outcomes.get(k) for k in ("deploy", "promote", "rollback"))
    return report(console, timings, stats, ok=cycle_ok)
