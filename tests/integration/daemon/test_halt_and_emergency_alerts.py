"""Issue 13, defect 6: a manual halt's alert must not swallow a real emergency stop.

The daemon (in process, its real alert dispatcher and outbox) talks to the fake Slack
Web API and an aiosmtpd server. An operator halts; within the dedup window the portfolio
drawdown emergency stop trips: both alerts reach Slack and email.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.slack.server import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.integration.daemon.helpers import start, status, terminate, tw, wait_for
from tradewarden.alerts.factory import SLACK_BOT_TOKEN, build_dispatcher
from tradewarden.core.config import Settings
from tradewarden.risk.breakers import Observation
from tradewarden.risk.breakers.base import PORTFOLIO
from tradewarden.runtime.daemon import Daemon, apply_action
from tradewarden.scenarios.generate import write
from tradewarden.secrets.value import Secret

pytestmark = pytest.mark.usefixtures("clean_env")
TOKEN = "test-slack-halt-vs-stop-token"  # noqa: S105 - a fake Slack's token
T0 = 1_767_571_200.0


def test_manual_halt_then_drawdown_stop_both_reach_slack_and_email(
    tmp_path: Path, stand_ins: tuple[FakeSlack, FakeSmtp]
) -> None:
    slack, smtp = stand_ins
    settings = Settings(
        state_dir=tmp_path / "state",
        metrics_port=0,
        slack_base_url=slack.api_url,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_tls="none",
        email_to=("oncall@example.org",),
        alert_dedup_seconds=300.0,
    )
    settings.state_dir.mkdir(parents=True)
    dispatcher = build_dispatcher(
        settings, {SLACK_BOT_TOKEN: Secret(TOKEN)}, settings.db_path, console=False
    )
    daemon = Daemon(settings, notifier=dispatcher)
    try:
        apply_action(daemon, "halt", "desk review of a fat-finger", "ana")
        daemon.risk.observe(Observation("equity", PORTFOLIO, T0, equity=10_000.0))
        trips = daemon.risk.observe(Observation("equity", PORTFOLIO, T0 + 5, equity=5_500.0))
        assert "portfolio_drawdown" in [t.breaker for t in trips]
        report = dispatcher.deliver_due()
        assert report.total_failed == 0
    finally:
        daemon.close()
        dispatcher.close(0)

    slack_texts = [" ".join(m.texts()) for m in slack.messages]
    subjects = [str(m.message["Subject"]) for m in smtp.messages]
    for seen in (slack_texts, subjects):
        assert any("halt" in t.lower() and "ana" in t for t in seen), seen
        assert sum("EMERGENCY STOP" in t and "portfolio_drawdown" in t for t in seen) == 1, seen


def flat_hours(path: Path, hours: int) -> Path:
    """Flat prices from 2026-01-05 00:00 UTC: no crossing, so no bot trades."""
    rows = [
        (int(T0) + 60 * m, sym, px, px, px, px, 10.0)
        for m in range(hours * 60)
        for sym, px in (("BTCUSDT", 42_000.0), ("ETHUSDT", 2_300.0))
    ]
    write(path, rows)
    return path


def test_real_daemon_halt_then_emergency_stop_after_a_restart_both_page(
    tmp_path: Path, stand_ins: tuple[FakeSlack, FakeSmtp]
) -> None:
    """The same attack across processes: the operator halts the running daemon (its alert
    goes out), the daemon restarts and the portfolio is 50% below its peak: the emergency
    stop pages too, within the dedup window of the halt's alert.

    Paper equity is the starting balance plus booked P&L; with no trades, the restarted
    run's TRADEWARDEN_STARTING_BALANCE_USDT stands in for the equity after a crash."""
    slack, smtp = stand_ins
    state = tmp_path / "state"
    env = {
        "TRADEWARDEN_SLACK_TOKEN": TOKEN,
        "TRADEWARDEN_SLACK_BASE_URL": slack.api_url,
        "TRADEWARDEN_SMTP_HOST": smtp.host,
        "TRADEWARDEN_SMTP_PORT": str(smtp.port),
        "TRADEWARDEN_SMTP_TLS": "none",
        "TRADEWARDEN_EMAIL_TO": "oncall@example.org",
        "TRADEWARDEN_SCENARIO": str(flat_hours(tmp_path / "2h.csv", 2)),
    }
    proc = start(state, "run", "--follow", "--no-console", **env)
    try:
        assert wait_for(lambda: status(state).get("daemon_running") is True, 60)
        halt = tw(state, "halt", "--reason", "desk review", **env)
        assert halt.returncode == 0 and "applied by the running daemon" in halt.stdout, halt
        assert wait_for(
            lambda: any("halt by" in " ".join(m.texts()).lower() for m in slack.messages)
        )
    finally:
        assert terminate(proc) == 0
    env["TRADEWARDEN_SCENARIO"] = str(flat_hours(tmp_path / "3h.csv", 3))
    again = tw(state, "run", "--no-console", TRADEWARDEN_STARTING_BALANCE_USDT="5000", **env)
    assert again.returncode == 0, again.stderr
    assert ("portfolio_drawdown", "portfolio") in {
        (t["breaker"], t["bot"]) for t in status(state, **env)["trips"]
    }
    slack_texts = [" ".join(m.texts()) for m in slack.messages]
    subjects = [str(m.message["Subject"]) for m in smtp.messages]
    for seen in (slack_texts, subjects):
        assert sum("halt by" in t.lower() for t in seen) == 1, seen
        assert sum("EMERGENCY STOP" in t and "portfolio_drawdown" in t for t in seen) == 1, seen
