"""The daemon's breaker trip reaches a real (local) Slack server and SMTP server; a canary
Slack token and SMTP password never show up in any output, file or payload."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.slack.server import running_fake_slack
from tests.fakes.smtp import FakeSmtp
from tests.integration.daemon.helpers import tw

pytestmark = pytest.mark.usefixtures("clean_env")
CANARY_TOKEN = "test-slack-CANARY-7f3a9d-slack-token"
CANARY_PASSWORD = "CANARY-smtp-pw-51e2c0"


def test_trip_alert_delivered_to_slack_and_email_without_leaking(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with (
        running_fake_slack(token=CANARY_TOKEN) as slack,
        FakeSmtp(tls="none", auth=("alerts", CANARY_PASSWORD)) as smtp,
    ):
        proc = tw(
            state,
            "run",
            "--no-console",
            TRADEWARDEN_SLACK_TOKEN=CANARY_TOKEN,
            TRADEWARDEN_SLACK_BASE_URL=slack.api_url,
            TRADEWARDEN_SMTP_HOST="127.0.0.1",
            TRADEWARDEN_SMTP_PORT=str(smtp.port),
            TRADEWARDEN_SMTP_TLS="none",
            TRADEWARDEN_EMAIL_TO="oncall@example.org",
            TRADEWARDEN_SMTP_USERNAME="alerts",
            TRADEWARDEN_SMTP_PASSWORD=CANARY_PASSWORD,
            # 2 of 3 consecutive losses (67%) is past this mark: the warning before the trip
            TRADEWARDEN_APPROACH_WARN_RATIO="0.6",
        )
        assert proc.returncode == 0, proc.stderr
        slack_texts = [" ".join(m.texts()) for m in slack.messages]
        mails = [str(m.message["Subject"]) + m.message.as_string() for m in smtp.messages]
    trips = [t for t in slack_texts if "Breaker tripped: consecutive_losses" in t]
    assert len(trips) == 1  # trend-btc's trip, exactly once; it stops trend-eth too
    assert any(
        "runbooks/breaker-tripped.md" in t and "tradewarden reset --reason" in t for t in trips
    )
    assert sum("Breaker tripped" in m for m in mails) == 1
    # the approaching-breaker warning came first, to Slack and email
    near = "Approaching breaker: consecutive_losses on trend-btc"
    assert any(near in t for t in slack_texts) and any(near in m for m in mails)
    # issue 17: with the default marks (TRADEWARDEN_LARGE_POSITION_USD/PCT, _LOW_BALANCE_USD,
    # _UNUSUAL_*) this run's entries (500 USDT of 10,000) raise none of the watch warnings
    for quiet in ("Large position opened", "Low balance", "Unusual activity", "System error"):
        assert not [t for t in slack_texts + mails if quiet in t], quiet
    everything = proc.stdout + proc.stderr + "".join(slack_texts) + "".join(mails)
    for f in state.rglob("*"):
        if f.is_file():
            everything += f.read_bytes().decode("utf-8", "replace")
    assert CANARY_TOKEN not in everything and CANARY_PASSWORD not in everything
