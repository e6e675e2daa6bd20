"""Socket Mode: Bolt's handler, with the size and shape checks the HTTP endpoint makes
(``handlers.payloads``) between an envelope's arrival and Bolt.

slack_sdk turns each envelope into a ``SocketModeRequest`` before Bolt's handler sees it,
and that raises on a payload that is not an object (logged with a traceback, never
acknowledged); a payload of the wrong shape reaches Bolt's listeners. So the handler
takes envelopes as they arrive instead, refuses what the HTTP endpoint refuses (an
acknowledgement with the same sentence, and one log line without the payload), and hands
the rest to Bolt exactly as ``SocketModeHandler.handle`` does."""
from __future__ import annotations

import logging
from typing import Any

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from handlers import payloads

log = logging.getLogger(__name__)
_ENVELOPE = ("type", "envelope_id", "payload")     # what SocketModeRequest.from_dict needs


class CheckedSocketModeHandler(SocketModeHandler):
    """``CheckedSocketModeHandler(app, app_token, ...)``: takes SocketModeHandler's arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client.socket_mode_request_listeners.remove(self.handle)  # type: ignore[arg-type]
        self.client.message_listeners.append(self._envelope)

    def _envelope(self, client: BaseSocketModeClient, message: dict, raw: str | None) -> None:
        if not all(key in message for key in _ENVELOPE):    # hello, disconnect: not a request
            return
        refused = payloads.socket_refusal(message["payload"])
        if refused is None:                     # an object of a shape Slack sends: to Bolt
            request = SocketModeRequest.from_dict(message)
            if request is not None:             # always: the envelope's keys are there
                self.handle(client, request)  # type: ignore[arg-type] # the builtin client
            return
        log.warning("refused a Socket Mode %.40s envelope before Bolt: %s",
                    message["type"], refused.why)
        answer = {"response_type": "ephemeral", "text": refused.text} \
            if message.get("accepts_response_payload") else None
        client.send_socket_mode_response(SocketModeResponse(envelope_id=message["envelope_id"],
                                                            payload=answer))
