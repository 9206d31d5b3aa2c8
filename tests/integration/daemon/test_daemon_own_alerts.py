"""Issue 17: the alerts the running daemon raises on its own arrive in Slack (and email when
their severity routes there): bot started/stopped, daily summary, audit chain broken,
secret age at 80/90 days, rebalance executed — and a run where none of the conditional ones
may fire.

The daemon is `tradewarden run` in a subprocess (paper, a flat scenario: no trades) with
its secrets in the encrypted credential file (so their ages are known), the fake Slack Web
API and an aiosmtpd server. The daily summary's timing is checked in process with an
injected clock (`test_daily_summary_once_a_day_across_restarts_and_catches_up`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from cryptography.fernet import Fernet

from tests.builders import alert_env, alert_settings, dispatching_daemon, flat_prices
from tests.fakes.slack.server import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.integration.daemon.helpers import env_for, start, status, terminate, tw, wait_for
from tradewarden.secrets.bundle import SecretKind
from tradewarden.secrets.fernet_file import FernetFileSource

pytestmark = pytest.mark.usefixtures("clean_env")
TOKEN = "test-slack-own-alerts-token"  # noqa: S105 - a fake Slack's token
TRADE_ID = "tradewarden/dev/binance/trade"
SLACK_ID = "tradewarden/dev/slack"
DAY = 86_400.0


def _iso_days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")


def _put_secrets(cred: Path, key: str, trade_days: float, slack_days: float) -> None:
    source = FernetFileSource(cred, key)
    source.put(
        TRADE_ID,
        SecretKind.BINANCE,
        {"api_key": "k" * 64, "api_secret": "s" * 64, "created_at": _iso_days_ago(trade_days)},
    )
    source.put(
        SLACK_ID, SecretKind.SLACK, {"bot_token": TOKEN, "created_at": _iso_days_ago(slack_days)}
    )
    cred.chmod(0o600)


def _hms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def _seen(slack: FakeSlack, smtp: FakeSmtp) -> tuple[list[str], list[tuple[str, str]]]:
    """Slack message texts; (subject, severity header) of each email."""
    texts = [" ".join(m.texts()) for m in slack.messages]
    mails = [
        (str(m.message["Subject"]), str(m.message["X-Tradewarden-Severity"])) for m in smtp.messages
    ]
    return texts, mails


def _cli(state: Path, args: list[str], stdin: str, env: dict[str, str]) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "tradewarden.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env_for(state, **env),
        timeout=60,
        check=False,
    )


def test_daemon_raises_its_own_alerts_and_not_without_cause(
    tmp_path: Path, stand_ins: tuple[FakeSlack, FakeSmtp]
) -> None:
    slack, smtp = stand_ins
    state = tmp_path / "state"
    cred, key = tmp_path / "creds.enc", Fernet.generate_key().decode()
    _put_secrets(cred, key, trade_days=10, slack_days=10)
    env = {
        "TRADEWARDEN_SECRET_SOURCE": "file",
        "TRADEWARDEN_CREDENTIAL_FILE": str(cred),
        "BINANCE_CREDENTIAL_KEY": key,
        **alert_env(slack, smtp),
        "TRADEWARDEN_SCENARIO": str(flat_prices(tmp_path / "1h.csv", 1)),
        "TRADEWARDEN_AUDIT_VERIFY_SECONDS": "1",
        # an hour from now: not due at this first start (which only records the schedule)
        "TRADEWARDEN_DAILY_SUMMARY_UTC": _hms(time.time() + 3600),
    }
    # 10k on the exchange, 10k declared cold: the daemon proposes a rebalance to cold
    declared = tw(state, "wallet", "declare-cold", "--amount", "10000", "--address", "bc1q", **env)
    assert declared.returncode == 0, declared.stderr
    # --- run A: nothing wrong, nothing conditional may fire ----------------------------------
    proc = start(state, "run", "--follow", "--no-console", **env)
    try:
        assert wait_for(lambda: status(state, **env).get("daemon_running") is True, 60)
        assert wait_for(lambda: sum("Bot started" in t for t in _seen(slack, smtp)[0]) == 2)
        time.sleep(2.5)  # the chain is verified every second meanwhile
    finally:
        assert terminate(proc) == 0
    out = proc.stdout.read() if proc.stdout else ""
    assert out.count('"audit chain verified"') >= 1, out[-2000:]
    texts, mails = _seen(slack, smtp)
    assert sum("Bot stopped" in t and "stop requested" in t for t in texts) == 2, texts
    for t in texts:
        if "Bot started" in t or "Bot stopped" in t:
            assert "severity: *info*" in t
    for quiet in ("Daily summary", "audit log hash chain", "Secret ", "Rebalance executed"):
        assert not any(quiet in t for t in texts), (quiet, texts)
    assert not any("Bot " in s or "Daily" in s for s, _ in mails)  # info goes to Slack only
    # --- between the runs: the rebalance approved and done by hand; secrets age --------------
    (prop,) = json.loads(tw(state, "approvals", "list", "--json", **env).stdout)
    added = _cli(state, ["approvers", "add", "alice"], "\n", env)
    assert added.returncode == 0, added.stderr
    (uri,) = [ln for ln in added.stdout.splitlines() if ln.startswith("otpauth://")]
    totp = pyotp.TOTP(pyotp.parse_uri(uri).secret)
    assert _cli(state, ["approvers", "confirm", "alice"], totp.now() + "\n", env).returncode == 0
    ok = _cli(
        state,
        ["approvals", "approve", str(prop["id"]), "--reason", "to cold"],
        totp.at(time.time() + totp.interval) + "\n",
        env,
    )
    assert ok.returncode == 0, ok.stderr
    done = tw(
        state, "wallet", "declare-cold", "--amount", "18000", "--address", "bc1q",
        "--proposal", str(prop["id"]), **env,
    )  # fmt: skip
    assert done.returncode == 0 and "recorded executed" in done.stdout, done.stderr
    _put_secrets(cred, key, trade_days=85, slack_days=95)
    # the summary's time was ten minutes ago: due since the last start, sent late at start
    env["TRADEWARDEN_DAILY_SUMMARY_UTC"] = _hms(time.time() - 600)
    # --- run B: each fires --------------------------------------------------------------------
    n_slack = len(slack.messages)
    proc = start(state, "run", "--follow", "--no-console", **env)
    try:
        assert wait_for(lambda: status(state, **env).get("daemon_running") is True, 60)
        audit_file = sorted((state / "audit").glob("*.jsonl"))[0]
        with audit_file.open("r+b") as fh:  # an old entry rewritten in place, same length
            first = fh.readline()
            fh.seek(0)
            assert b'"amount_usd":10000.0' in first  # `wallet declare-cold`, the first entry
            fh.write(first.replace(b'"amount_usd":10000.0', b'"amount_usd":90000.0'))
        assert wait_for(lambda: status(state, **env)["state"] == "halted", 30)
        assert wait_for(lambda: any("hash chain" in s for s, _ in _seen(slack, smtp)[1]), 30)
    finally:
        assert terminate(proc) == 0
    texts, mails = _seen(slack, smtp)
    new = texts[n_slack:]

    def one(title: str, severity: str) -> str:
        found = [t for t in new if title in t]
        assert len(found) == 1, (title, new)
        assert f"severity: *{severity}*" in found[0], found[0]
        return found[0]

    summary = one("Daily summary", "info")
    assert "P&L $0.00, 0 trades" in summary and "Sent late" in summary, summary
    assert "hot_usd:*" in summary and "breakers:*" in summary, summary
    rebalanced = one("Rebalance executed: hot_to_cold", "info")
    assert "alice" in rebalanced, rebalanced
    one("Security: audit log hash chain broken", "critical")
    one(f"Secret {TRADE_ID} is 85 days old", "warning")
    one(f"Secret {SLACK_ID} is 95 days old", "critical")
    assert sum("Bot started" in t for t in new) == 2 and sum("Bot stopped" in t for t in new) == 2
    by_subject = {s: sev for s, sev in mails}
    assert [sev for s, sev in by_subject.items() if "hash chain" in s] == ["critical"]
    assert [sev for s, sev in by_subject.items() if TRADE_ID in s] == ["warning"]
    assert [sev for s, sev in by_subject.items() if SLACK_ID in s] == ["critical"]
    assert not any("Daily" in s or "Rebalance executed" in s for s in by_subject)


def test_daily_summary_once_a_day_across_restarts_and_catches_up(
    tmp_path: Path, stand_ins: tuple[FakeSlack, FakeSmtp]
) -> None:
    from tradewarden.runtime.self_alerts import DailySummary

    slack, smtp = stand_ins
    settings = alert_settings(tmp_path / "state", slack, smtp, daily_summary_utc="18:00")
    t0 = datetime(2026, 12, 3, 17, 59, tzinfo=UTC).timestamp()
    now = [t0]
    daemon, dispatcher = dispatching_daemon(settings, TOKEN)
    try:
        # a round trip inside the day to 18:00, one just before it, one after it
        daemon.store.record_trade("trend-btc", "BTCUSDT", 12.5, t0 - 3600)
        daemon.store.record_trade("trend-btc", "BTCUSDT", -2.5, t0 - 7200)
        daemon.store.record_trade("trend-btc", "BTCUSDT", 99.0, t0 - 2 * DAY)
        summary = DailySummary(daemon, clock=lambda: now[0])
        summary()
        assert dispatcher.deliver_due().total_delivered == 0  # 17:59: not yet
        now[0] = t0 + 60  # 18:00
        summary()
        summary()
        now[0] = t0 + 1800
        DailySummary(daemon, clock=lambda: now[0])()  # a restart at 18:30: already sent
        now[0] = t0 + DAY + 3600  # down over the next 18:00, back at 19:00
        DailySummary(daemon, clock=lambda: now[0])()
        report = dispatcher.deliver_due()
        assert report.total_failed == 0
    finally:
        daemon.close()
        dispatcher.close(0)
    texts, mails = _seen(slack, smtp)
    summaries = [t for t in texts if "Daily summary" in t]
    assert len(summaries) == 2, texts
    first, late = summaries
    assert "Daily summary 2026-12-03: P&L $10.00, 2 trades" in first
    assert "2026-12-02 18:00 to 2026-12-03 18:00" in first and "Sent late" not in first
    assert "win_rate:* 0.5" in first  # one of two round trips won
    assert "Daily summary 2026-12-04: P&L $0.00, 0 trades" in late
    assert "Sent late: the daemon was not running at 2026-12-04 18:00 UTC" in late
    for t in summaries:
        assert "severity: *info*" in t and "portfolio_drawdown" in t, t
        assert "hot_usd:* 10000.0" in t and "cold_usd:* 0.0" in t, t
    assert mails == []  # info: Slack only
