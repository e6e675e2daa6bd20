"""Every word the bot says to people, in one place (blocks.py arranges them).

``formatting``: how the pieces are written (people, shas, times, colours, releases);
``operations``: help, refusals, out-of-date buttons, and operations as they run and end;
``status``: the lock, the topic, switches made elsewhere, lock/unlock/cancel/discard.
Handlers use them as ``texts.NAME``.
"""
from __future__ import annotations

from .formatting import (COLOUR_DOT, KIND, STEP_ICON, actor, ago, code_block, colour,
                         colour_release, mrkdwn_escape, release, seconds, short, when, who)
from .operations import (HELP, NEXT_STEP, acted, busy, deploy_ready, error_text, failed,
                         not_deployer, operation_title, pressed_already, refused, release_notes,
                         release_notes_title, replaced_release, retired_stale, stale,
                         stale_already_live, stale_colour_changed, stale_hold, stale_newer_deploy,
                         stale_not_promotable, stale_nothing_live, stale_switch, started_by,
                         step_line, switched, try_it, unknown_button, unreadable, usage_error,
                         wrong_channel)
from .status import (cancelled, discarded, interrupted, lock_line, lock_reminder, locked,
                     outside_switch, switched_elsewhere, topic, unlocked)

__all__ = ["COLOUR_DOT", "HELP", "KIND", "NEXT_STEP", "STEP_ICON", "acted", "actor", "ago", "busy",
           "cancelled", "code_block", "colour", "colour_release", "deploy_ready", "discarded",
           "error_text", "failed", "interrupted", "lock_line", "lock_reminder", "locked",
           "mrkdwn_escape", "not_deployer", "operation_title", "outside_switch", "pressed_already",
           "refused", "release", "release_notes", "release_notes_title", "replaced_release",
           "retired_stale", "seconds", "short", "stale", "stale_already_live",
           "stale_colour_changed", "stale_hold", "stale_newer_deploy", "stale_not_promotable",
           "stale_nothing_live", "stale_switch", "started_by", "step_line", "switched",
           "switched_elsewhere", "topic", "try_it", "unknown_button", "unlocked", "unreadable",
           "usage_error", "when", "who", "wrong_channel"]
