"""Requests Slack never sends, shared by the tests of every way a request reaches the bot:
over HTTP (test_faults_payloads.py), over Socket Mode (test_faults_socket.py) and through
the demo's dispatch (test_demo.py). Each must be refused with a sentence before
Bolt reads it; no tests here."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode

from slack_bolt.request.internals import parse_body

from handlers import blocks
from sandbox.slack_api import Message, block_actions_body

from .support import ALICE, CHANNEL

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
TOO_LARGE_TEXT = "lock " + "x" * (1 << 20)        # a /deploy text over the size limit


def payload_of(body: str) -> dict:
    """The JSON payload of a form-encoded button click."""
    return json.loads(parse_qs(body)["payload"][0])


def form(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


def unreadable(good: dict, number: int) -> list[tuple[bytes, str]]:
    """(body, content type) of requests Slack never sends, built around ``good``, the
    payload of a real click on a button whose value is deployment ``number``; the HTTP
    endpoint answers each with 400 and a sentence."""
    action = good["actions"][0]

    def with_action(**changes: Any) -> dict:
        return {**good, "actions": [{**action, **changes}]}

    return [
        (b"payload=%7B%22type%22%3A+%22block_actions%22%2C", FORM),      # truncated JSON
        (b"payload=%5B1%2C+2%5D", FORM),                                 # a list
        (b"payload=%22promote%22", FORM),                                # a string
        (b"not json at all", JSON),
        (b"[1, 2]", JSON),
        (json.dumps(good)[:-1].encode(), JSON),
        (b"", FORM),
        (b"text=main&user_id=U0ALICE", FORM),                            # no command
        (urlencode({"command": "deploy", "text": "main"}).encode(), FORM),
        (json.dumps({"command": "/deploy", "text": 7, "user_id": "U0ALICE"}).encode(), JSON),
        (form({**good, "type": "view_submission"}), FORM),
        (form(without(good, "type")), FORM),
        (form(without(good, "user")), FORM),
        (form({**good, "user": "U0ALICE"}), FORM),
        (form({**good, "user": {"name": "alice"}}), FORM),
        (form({**good, "actions": []}), FORM),
        (form({**good, "actions": "promote"}), FORM),
        (form({**good, "actions": [1]}), FORM),
        (form({**good, "actions": [without(action, "action_id")]}), FORM),
        (form({**good, "actions": [{**action, "action_id": 7}]}), FORM),
        (form(with_action(value=number)), FORM),                         # a number, not text
        (form(with_action(value=None)), FORM),
        (form(without(good, "response_url")), FORM),
        (form(without(good, "message")), FORM),
        (form({**good, "message": {"text": "no ts"}}), FORM),
        (form({**good, "message": {**good["message"], "blocks": "x"}}), FORM),
        (form(without(good, "channel")), FORM),
        (form({**good, "channel": "C0DEPLOYS"}), FORM),
    ]


def as_envelope_payload(body: bytes, content_type: str) -> Any:
    """What Socket Mode carries for an HTTP body: the envelope's JSON ``payload`` is the
    body as Bolt parses it (a form's fields, a click's decoded ``payload``), or, for a body
    that does not parse, its text."""
    text = body.decode()
    try:
        return parse_body(text, content_type)
    except ValueError:
        return text


def promote_click(slack: Any, user: tuple[str, str] = ALICE, number: int = 1) -> dict:
    """The payload of a well-formed click on a Promote button for deployment ``number``
    (a message the Slack stand-in was never asked to post: nothing here calls it)."""
    button = {"type": "button", "action_id": blocks.PROMOTE, "value": str(number),
              "text": {"type": "plain_text", "text": "Promote"}}
    message = Message(channel=CHANNEL, ts="1700000000.000100", text="ready to promote",
                      blocks=[{"type": "actions", "block_id": "next", "elements": [button]}])
    return payload_of(block_actions_body(button, message, user_id=user[0], user_name=user[1],
                                         block_id="next",
                                         response_url=slack.response_url(CHANNEL, user[0],
                                                                         message.ts)))
