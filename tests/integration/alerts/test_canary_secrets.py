"""Planted canary credentials never reach the outbox, the logs, error text or messages."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from tests.fakes.slack import FakeSlack, running_fake_slack
from tests.fakes.smtp import FakeSmtp
from tests.integration.alerts.conftest import SLACK_TOKEN, SMTP_PASSWORD, SMTP_USER
from tests.integration.alerts.helpers import SnsSink, settings_for
from tests.unit.alerts.doubles import FakeClock
from tradewarden.alerts import Backoff, build_dispatcher
from tradewarden.alerts import catalogue as cat
from tradewarden.core.logs import JsonFormatter
from tradewarden.secrets.value import Secret

HOOK_PATH = "/services/TCANARY01/BCANARY01/whk-CANARY-3e7a1c9d"
WRONG_PASSWORD = "wrong-pw-CANARY-77aa"  # noqa: S105 - a planted canary
CANARIES = [SLACK_TOKEN, SMTP_PASSWORD, HOOK_PATH, HOOK_PATH.rsplit("/", 1)[-1], WRONG_PASSWORD]
SERVER_SIDE_LOGGERS = ("mail.log",)  # aiosmtpd's own log: the remote end, not tradewarden


def everything_in_sqlite(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def raw_files(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def run_through_outages(
    tmp_path: Path, fake: FakeSlack, hook: FakeSlack, smtp: FakeSmtp, sink: SnsSink
) -> None:
    clock = FakeClock()
    state = tmp_path / "state"
    db = state / "tradewarden.sqlite3"
    common = {"clock": clock, "backoff": Backoff(2.0, 60.0), "ssl_context": smtp.client_context()}
    bot = build_dispatcher(
        settings_for(state, slack=fake, smtp=smtp, sns_arn=sink.arn),
        {
            "slack_bot_token": Secret(SLACK_TOKEN),
            "smtp_username": Secret(SMTP_USER),
            "smtp_password": Secret(WRONG_PASSWORD),
        },
        db,
        **common,  # type: ignore[arg-type]
    )
    # a careless caller even puts the configured credentials into an alert's text
    bot.enqueue(cat.system_error("smtp", f"login failed with {WRONG_PASSWORD} / {SLACK_TOKEN}"))
    bot.enqueue(cat.breaker_tripped("daily_loss", "trend-btc", 0.06, 0.05))
    fake.set_down(True)
    smtp.refuse_next(1, 554)
    bot.deliver_due()  # Slack down, SMTP auth refused, SNS topic missing
    fake.set_down(False)
    fake.fail_next(1, 500)
    clock.advance(61)
    bot.deliver_due()
    clock.advance(61)
    bot.deliver_due()  # Slack is back: both alerts posted with the bot token
    bot.close()

    hooked = build_dispatcher(
        settings_for(state, smtp=smtp, sns_arn=sink.arn),
        {
            "slack_webhook_url": Secret(hook.webhook_url),
            "smtp_username": Secret(SMTP_USER),
            "smtp_password": Secret(SMTP_PASSWORD),
        },
        db,
        **common,  # type: ignore[arg-type]
    )
    hooked.enqueue(cat.low_balance("USDT", 5, 100))
    hook.set_down(True)
    hooked.deliver_due()  # slack-sdk logs the webhook URL when it retries
    hook.set_down(False)
    sink.create()
    clock.advance(3600)
    hooked.deliver_due()
    clock.advance(3600)
    hooked.deliver_due()
    assert hooked.stats().depth == 0
    hooked.close()


def test_canaries_never_leak(
    tmp_path: Path,
    fake_slack: FakeSlack,
    smtp: FakeSmtp,
    aws_env: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    sink = SnsSink("tw-canary")
    with running_fake_slack(webhook_path=HOOK_PATH) as hook:
        run_through_outages(tmp_path, fake_slack, hook, smtp, sink)
        hook_payloads = [str(m.payload) for m in hook.messages]

    state = tmp_path / "state"
    dump = everything_in_sqlite(state / "tradewarden.sqlite3")
    assert "alert_outbox" in dump and "SMTPAuthenticationError" in dump  # errors were stored
    assert "RemoteDisconnected" in dump or "HTTP 500" in dump
    files = raw_files(state)  # db, WAL, alerts.jsonl
    fmt = JsonFormatter()
    ours = [r for r in caplog.records if not r.name.startswith(SERVER_SIDE_LOGGERS)]
    assert any(r.name == "tradewarden.alerts.sdk" for r in ours)  # slack-sdk did log
    logged = "\n".join(fmt.format(r) for r in ours) + "\n".join(str(r.__dict__) for r in ours)
    messages = "\n".join(
        [str(m.payload) for m in fake_slack.messages]
        + hook_payloads
        + [m.message.as_string() for m in smtp.messages]
        + [str(sink.drain())]
    )
    stderr = capsys.readouterr().err
    assert fake_slack.messages and hook_payloads and smtp.messages and stderr
    for canary in CANARIES:
        assert canary not in dump, canary
        assert canary.encode() not in files, canary
        assert canary not in logged, canary
        assert canary not in messages, canary
        assert canary not in stderr, canary
    assert "login failed with *** / ***" in dump
