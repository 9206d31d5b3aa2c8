"""The fake Slack answers like Slack, so the channel tests mean something."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from tests.conftest import REPO, free_port, wait_http
from tests.fakes.slack import FakeSlack


def test_web_api_checks_the_bearer_token(fake_slack: FakeSlack) -> None:
    ok = WebClient(token=fake_slack.token, base_url=fake_slack.api_url)
    resp = ok.chat_postMessage(channel="#c", text="hello")
    assert resp["ok"] is True and resp["channel"] and resp["ts"]
    bad = WebClient(token="test-slack-wrong", base_url=fake_slack.api_url)
    with pytest.raises(SlackApiError) as err:
        bad.chat_postMessage(channel="#c", text="hello")
    assert err.value.response["error"] == "invalid_auth"
    assert [m.payload["text"] for m in fake_slack.messages] == ["hello"]
    assert "Authorization" not in fake_slack.messages[0].headers  # the token is not kept


def test_webhook_path_must_match(fake_slack: FakeSlack) -> None:
    assert WebhookClient(fake_slack.webhook_url).send(text="hi").status_code == 200
    wrong = fake_slack.url + "services/T1/B1/nope"
    resp = WebhookClient(wrong).send(text="hi")
    assert (resp.status_code, resp.body) == (404, "no_service")
    assert [m.kind for m in fake_slack.messages] == ["webhook"]


def test_http_control_endpoint_injects_faults(fake_slack: FakeSlack) -> None:
    def control(body: dict) -> None:
        req = urllib.request.Request(
            fake_slack.url + "_control",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=5).close()

    control({"fail_next": 1, "status": 429, "retry_after": 7})
    resp = WebhookClient(fake_slack.webhook_url, retry_handlers=[]).send(text="x")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    control({"down": True})
    with pytest.raises(Exception, match="Remote end closed"):
        WebhookClient(fake_slack.webhook_url, retry_handlers=[]).send(text="x")
    control({"down": False})
    assert WebhookClient(fake_slack.webhook_url).send(text="x").status_code == 200
    listed = json.loads(urllib.request.urlopen(fake_slack.url + "_messages", timeout=5).read())
    assert [m["text"] for m in listed] == ["x"]


def test_runs_as_a_module_on_a_given_port() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.slack", "--port", str(port), "--token", "test-slack-t"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/")
        client = WebClient(token="test-slack-t", base_url=f"http://127.0.0.1:{port}/api/")
        assert client.chat_postMessage(channel="#c", text="from a subprocess")["ok"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_form_encoded_post_message_is_recorded(fake_slack: FakeSlack) -> None:
    from urllib.parse import urlencode

    body = urlencode(
        {"channel": "#c", "text": "t", "blocks": json.dumps([{"type": "divider"}])}
    ).encode()
    req = urllib.request.Request(
        fake_slack.api_url + "chat.postMessage",
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Bearer {fake_slack.token}",
        },
    )
    answer = json.loads(urllib.request.urlopen(req, timeout=5).read())
    assert answer["ok"] is True
    assert fake_slack.messages[0].payload["blocks"] == [{"type": "divider"}]
