"""Attack (issue 20 review), end to end: the real futures run's `daemon_started` entry is
read as a futures run of its bot, so the same bot's history is refused as a spot record
(`futures_runs`), and passes `spot_runs` as a futures one. Before the fix, the one trades
table let either market's run count as the other's record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.daemon.helpers import tw

pytestmark = pytest.mark.usefixtures("clean_env")
BOT = {"TRADEWARDEN_SYMBOLS": "BTCUSDT", "TRADEWARDEN_BOTS": "short-btc:BTCUSDT:ma_cross_ls"}


def criteria(report: dict) -> dict[str, tuple[float, bool]]:
    return {c["name"]: (c["value"], c["passed"]) for c in report["criteria"]}


def test_a_futures_run_is_no_spot_record_and_no_spot_run(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run = tw(state, "run", "--scenario", "futures", "--no-console")
    assert run.returncode == 0, run.stderr
    futures = tw(state, "paper-report", "--json", TRADEWARDEN_FUTURES_ENABLED="true", **BOT)
    (fut,) = json.loads(futures.stdout)
    assert criteria(fut)["spot_runs"] == (0, True)
    assert criteria(fut)["audit_pruned"] == (0, True)
    spot = tw(state, "paper-report", "--json", **BOT)
    assert spot.returncode == 1, spot.stderr
    (rep,) = json.loads(spot.stdout)
    assert rep["market"] == "spot" and criteria(rep)["futures_runs"] == (1, False)
    promote = tw(state, "promote", "--bot", "short-btc", TRADEWARDEN_PROMOTION_KEY="k" * 32, **BOT)
    assert promote.returncode == 1 and "futures_runs" in promote.stderr
