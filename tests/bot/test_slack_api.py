"""The Slack stand-in answers like Slack, refuses what Slack refuses, and keeps state."""
from __future__ import annotations

import time

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from sandbox.slack_api import SlackAPI


@pytest.fixture
def client(slack):
    return WebClient(token=slack.token, base_url=slack.url)


def test_post_update_and_read_what_the_channel_shows(slack, client):
    posted = client.chat_postMessage(channel="C0DEPLOYS", text="hello",
                                     blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}])
    assert posted["ok"] and posted["channel"] == "C0DEPLOYS" and posted["ts"]
    client.chat_update(channel="C0DEPLOYS", ts=posted["ts"], text="edited", blocks=[])
    (shown,) = slack.messages("C0DEPLOYS")
    assert shown.text == "edited" and shown.edits == 1
    client.conversations_setTopic(channel="C0DEPLOYS", topic="🟢 live: green")
    assert slack.topic("C0DEPLOYS") == "🟢 live: green"
    info = client.conversations_info(channel="C0DEPLOYS")
    assert info["channel"]["topic"]["value"] == "🟢 live: green"
    client.chat_postEphemeral(channel="C0DEPLOYS", user="U0BOB", text="psst")
    assert [m.text for m in slack.ephemeral("U0BOB")] == ["psst"] and slack.ephemeral("U0ALICE") == []
    assert [c.method for c in slack.calls] == ["chat.postMessage", "chat.update",
                                               "conversations.setTopic", "conversations.info",
                                               "chat.postEphemeral"]


def test_form_encoded_bodies_are_read_too(slack):
    answer = requests.post(slack.url + "chat.postMessage", timeout=5, data={
        "token": slack.token, "channel": "C0DEPLOYS", "text": "form",
        "blocks": '[{"type": "divider"}]'}).json()
    assert answer["ok"]
    assert slack.messages("C0DEPLOYS")[0].blocks == [{"type": "divider"}]


@pytest.mark.parametrize("token,error", [("xoxb-wrong", "invalid_auth"), ("", "not_authed")])
def test_a_wrong_or_missing_token_is_refused(slack, token, error):
    with pytest.raises(SlackApiError) as caught:
        WebClient(token=token or None, base_url=slack.url).chat_postMessage(channel="C0DEPLOYS", text="x")
    assert caught.value.response["error"] == error
    assert slack.messages("C0DEPLOYS") == []


@pytest.mark.filterwarnings("ignore::UserWarning")   # slack_sdk warns about the missing text
def test_unknown_methods_channels_and_messages_are_refused(slack, client):
    for call, error in [(lambda: client.api_call("chat.nope"), "unknown_method"),
                        (lambda: client.chat_postMessage(channel="C0NOPE", text="x"), "channel_not_found"),
                        (lambda: client.chat_update(channel="C0DEPLOYS", ts="1.2", text="x"),
                         "message_not_found"),
                        (lambda: client.chat_postMessage(channel="C0DEPLOYS"), "no_text"),
                        (lambda: client.conversations_setTopic(channel="C0DEPLOYS", topic="x" * 251),
                         "too_long")]:
        with pytest.raises(SlackApiError) as caught:
            call()
        assert caught.value.response["error"] == error


def test_rate_limits_carry_retry_after_and_the_client_waits_them_out(slack):
    slack.rate_limit_next("chat.postMessage", times=1, retry_after=1)
    client = WebClient(token=slack.token, base_url=slack.url,
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    t0 = time.monotonic()
    assert client.chat_postMessage(channel="C0DEPLOYS", text="x")["ok"]
    assert time.monotonic() - t0 >= 1.0
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 200]


def test_server_errors_for_the_next_calls(slack, client):
    ts = client.chat_postMessage(channel="C0DEPLOYS", text="x")["ts"]
    slack.fail_next("chat.update", times=2, status=503)
    for _ in range(2):
        with pytest.raises(SlackApiError):
            client.chat_update(channel="C0DEPLOYS", ts=ts, text="y")
    assert client.chat_update(channel="C0DEPLOYS", ts=ts, text="y")["ok"]


def test_response_urls_answer_privately_in_channel_or_replace_the_source(slack, client):
    ts = client.chat_postMessage(channel="C0DEPLOYS", text="original")["ts"]
    private = slack.response_url("C0DEPLOYS", "U0BOB")
    assert requests.post(private, json={"text": "only bob"}, timeout=5).status_code == 200
    assert [m.text for m in slack.ephemeral("U0BOB")] == ["only bob"]
    requests.post(private, json={"text": "everyone", "response_type": "in_channel"}, timeout=5)
    source = slack.response_url("C0DEPLOYS", "U0BOB", ts)
    requests.post(source, json={"text": "replaced", "replace_original": True}, timeout=5)
    assert [m.text for m in slack.messages("C0DEPLOYS")] == ["replaced", "everyone"]
    assert requests.post(slack.base + "/response/R999999", json={}, timeout=5).status_code == 404


def test_stand_in_listens_on_loopback_only():
    with SlackAPI() as api:
        assert api.base.startswith("http://127.0.0.1:")
