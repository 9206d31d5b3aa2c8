"""Slack delivery through the outbox against the local fake Slack (real HTTP)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.fakes.slack import FakeSlack
from tests.integration.alerts.helpers import slack_ids
from tests.unit.alerts.doubles import FakeClock
from tradewarden.alerts import catalogue as cat
from tradewarden.alerts.backoff import Backoff
from tradewarden.alerts.dispatcher import Dispatcher
from tradewarden.alerts.outbox import Outbox
from tradewarden.alerts.slack import SlackChannel, SlackWebhookChannel
from tradewarden.secrets.value import Secret


def dispatcher(tmp_path: Path, channel: object, clock: FakeClock) -> Dispatcher:
    box = Outbox(tmp_path / "tw.sqlite3", clock=clock)
    return Dispatcher(box, [channel], backoff=Backoff(base=2.0, cap=60.0))  # type: ignore[list-item]


def bot(fake: FakeSlack, **kw: object) -> SlackChannel:
    return SlackChannel(Secret(fake.token), "#tw-alerts", fake.api_url, **kw)  # type: ignore[arg-type]


def trip(name: str = "trend-btc") -> object:
    return cat.breaker_tripped(
        "daily_loss",
        name,
        0.052,
        0.05,
        orders_cancelled=["tw-1"],
        positions_closed=["trend-btc:BTCUSDT"],
        runbook_base_url="https://runbooks.example/tw/",
    )


def test_bot_token_message_over_the_wire(tmp_path: Path, fake_slack: FakeSlack) -> None:
    d = dispatcher(tmp_path, bot(fake_slack), FakeClock())
    rid = d.enqueue(trip()).row_ids["slack"]  # type: ignore[arg-type]
    assert d.deliver_due().delivered == {"slack": 1}
    (msg,) = fake_slack.messages
    p = msg.payload
    assert msg.kind == "chat.postMessage" and p["channel"] == "#tw-alerts"
    assert p["metadata"]["event_payload"]["outbox_id"] == rid
    assert p["attachments"][0]["color"] == "#D32F2F"
    text = "\n".join(msg.texts())
    for needle in (
        "🚨 CRITICAL: Breaker tripped: daily_loss on trend-btc",
        "*What tripped*\ndaily_loss breaker on trend-btc",
        "*Value vs threshold*\n5.20% vs threshold 5.00%",
        "*State*\nHALTED",
        "1 order(s) cancelled: tw-1",
        "1 position(s) closed: trend-btc:BTCUSDT",
        "tradewarden reset --reason",
        "https://runbooks.example/tw/breaker-tripped.md",
        f"alert {rid}",
    ):
        assert needle in text, needle


def test_incoming_webhook_delivery(tmp_path: Path, fake_slack: FakeSlack) -> None:
    d = dispatcher(tmp_path, SlackWebhookChannel(Secret(fake_slack.webhook_url)), FakeClock())
    rid = d.enqueue(cat.low_balance("USDT", 40, 100)).row_ids["slack"]
    d.deliver_due()
    (msg,) = fake_slack.messages
    assert msg.kind == "webhook" and slack_ids(fake_slack) == {rid: 1}
    assert msg.payload["blocks"][0]["text"]["text"].startswith("⚠️ WARNING: Low balance: USDT")


def test_short_retry_after_is_honoured_inline(tmp_path: Path, fake_slack: FakeSlack) -> None:
    d = dispatcher(tmp_path, bot(fake_slack), FakeClock())
    rid = d.enqueue(trip()).row_ids["slack"]  # type: ignore[arg-type]
    fake_slack.fail_next(1, 429, retry_after=1)
    report = d.deliver_due()
    # slack-sdk's RateLimitErrorRetryHandler waited Retry-After and sent again
    assert report.delivered == {"slack": 1} and report.failed == {}
    assert fake_slack.calls == 2 and slack_ids(fake_slack) == {rid: 1}


def test_long_retry_after_pauses_slack_in_the_outbox(tmp_path: Path, fake_slack: FakeSlack) -> None:
    clock = FakeClock()
    d = dispatcher(tmp_path, bot(fake_slack, max_inline_wait=5.0), clock)
    rids = [d.enqueue(trip(f"bot{i}")).row_ids["slack"] for i in range(3)]  # type: ignore[arg-type]
    fake_slack.fail_next(1, 429, retry_after=120)
    assert d.deliver_due().failed == {"slack": 1}
    row = next(r for r in d.outbox.rows() if r.attempts == 1)
    assert row.next_attempt_at >= clock() + 120
    assert "HTTP 429; retry after 120 s" in (row.last_error or "")
    clock.advance(119)
    d.deliver_due()
    assert fake_slack.calls == 1  # nothing sent while Slack asked us to wait
    clock.advance(1)
    d.deliver_due()
    assert slack_ids(fake_slack) == {r: 1 for r in rids}


def test_server_errors_and_an_outage_then_exactly_once(
    tmp_path: Path, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tradewarden.alerts")
    clock = FakeClock()
    d = dispatcher(tmp_path, bot(fake_slack), clock)
    rids = [d.enqueue(trip(f"bot{i}")).row_ids["slack"] for i in range(4)]  # type: ignore[arg-type]
    fake_slack.fail_next(2, 500)
    for _ in range(2):
        assert d.deliver_due().failed == {"slack": 1}
        clock.advance(61)
    fake_slack.set_down(True)  # then the connection drops for a while
    for _ in range(2):
        assert d.deliver_due().failed == {"slack": 1}
        clock.advance(61)
    assert fake_slack.messages == []
    errors = [r.error for r in caplog.records if r.getMessage() == "alert delivery failed"]
    assert [e.split(":")[0] for e in errors] == ["ChannelError"] * 2 + ["RemoteDisconnected"] * 2
    assert "HTTP 500" in errors[0]
    fake_slack.set_down(False)
    clock.advance(61)
    d.deliver_due()
    clock.advance(3600)
    d.deliver_due()
    assert slack_ids(fake_slack) == {r: 1 for r in rids}
    assert d.stats().depth == 0


def test_a_rejected_token_stays_pending(tmp_path: Path, fake_slack: FakeSlack) -> None:
    wrong = SlackChannel(Secret("test-slack-not-the-right-one"), "#c", fake_slack.api_url)
    d = dispatcher(tmp_path, wrong, FakeClock())
    d.enqueue(trip())  # type: ignore[arg-type]
    d.deliver_due()
    (row,) = d.outbox.rows()
    assert row.delivered_at is None
    assert row.last_error == "ChannelError: Slack answered HTTP 200: invalid_auth"


@pytest.mark.parametrize("kind", ["token", "webhook"])
def test_slack_credentials_must_be_secrets(kind: str) -> None:
    with pytest.raises(TypeError):
        if kind == "token":
            SlackChannel("test-slack-plain", "#c")  # type: ignore[arg-type]
        else:
            SlackWebhookChannel("https://hooks.example/x")  # type: ignore[arg-type]


def test_duplicates_are_suppressed_and_resolution_is_posted(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    clock = FakeClock()
    d = dispatcher(tmp_path, bot(fake_slack), clock)
    first = trip()
    d.enqueue(first)  # type: ignore[arg-type]
    for _ in range(3):  # the breaker keeps re-reporting while halted
        clock.advance(30)
        assert d.enqueue(trip()).suppressed  # type: ignore[arg-type]
    d.deliver_due()
    assert len(fake_slack.messages) == 1
    res = d.resolve(first.dedup_key, "reset by ana after review")  # type: ignore[attr-defined]
    assert res is not None
    d.deliver_due()
    done = fake_slack.messages[1].payload
    assert done["blocks"][0]["text"]["text"] == (
        "✅ RESOLVED: Breaker tripped: daily_loss on trend-btc"
    )
    assert done["attachments"][0]["color"] == "#2E7D32"
    assert done["metadata"]["event_payload"]["resolved"] is True
    assert "reset by ana after review" in str(done["blocks"])
    assert "Reset command" not in str(done["blocks"])
    rows = d.outbox.rows()
    assert len(rows) == 2 and rows[1].id == res.row_ids["slack"]
    assert slack_ids(fake_slack) == {r.id: 1 for r in rows}
