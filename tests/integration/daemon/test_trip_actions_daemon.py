"""Issue 13, defects 3 and 12 with the real paper daemon (`tradewarden run`, subprocesses).

12: on the shipped scenario trend-btc trips consecutive_losses; by default that stops
    trend-eth too (no fill of it after the trip), TRADEWARDEN_TRIP_SCOPE=bot keeps it
    trading, and TRADEWARDEN_CLOSE_POSITIONS_ON_TRIP=true closes its open position.
3:  the daily-loss baseline survives daemon restarts within one UTC day.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.builders import flat_prices
from tests.integration.daemon.helpers import db, status, tw

pytestmark = pytest.mark.usefixtures("clean_env")


def audit_events(state: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for f in sorted((state / "audit").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]


def after_first_trip(state: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first breaker_tripped audit entry and every entry after it."""
    events = audit_events(state)
    i = next(i for i, e in enumerate(events) if e["event"] == "breaker_tripped")
    return events[i], events[i + 1 :]


def position(state: Path, bot: str) -> float:
    with db(state) as con:
        rows = con.execute("SELECT side, qty FROM fills WHERE bot=?", (bot,)).fetchall()
    return sum(r["qty"] if r["side"] == "BUY" else -r["qty"] for r in rows)


def test_a_bot_breaker_trip_stops_every_bot_in_the_paper_daemon(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run = tw(state, "run", "--no-console")
    assert run.returncode == 0, run.stderr
    trip, later = after_first_trip(state)
    assert (trip["data"]["breaker"], trip["data"]["bot"]) == ("consecutive_losses", "trend-btc")
    # trend-eth is stopped at the same moment: it never trades again in this run
    assert [e for e in later if e["event"] == "fill" and e["data"]["bot"] == "trend-eth"] == []
    st = status(state)
    assert st["state"] == "halted"
    assert st["bots"] == {"trend-btc": "halted", "trend-eth": "halted"}
    assert [(t["breaker"], t["bot"]) for t in st["trips"]] == [("consecutive_losses", "trend-btc")]
    # by default no position is closed on a bot breaker's trip (trend-eth holds one here)
    assert trip["data"]["positions_closed"] == []
    assert position(state, "trend-eth") > 0
    # the state change itself is audited once, by the engine's one state-changed event
    changes = [e["data"] for e in audit_events(state) if e["event"] == "trading_state_changed"]
    tripped = [c for c in changes if c["cause"] == "trip"]
    assert len(tripped) == 1, changes
    assert (tripped[0]["previous"], tripped[0]["state"]) == ("active", "halted")
    assert "consecutive" in tripped[0]["reason"]


def test_trip_scope_bot_lets_the_other_bot_trade_on(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run = tw(state, "run", "--no-console", TRADEWARDEN_TRIP_SCOPE="bot")
    assert run.returncode == 0, run.stderr
    _trip, later = after_first_trip(state)
    assert [e for e in later if e["event"] == "fill" and e["data"]["bot"] == "trend-eth"]
    # `tradewarden status` without the setting reads the trip as the daemon applied it
    st = status(state)
    assert st["bots"]["trend-btc"] == "halted" and st["state"] == "active"


def test_close_positions_on_trip_closes_the_other_bots_position(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run = tw(state, "run", "--no-console", TRADEWARDEN_CLOSE_POSITIONS_ON_TRIP="true")
    assert run.returncode == 0, run.stderr
    trip, later = after_first_trip(state)
    assert trip["data"]["bot"] == "trend-btc"
    assert "trend-eth:ETHUSDT" in trip["data"]["positions_closed"]
    # the closing sale is booked (and audited) before the trip's own entry; nothing after
    assert [e for e in later if e["event"] == "fill" and e["data"]["bot"] == "trend-eth"] == []
    assert position(state, "trend-eth") == pytest.approx(0.0, abs=1e-9)
    assert position(state, "trend-btc") == pytest.approx(0.0, abs=1e-9)
    assert status(state)["state"] == "halted"
    assert tw(state, "audit", "verify").returncode == 0


def test_the_daily_loss_baseline_survives_daemon_restarts(tmp_path: Path) -> None:
    """10,000 -> 9,600, restart, -> 9,200 within one UTC day: -8% of the day's start trips
    the 5% breaker (it read 4.17% when the baseline restarted with the process).

    Paper equity is the starting balance plus booked P&L; with no trades, each run's
    TRADEWARDEN_STARTING_BALANCE_USDT stands in for the equity the account has by then.
    """
    state = tmp_path / "state"
    runs = [(4, "10000"), (8, "9600"), (12, "9200")]
    for hours, equity in runs:
        run = tw(
            state,
            "run",
            "--no-console",
            TRADEWARDEN_SCENARIO=str(flat_prices(tmp_path / f"{hours}h.csv", hours)),
            TRADEWARDEN_STARTING_BALANCE_USDT=equity,
        )
        assert run.returncode == 0, run.stderr
        with db(state) as con:
            assert con.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 0
        if hours == 8:
            assert status(state)["trips"] == []  # -4%: below the limit
    st = status(state)
    assert [(t["breaker"], t["bot"]) for t in st["trips"]] == [("daily_loss", "portfolio")]
    assert st["trips"][0]["value"] == pytest.approx(0.08)
    assert st["state"] == "halted"
