"""Issue 17: unusual activity, a foreign order and a system critical error, from one real
daemon run (`tradewarden run`, testnet mode) against the fake Binance, with the fake Slack
Web API and an aiosmtpd server as its alert channels.

1. the exchange refuses every order (-2010) -> "orders refused by the exchange" in a
   burst -> the unusual-activity warning;
2. an order appears on the account that the daemon did not place -> reconciliation halts
   and raises the critical foreign-order alert;
3. the audit log's tail becomes unreadable (a line that is not JSON) -> the next audit
   append fails -> a system critical error: the critical system_error alert and the
   EMERGENCY STOP, HALTED and not ready until stopped (exit 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import alert_env
from tests.fakes.binance import FakeBinance
from tests.fakes.slack.server import FakeSlack, running_fake_slack
from tests.fakes.smtp import FakeSmtp
from tests.integration.daemon.helpers import readyz, wait_for
from tests.integration.testnet.conftest import WAVE, Running, wave_exchange

TOKEN = "test-slack-security-token"  # noqa: S105 - a fake Slack's token


@pytest.fixture()
def stand_ins(clean_env: None) -> Iterator[tuple[FakeBinance, FakeSlack, FakeSmtp]]:
    with (
        wave_exchange(WAVE, 100) as fx,
        running_fake_slack(token=TOKEN) as slack,
        FakeSmtp(tls="none") as smtp,
    ):
        yield fx, slack, smtp


def slack_with(slack: FakeSlack, needle: str) -> list[str]:
    return [t for t in (" ".join(m.texts()) for m in slack.messages) if needle in t]


def test_unusual_activity_foreign_order_and_critical_error_page(
    tmp_path: Path, stand_ins: tuple[FakeBinance, FakeSlack, FakeSmtp]
) -> None:
    fx, slack, smtp = stand_ins
    d = Running(
        tmp_path / "state",
        fx,
        **alert_env(slack, smtp, TOKEN),
        TRADEWARDEN_UNUSUAL_REJECTED_ORDERS="2",
    )
    try:
        port = d.wait_ready()
        # 1. every order refused by the exchange
        fx.fault("reject", path="/api/v3/order", method="POST", count=None)
        assert wait_for(lambda: slack_with(slack, "orders refused by the exchange"), 90), [
            r for r in fx.requests() if r["path"] == "/api/v3/order"
        ][-3:]
        fx.clear_faults()
        # refused orders are ordinary errors: no system error, no emergency stop
        assert not slack_with(slack, "System error") and not slack_with(slack, "EMERGENCY")
        assert not slack_with(slack, "was not placed by tradewarden")  # all orders are ours
        # 2. an order nobody here placed
        fx.place_foreign_order("BTCUSDT", "BUY", 0.001, 20_000.0)
        assert wait_for(lambda: slack_with(slack, "was not placed by tradewarden"), 30)
        # 3. the audit log cannot be extended: its tail is not an entry any more
        (current,) = sorted((d.state / "audit").glob("audit-*.jsonl"))[-1:]
        with current.open("a") as f:
            f.write("{not an audit entry\n")
        assert wait_for(lambda: slack_with(slack, "EMERGENCY STOP"), 30), d.stop_output()
        assert wait_for(lambda: slack_with(slack, "System error in audit log"), 10)
        code, body = readyz(port)
        assert code == 503 and any("system critical error" in r for r in body["reasons"])
    finally:
        rc = d.stop()
    assert rc == 1, d.err
    unusual = slack_with(slack, "Unusual activity")
    assert unusual and all("severity: *warning*" in t for t in unusual), unusual
    for needle in ("was not placed by tradewarden", "EMERGENCY STOP", "System error in audit"):
        found = slack_with(slack, needle)
        assert found and all("severity: *critical*" in t for t in found), (needle, found)
    (stop,) = slack_with(slack, "EMERGENCY STOP")
    assert "system critical error in audit log" in stop and "AuditError" in stop
    mails = {
        str(m.message["Subject"]): str(m.message["X-Tradewarden-Severity"]) for m in smtp.messages
    }
    by = {
        needle: {sev for subj, sev in mails.items() if needle in subj}
        for needle in (
            "Unusual activity",
            "was not placed by tradewarden",
            "EMERGENCY STOP",
            "System error in audit log",
        )
    }
    assert by == {
        "Unusual activity": {"warning"},
        "was not placed by tradewarden": {"critical"},
        "EMERGENCY STOP": {"critical"},
        "System error in audit log": {"critical"},
    }, mails
