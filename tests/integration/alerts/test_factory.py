"""`build_dispatcher` wires exactly the channels the settings and credentials allow."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.fakes.slack import FakeSlack
from tests.integration.alerts.helpers import settings_for, slack_ids
from tradewarden.alerts import (
    ConsoleChannel,
    EmailChannel,
    SlackChannel,
    SlackWebhookChannel,
    SnsChannel,
    build_dispatcher,
)
from tradewarden.alerts import catalogue as cat
from tradewarden.secrets.value import Secret

ARN = "arn:aws:sns:eu-west-1:123456789012:tw"


def kinds(d: object) -> dict[str, type]:
    return {name: type(ch) for name, ch in d.channels.items()}  # type: ignore[attr-defined]


def test_demo_defaults_give_only_the_console(tmp_path: Path, clean_env: None) -> None:
    out = io.StringIO()
    d = build_dispatcher(settings_for(tmp_path), None, tmp_path / "tw.sqlite3", console_stream=out)
    assert kinds(d) == {"console": ConsoleChannel}
    res = d.enqueue(cat.breaker_tripped("daily_loss", "trend-btc", 0.06, 0.05))
    d.deliver_due()
    line = json.loads((tmp_path / "alerts.jsonl").read_text())
    assert line["outbox_id"] == res.row_ids["console"]
    assert out.getvalue().startswith("🚨 ALERT [CRITICAL] Breaker tripped")
    d.close()


def test_everything_configured(tmp_path: Path, clean_env: None, fake_slack: FakeSlack) -> None:
    settings = settings_for(
        tmp_path,
        slack=fake_slack,
        sns_arn=ARN,
        smtp_host="127.0.0.1",
        smtp_port=2525,
        email_to=("oncall@example.org",),
        alert_dedup_seconds=42,
    )
    secrets = {
        "slack_bot_token": Secret(fake_slack.token),
        "slack_webhook_url": Secret(fake_slack.webhook_url),
        "smtp_username": Secret("u"),
        "smtp_password": Secret("pw-1234"),
    }
    d = build_dispatcher(settings, secrets, tmp_path / "tw.sqlite3", console=False)
    assert kinds(d) == {"slack": SlackChannel, "email": EmailChannel, "sns": SnsChannel}
    assert d.outbox.dedup_seconds == 42
    assert d.runbook_base_url == "https://runbooks.example/tw/"
    # the factory's runbook base reaches alerts built from the daemon's notify() calls
    res = d.notify("approaching_breaker", breaker="daily_loss", bot="b", value=0.04, threshold=0.05)
    assert sorted(res.row_ids) == ["email", "slack"]
    d.deliver_due(keep_going=lambda: not fake_slack.messages)
    assert slack_ids(fake_slack) == {res.row_ids["slack"]: 1}
    assert "https://runbooks.example/tw/approaching-breaker.md" in str(
        fake_slack.messages[0].payload
    )
    d.close()


def test_webhook_only_and_missing_pieces(tmp_path: Path, clean_env: None) -> None:
    settings = settings_for(tmp_path, smtp_host="smtp.example.org")  # no recipients
    d = build_dispatcher(
        settings,
        {"slack_webhook_url": Secret("https://hooks.example/services/T/B/x")},
        tmp_path / "tw.sqlite3",
        console=False,
    )
    assert kinds(d) == {"slack": SlackWebhookChannel}
    d.close()
    empty = build_dispatcher(
        settings, {"slack_bot_token": Secret("")}, tmp_path / "tw.sqlite3", console=False
    )
    assert kinds(empty) == {}
    empty.close()


def test_bad_credentials_are_configuration_errors(tmp_path: Path, clean_env: None) -> None:
    with pytest.raises(TypeError, match="must be a Secret"):
        build_dispatcher(
            settings_for(tmp_path), {"slack_bot_token": "test-slack-plain"}, tmp_path / "x"
        )  # type: ignore[dict-item]
    remote_plain = settings_for(
        tmp_path, smtp_host="smtp.example.org", smtp_tls="none", email_to=("a@b.c",)
    )
    with pytest.raises(ValueError, match="unencrypted"):
        build_dispatcher(
            remote_plain,
            {"smtp_username": Secret("u"), "smtp_password": Secret("pw-1234")},
            tmp_path / "x",
        )
