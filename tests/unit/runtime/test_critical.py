"""Issue 17: a system critical error (critical.py) is an emergency stop: HALTED (recorded),
open orders cancelled, positions closed when orders can still be recorded, and the critical
system_error and emergency_stop alerts. In process, on a paper daemon that holds positions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.builders import LogNotifier, paper_daemon
from tradewarden.audit.chain import AuditError
from tradewarden.risk.state import TradingState
from tradewarden.runtime import critical
from tradewarden.runtime.daemon import Daemon, load_ticks

pytestmark = pytest.mark.usefixtures("clean_env")


def holding_daemon(tmp_path: Path) -> tuple[Daemon, LogNotifier]:
    d, notifier = paper_daemon(tmp_path / "state")
    settings = d.settings
    for tick in load_ticks(settings):
        d.trader.on_tick(tick)
        if any(d.ledger.tradable(b.name) > 0 for b in d.bots):
            break
    assert d.trader.positions_left(), "the scenario never opened a position"
    return d, notifier


def kinds(n: LogNotifier) -> dict[str, dict]:
    return {k: ctx for k, ctx in n.sent}


def test_a_database_error_halts_flattens_and_pages(tmp_path: Path) -> None:
    d, n = holding_daemon(tmp_path)
    try:
        done = critical.emergency_stop(d, sqlite3.DatabaseError("database disk image is malformed"))
        assert d.risk.state is TradingState.HALTED
        assert any(h["actor"] == critical.ACTOR for h in d.store.active_halts())
        assert d.trader.positions_left() == {}, done  # sold: orders could still be recorded
        sent = kinds(n)
        assert sent["system_error"]["component"] == "state database"
        stop = sent["emergency_stop"]
        assert stop["trigger"] == "system critical error in state database"
        assert stop["positions_closed"] == done["closed"] != []
        ok, reasons = d.readiness()
        assert not ok and any("system critical error" in r for r in reasons)
    finally:
        d.close()


def test_an_audit_failure_halts_and_says_the_flatten_could_not_go_out(tmp_path: Path) -> None:
    d, n = holding_daemon(tmp_path)
    held = d.trader.positions_left()
    (current,) = sorted(d.settings.audit_dir.glob("audit-*.jsonl"))[-1:]
    with current.open("a") as f:
        f.write("{torn line\n")
    with pytest.raises(AuditError) as err:
        d.audit.append("probe", {})
    done = critical.emergency_stop(d, err.value)
    assert d.risk.state is TradingState.HALTED
    assert d.trader.positions_left() == held  # no order goes out unaudited
    assert any("NOT closed" in a for a in done["actions"]), done
    sent = kinds(n)
    assert sent["system_error"]["component"] == "audit log"
    assert "NOT closed" in sent["emergency_stop"]["reason"]
    d.store.close()
    d.lock.release()
