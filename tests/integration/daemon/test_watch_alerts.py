"""Issue 17: the large-position and low-balance warnings fire from a real daemon run.

`tradewarden run` (paper replay of the shipped scenario) in a subprocess, with the fake
Slack Web API and an aiosmtpd server as its channels. With the marks set below what the
first entry does, both warnings arrive in Slack and by email as warnings, once each (the
default-threshold run in test_daemon_alerts.py is the run where they must not fire).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import alert_env
from tests.fakes.slack.server import running_fake_slack
from tests.fakes.smtp import FakeSmtp
from tests.integration.daemon.helpers import tw

pytestmark = pytest.mark.usefixtures("clean_env")
TOKEN = "test-slack-watch-token"  # noqa: S105 - a fake Slack's token


def test_large_position_and_low_balance_reach_slack_and_email_as_warnings(
    tmp_path: Path,
) -> None:
    with running_fake_slack(token=TOKEN) as slack, FakeSmtp(tls="none") as smtp:
        proc = tw(
            tmp_path / "state",
            "run",
            "--no-console",
            **alert_env(slack, smtp, TOKEN),
            # each bot starts with 5,000 USDT and puts 10% (500) into an entry: the first
            # buy makes a position of ~500 (> 100) and leaves ~9,500 USDT free (< 9,900)
            TRADEWARDEN_LARGE_POSITION_USD="100",
            TRADEWARDEN_LOW_BALANCE_USD="9900",
        )
        assert proc.returncode == 0, proc.stderr
        slack_texts = [" ".join(m.texts()) for m in slack.messages]
        mails = [
            (str(m.message["Subject"]), str(m.message["X-Tradewarden-Severity"]))
            for m in smtp.messages
        ]
    large = [t for t in slack_texts if "Large position opened: BTCUSDT on trend-btc" in t]
    low = [t for t in slack_texts if "Low balance: USDT" in t]
    assert len(large) == 1 and len(low) == 1, slack_texts
    for text in large + low:
        assert "severity: *warning*" in text, text
    assert "runbooks/large-position.md" in large[0] and "runbooks/low-balance.md" in low[0]
    assert [sev for subj, sev in mails if "Large position opened: BTCUSDT" in subj] == [
        "warning"
    ], mails
    assert [sev for subj, sev in mails if "Low balance: USDT" in subj] == ["warning"], mails
