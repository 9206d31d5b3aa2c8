"""Every channel down at once, a restart in the middle, then exactly-once delivery.

Real local servers throughout: the fake Slack (HTTP), aiosmtpd (STARTTLS + AUTH), moto
(SNS -> SQS) and the console file. Messages are counted by outbox id on the servers.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.integration.alerts.conftest import SLACK_TOKEN, SMTP_PASSWORD, SMTP_USER
from tests.integration.alerts.helpers import (
    SnsSink,
    console_ids,
    email_ids,
    outbox_ids,
    settings_for,
    slack_ids,
    wait_until,
)
from tests.unit.alerts.doubles import FakeClock
from tradewarden.alerts import Alert, Backoff, Dispatcher, build_dispatcher
from tradewarden.alerts import catalogue as cat
from tradewarden.secrets.value import Secret

SECRETS = {
    "slack_bot_token": Secret(SLACK_TOKEN),
    "smtp_username": Secret(SMTP_USER),
    "smtp_password": Secret(SMTP_PASSWORD),
}


def alerts() -> list[Alert]:
    return [
        cat.breaker_tripped("daily_loss", "trend-btc", 0.052, 0.05, orders_cancelled=["tw-1"]),
        cat.emergency_stop("portfolio drawdown", value=0.41, threshold=0.4),
        cat.foreign_order("BTCUSDT", 881),
        cat.approaching_breaker("bot_drawdown", "trend-eth", 0.2, 0.25),
        cat.bot_started("trend-btc", mode="paper"),
    ]


def build(
    tmp_path: Path, slack: FakeSlack, smtp: FakeSmtp, sink: SnsSink, **kw: object
) -> Dispatcher:
    settings = settings_for(tmp_path / "state", slack=slack, smtp=smtp, sns_arn=sink.arn)
    return build_dispatcher(
        settings,
        SECRETS,
        tmp_path / "state" / "tradewarden.sqlite3",
        ssl_context=smtp.client_context(),
        **kw,  # type: ignore[arg-type]
    )


def assert_exactly_once(tmp_path: Path, slack: FakeSlack, smtp: FakeSmtp, sink: SnsSink) -> None:
    db = tmp_path / "state" / "tradewarden.sqlite3"
    expected = {
        "slack": slack_ids(slack),
        "email": email_ids(smtp),
        "sns": sink.drain(),
        "console": console_ids(tmp_path / "state"),
    }
    counts = {"slack": 5, "email": 4, "sns": 3, "console": 5}  # routing by severity
    for channel, seen in expected.items():
        rows = outbox_ids(db, channel)
        assert len(rows) == counts[channel], channel
        assert seen == Counter({r: 1 for r in rows}), channel


def test_outage_restart_recovery_is_exactly_once(
    tmp_path: Path, fake_slack: FakeSlack, smtp: FakeSmtp, aws_env: str
) -> None:
    clock = FakeClock()
    sink = SnsSink("tw-outage")  # the topic does not exist yet: SNS errors
    fake_slack.set_down(True)
    smtp.refuse_next(1000, 451)
    first = build(tmp_path, fake_slack, smtp, sink, clock=clock, backoff=Backoff(2.0, 60.0))
    for alert in alerts():
        assert first.enqueue(alert).queued
    for _ in range(2):
        first.deliver_due()
        clock.advance(61)
    stats = first.stats()
    assert stats.depth == 12  # everything but the console (5 rows) is pending
    assert stats.delivered_by_channel == {"console": 5}
    assert set(stats.failures_by_channel) == {"slack", "email", "sns"}
    first.close()

    # the daemon restarts while the services are still down ...
    second = build(tmp_path, fake_slack, smtp, sink, clock=clock, backoff=Backoff(2.0, 60.0))
    assert second.stats().depth == 12
    clock.advance(61)
    second.deliver_due()
    assert second.stats().depth == 12

    # ... and they come back (Slack first answering one 429 with a short Retry-After)
    fake_slack.set_down(False)
    fake_slack.fail_next(1, 429, retry_after=1)
    smtp.refuse_next(0)
    sink.create()
    clock.advance(61)
    second.deliver_due()
    clock.advance(3600)
    second.deliver_due()  # a second pass must not send anything again
    assert second.stats().depth == 0
    assert_exactly_once(tmp_path, fake_slack, smtp, sink)
    second.close()


def test_worker_restart_mid_send_is_exactly_once(
    tmp_path: Path,
    fake_slack: FakeSlack,
    smtp: FakeSmtp,
    aws_env: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = SnsSink("tw-restart")
    sink.create()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # SNS unreachable
    fake_slack.set_down(True)
    smtp.refuse_next(3, 451)
    fast = Backoff(base=0.05, cap=0.3)
    first = build(tmp_path, fake_slack, smtp, sink, backoff=fast)
    first.start(idle_seconds=0.2)
    for alert in alerts():
        first.enqueue(alert)
    wait_until(
        lambda: set(first.stats().failures_by_channel) >= {"slack", "email", "sns"},
        what="a failure on every remote channel",
    )
    # Slack comes back slowly: stop the worker while a Slack send is in flight
    fake_slack.slow_next(1, 2.5)
    fake_slack.set_down(False)
    wait_until(lambda: fake_slack.slow_pending == 0, what="a Slack send in flight")
    first.close(flush_timeout=0.1)
    assert first.running  # the send is still running; its outcome will still be recorded

    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env)  # SNS reachable for the restarted daemon
    second = build(tmp_path, fake_slack, smtp, sink, backoff=fast)
    second.start(idle_seconds=0.2)
    wait_until(lambda: second.stats().depth == 0, what="the outbox to drain")
    assert first.wait_stopped(timeout=10) and first.outbox.closed
    assert second.stop(flush_timeout=2)
    assert_exactly_once(tmp_path, fake_slack, smtp, sink)
    second.close()
