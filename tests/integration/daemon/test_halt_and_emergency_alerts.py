"""Issue 13, defect 6: a manual halt's alert must not swallow a real emergency stop.

The daemon (in process, its real alert dispatcher and outbox) talks to the fake Slack
Web API and an aiosmtpd server. An operator halts; within the dedup window the portfolio
drawdown emergency stop trips: both alerts reach Slack and email.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import alert_env, alert_settings, dispatching_daemon, flat_prices
from tests.fakes.slack.server import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.integration.daemon.helpers import start, status, terminate, tw, wait_for
from tradewarden.risk.breakers import Observation
from tradewarden.risk.breakers.base import PORTFOLIO
from tradewarden.runtime.halt_reset import DaemonSite, apply_request

pytestmark = pytest.mark.usefixtures("clean_env")
TOKEN = "test-slack-halt-vs-stop-token"  # noqa: S105 - a fake Slack's token
T0 = 1_767_571_200.0


def test_manual_halt_then_drawdown_stop_both_reach_slack_and_email(
    tmp_path: Path, stand_ins: tuple[FakeSlack, FakeSmtp]
) -> None:
    slack, smtp = stand_ins
    settings = alert_settings(tmp_path / "state", slack, smtp, alert_dedup_seconds=300.0)
    daemon, dispatcher = dispatching_daemon(settings, TOKEN)
    try:
        apply_request(DaemonSite(daemon), "halt", "desk review of a fat-finger", "ana")
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
        **alert_env(slack, smtp, TOKEN),
        "TRADEWARDEN_SCENARIO": str(flat_prices(tmp_path / "2h.csv", 2)),
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
    env["TRADEWARDEN_SCENARIO"] = str(flat_prices(tmp_path / "3h.csv", 3))
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
