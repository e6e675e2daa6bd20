"""The progress message: throttled chat.update, always the final state, survives 5xx."""
from __future__ import annotations

import time

from slack_sdk import WebClient

from deploy_core.events import OperationStarted, OutputLine, StepFinished, StepStarted
from handlers import blocks
from handlers.progress import OperationView, Progress


def test_updates_are_throttled_and_the_final_state_always_shows(slack):
    client = WebClient(token=slack.token, base_url=slack.url)
    view = OperationView("deploy", "alice (U0ALICE)", ref="main")
    progress = Progress(client, "C0DEPLOYS", view, blocks.operation, interval=0.3)
    progress.post()
    progress(OperationStarted(kind="deploy", colour="green", actor="alice", ref="main"))
    t0 = time.monotonic()
    for i in range(300):                     # a chatty step: 300 lines in ~1.2 s
        progress(StepStarted(name=f"step {i}", host="h"))
        progress(OutputLine(name=f"step {i}", host="h", stream="stdout", line=f"line {i}"))
        progress(StepFinished(name=f"step {i}", host="h", ok=True, elapsed=0.001))
        time.sleep(0.004)
    progress.finish()
    elapsed = time.monotonic() - t0
    updates = slack.calls_to("chat.update")
    assert len(updates) <= elapsed / 0.3 + 2, f"{len(updates)} updates in {elapsed:.1f}s"
    (shown,) = slack.messages("C0DEPLOYS")
    assert "step 299" in shown.blocks[2]["text"]["text"]
    time.sleep(0.5)                          # no stray update after the final one
    assert len(slack.calls_to("chat.update")) == len(updates)


def test_the_final_state_is_retried_through_server_errors(slack):
    client = WebClient(token=slack.token, base_url=slack.url)
    view = OperationView("deploy", "alice", ref="main")
    progress = Progress(client, "C0DEPLOYS", view, blocks.operation, interval=0.1)
    progress.post()
    slack.fail_next("chat.update", times=2, status=500)
    view.outcome = blocks.message("✅ all done")
    progress.finish()
    assert [c.status for c in slack.calls_to("chat.update")] == [500, 500, 200]
    assert "all done" in str(slack.messages("C0DEPLOYS")[0].blocks)


def test_a_failed_first_post_is_retried_at_the_end(slack):
    client = WebClient(token=slack.token, base_url=slack.url)
    slack.fail_next("chat.postMessage", times=1, status=500)
    view = OperationView("rollback", "alice")
    progress = Progress(client, "C0DEPLOYS", view, blocks.operation, interval=0.1)
    assert progress.post() is None
    progress(StepStarted(name="switch", host=None))     # nothing to update yet: no error
    view.outcome = blocks.message("✅ rolled back")
    assert progress.finish() is not None
    assert "rolled back" in str(slack.messages("C0DEPLOYS")[0].blocks)
