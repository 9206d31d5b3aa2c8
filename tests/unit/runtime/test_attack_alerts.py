"""Adversarial review of issue 17's alerts (items 1-2): attacks that worked, kept as tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.builders import paper_daemon
from tradewarden.runtime.critical import CRITICAL_ERRORS
from tradewarden.runtime.self_alerts import AuditWatch

pytestmark = pytest.mark.usefixtures("clean_env")


def test_attack_unverifiable_audit_chain_keeps_trading(tmp_path: Path) -> None:
    """An audit file that cannot be read (replaced by a directory, unreadable, ...) made
    the verification thread raise: it logged a warning and tried again, forever. Nothing
    halted, nothing paged; the daemon traded on with a chain nobody could vouch for. The
    failure must reach the main loop as a system critical error (emergency stop)."""
    daemon, _ = paper_daemon(tmp_path / "state")
    try:
        now = [0.0]
        watch = AuditWatch(daemon, 10.0, clock=lambda: now[0])
        (daemon.audit.dir / "audit-2000-01-01.jsonl").mkdir()  # an old day, unreadable
        now[0] = 11.0
        watch()  # starts the check
        assert watch._thread is not None
        watch._thread.join(30)
        with pytest.raises(CRITICAL_ERRORS) as err:
            watch()  # the main loop's next housekeeping
        assert "could not be verified" in str(err.value)
        # a check failing at shutdown (the store closed) is no emergency
        daemon.stopping.set()
        now[0] = 100.0
        watch()
        watch._thread.join(30)
        watch()
    finally:
        daemon.close()


def test_attack_daily_summary_lost_for_years_after_a_clock_jump(tmp_path: Path) -> None:
    """The host clock jumps a year ahead (a bad NTP source, a wrong RTC after a reboot) and
    is corrected: the summary sent meanwhile persisted a scheduled time a year in the
    future, and every daily summary until then was silently skipped."""
    from datetime import UTC, datetime

    from tradewarden.runtime.self_alerts import SUMMARY_KEY, DailySummary

    daemon, notifier = paper_daemon(tmp_path / "state", daily_summary_utc="18:00")
    try:
        t0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC).timestamp()
        now = [t0]
        summary = DailySummary(daemon, clock=lambda: now[0])
        now[0] = t0 + 365 * 86_400.0  # the clock a year ahead for a while
        summary()
        now[0] = t0 + 3600  # corrected: 13:00
        summary()
        now[0] = t0 + 6.5 * 3600  # 18:30 the same (real) day: today's summary is due
        summary()
        sent = [ctx for kind, ctx in notifier.sent if kind == "daily_summary"]
        assert [s["date"] for s in sent][-1] == "2026-12-03", sent
        # and a restart after the correction does not carry the future schedule either
        assert float(daemon.store.get(SUMMARY_KEY)) <= now[0]
    finally:
        daemon.close()


def test_attack_tail_tamper_swallows_the_audit_chain_alert(tmp_path: Path) -> None:
    """A line of garbage appended to the audit log: the verification finds the break, but
    recording the halt (an audit entry on a tail that cannot be read) raised first, so the
    security alert ``audit_chain_broken`` was never queued (only the generic system-error
    emergency stop was, which does not say the record was tampered with)."""
    daemon, notifier = paper_daemon(tmp_path / "state")
    try:
        now = [0.0]
        watch = AuditWatch(daemon, 10.0, clock=lambda: now[0])
        (last,) = sorted(daemon.audit.dir.glob("audit-*.jsonl"))[-1:]
        with last.open("ab") as fh:
            fh.write(b'{"seq": "forged"}\n')
        now[0] = 11.0
        watch()
        assert watch._thread is not None
        watch._thread.join(30)
        try:
            watch()
        except CRITICAL_ERRORS:
            pass  # the runner's emergency stop follows; the security alert must be out
        assert "audit_chain_broken" in [k for k, _ in notifier.sent], notifier.sent
        assert daemon.risk.state.label == "halted"
    finally:
        try:
            daemon.close()
        except CRITICAL_ERRORS:
            pass  # its final audit entry cannot go on the tampered tail


def test_attack_audit_rotation_failure_is_no_critical_error(tmp_path: Path) -> None:
    """At midnight UTC the audit log opens the new day's file. When that fails (disk or
    inodes full, the path taken) the OSError was not an `AuditError`: no emergency stop
    (open orders left on the exchange, nothing flattened, no system-error page), the
    daemon just crashed out of its loop."""
    daemon, _ = paper_daemon(tmp_path / "state")
    try:
        (daemon.audit.dir / "audit-2099-01-01.jsonl").mkdir()  # the new day's file: taken
        tomorrow = datetime(2099, 1, 1, 0, 0, 1, tzinfo=UTC).timestamp()
        with pytest.raises(CRITICAL_ERRORS):
            daemon.audit.append("probe", {}, ts=tomorrow)
    finally:
        try:
            daemon.close()
        except CRITICAL_ERRORS:
            pass
