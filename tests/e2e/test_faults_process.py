"""`bluegreen` killed with SIGKILL at each stage of deploy, promote and rollback.

The kill lands deterministically: the process runs with BLUEGREEN_PAUSE_AT=STAGE (the
pipeline's ``_pause`` seam writes STAGE.reached and waits), and is killed once the file
appears. Then the next process comes: nothing may be left running or locked, and the
interrupted operation is recorded as interrupted and announced.
"""
from __future__ import annotations

import pytest

from deploy_core.events import Notice
from deploy_core.store import Interrupted
from tests.support.fakes import Recorder
from tests.support.faults import assert_settled, kill, run_cli, start_cli, wait_for_file


# stage -> (command, what must be done before, the colour live after recovery,
#           the interrupted record's kind, whether it has an id)
STAGES = {
    "deploy:locked": (["deploy", "main"], [], "blue", "deploy", False),
    "deploy:steps": (["deploy", "main"], [], "blue", "deploy", True),
    "deploy:health": (["deploy", "main"], [], "blue", "deploy", True),
    "deploy:smoke": (["deploy", "main"], [], "blue", "deploy", True),
    "promote:switch": (["promote"], ["deploy"], "blue", "promote", True),
    "promote:verify": (["promote"], ["deploy"], "green", "promote", True),
    "rollback:switch": (["rollback"], ["deploy", "promote"], "green", "rollback", True),
    "rollback:verify": (["rollback"], ["deploy", "promote"], "blue", "rollback", True),
}


def kill_at(world, stage: str, *command: str) -> int:
    """Run `bluegreen COMMAND` until it reaches ``stage``, SIGKILL it there; return its pid."""
    pause = world.dir / "pause"
    pause.mkdir(exist_ok=True)
    proc = start_cli(world.cli_env(BLUEGREEN_PAUSE_AT=stage, BLUEGREEN_PAUSE_DIR=str(pause)),
                     world.dir / "killed", *command)
    try:
        wait_for_file(pause / f"{stage}.reached", proc)
        assert (pause / f"{stage}.reached").read_text() == str(proc.pid)
    finally:
        kill(proc)
    assert proc.returncode == -9
    return proc.pid


@pytest.mark.parametrize("stage", list(STAGES))
def test_sigkill_at_each_stage_is_recovered_and_announced(world, stage):
    command, before, live_after, kind, has_id = STAGES[stage]
    p = world.p
    if "deploy" in before:
        p.deploy("main", "alice")
    if "promote" in before:
        p.promote("alice")
    router_before = p.router.read().live
    kill_at(world, stage, *command)

    # the next process: a fresh pipeline on the same state
    events = Recorder()
    recovered = world.pipeline(listener=events).recover()
    assert len(recovered) == 1
    rec: Interrupted = recovered[0]
    assert (rec.kind, rec.holder) == (kind, "cli:tester")
    assert (rec.id is not None) == has_id
    notices = [n.text for n in events.of(Notice)]
    assert len(notices) == 1 and "was interrupted (its process died)" in notices[0]
    assert "cli:tester" in notices[0]

    if kind == "deploy" and has_id:
        dep = p.store.deployment(rec.id)
        assert (dep.status, dep.promotable) == ("interrupted", False)
        assert "interrupted" in dep.error
        assert p.status().colours["green"].promotable is False
    elif kind == "deploy":
        assert p.store.latest_deployment() is None     # died before it recorded anything
    else:
        switch = p.store.switch(rec.id)
        assert (switch.kind, switch.status, switch.verified) == (kind, "interrupted", False)
        last = p.store.last_switch()                     # the last verified switch is unchanged
        assert (last.kind if last else None) == ("promote" if kind == "rollback" else None)
    if stage.endswith(":switch"):
        assert p.router.read().live == router_before      # killed before the router was called
    assert_settled(p, live_after)
    assert world.pipeline().recover() == []              # announced once, not again


def test_the_next_cli_process_announces_the_kill_and_goes_on(world):
    kill_at(world, "deploy:steps", "deploy", "main")
    status = run_cli(world.cli_env(), "status", "--json")
    assert status.returncode == 0 and '"lock": null' in status.stdout
    again = run_cli(world.cli_env(), "deploy", "main")
    assert again.returncode == 0, again.stderr
    assert "deploy #1 on green by cli:tester was interrupted (its process died)" in again.stderr
    assert "is on green" in again.stdout
    history = [(h.id, h.kind, h.status) for h in world.p.history()]
    assert history == [(2, "deploy", "succeeded"), (1, "deploy", "interrupted")]
    assert_settled(world.p, "blue")
