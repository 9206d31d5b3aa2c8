"""The shipped futures scenario through the CLI (issue 20): a 3x short meets a squeeze; the
liquidation-distance breaker reduces (REDUCING, a reduceOnly order), then flattens
(emergency stop, a reduceOnly MARKET close) before the paper model would liquidate, in the
console and in the audit log, which verifies. The spot demo is unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.daemon.helpers import tw

pytestmark = pytest.mark.usefixtures("clean_env")

# the spot demo's console (normalised below) as the commit before futures printed it
# (4f9958b): `tradewarden run` without --scenario must print the same run. A deliberate
# change of the spot demo updates this file.
SPOT_DEMO = Path(__file__).with_name("spot_demo_console.txt")


def audit_entries(state: Path) -> list[dict[str, Any]]:
    out = []
    for f in sorted((state / "audit").glob("audit-*.jsonl")):
        out.extend(json.loads(line) for line in f.read_text().splitlines() if line.strip())
    return out


def test_the_squeeze_scenario_reduces_then_flattens_with_no_liquidation(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = tw(state, "run", "--scenario", "futures", "--console")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Futures (paper, USD-M, one-way, isolated): leverage 3x" in out
    assert "SELL short-btc" in out and "go short" in out
    assert "FUNDING short-btc received" in out
    reduce_at = out.index("REDUCING: liquidation_distance on short-btc")
    reduce_order = out.index("reduceOnly MARKET: liquidation_distance reduce")
    trip = out.index("EMERGENCY STOP: liquidation_distance on short-btc")
    flatten_order = out.index("reduceOnly MARKET: emergency flatten")
    assert reduce_at < reduce_order < flatten_order < trip
    assert "1 position(s) closed" in out
    assert "Futures: no liquidation" in out
    assert "LIQUIDATED" not in out

    entries = audit_entries(state)
    events = [e["event"] for e in entries]
    assert "futures_liquidation" not in events
    [summary] = [e["data"] for e in entries if e["event"] == "futures_run_summary"]
    assert summary["liquidations"] == [] and summary["positions"] == {"short-btc": 0.0}
    assert summary["funding_total"] > 0  # a short receives at a positive rate
    [reduce] = [e["data"] for e in entries if e["event"] == "futures_reduce"]
    assert reduce["reduce_only"] and reduce["accepted"] and 0.15 < reduce["distance"] <= 0.30
    [tripped] = [e["data"] for e in entries if e["event"] == "breaker_tripped"]
    assert tripped["breaker"] == "liquidation_distance" and tripped["emergency"]
    assert tripped["positions_closed"] == ["short-btc:BTCUSDT"] and tripped["value"] <= 0.15
    states = [e["data"]["state"] for e in entries if e["event"] == "trading_state_changed"]
    assert states[-2:] == ["reducing", "halted"]
    intents = [e["data"] for e in entries if e["event"] == "order_intent"]
    # the bot only ever goes short: every BUY reduces the short and must be reduceOnly
    assert [(i["side"], i["reduce_only"]) for i in intents] == [
        ("SELL", False),
        ("BUY", True),
        ("BUY", True),
    ]
    verify = tw(state, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_an_unknown_scenario_exits_2(tmp_path: Path) -> None:
    proc = tw(tmp_path / "state", "run", "--scenario", "margin-call", "--no-console")
    assert proc.returncode == 2
    assert "--scenario" in proc.stdout + proc.stderr


def normalise(text: str, state: Path) -> str:
    keep = []
    for line in text.splitlines():
        # alerts print from the dispatcher's thread (their place in the output varies); the
        # metrics port, the state dir and the start time differ per run
        if "ALERT [" in line or line.startswith(("Metrics:", "State dir:", "State, audit log")):
            continue
        keep.append(line.replace(str(state), "<state>"))
    return "\n".join(keep)


def test_the_spot_demo_is_unchanged(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = tw(state, "run", "--console")
    assert proc.returncode == 0, proc.stderr
    assert "Futures" not in proc.stdout and "liquidation_distance" not in proc.stdout
    assert normalise(proc.stdout, state) + "\n" == SPOT_DEMO.read_text()


def test_a_bad_futures_setting_exits_2_naming_it(tmp_path: Path) -> None:
    proc = tw(
        tmp_path / "state",
        "run",
        "--scenario",
        "futures",
        "--no-console",
        TRADEWARDEN_LIQ_DISTANCE_FLATTEN_PCT="0.4",
    )
    assert proc.returncode == 2
    assert "TRADEWARDEN_LIQ_DISTANCE_FLATTEN_PCT" in proc.stderr + proc.stdout
    prod = tw(
        tmp_path / "state",
        "run",
        "--no-console",
        TRADEWARDEN_PROFILE="prod",
        TRADEWARDEN_FUTURES_MAX_LEVERAGE="10",
    )
    assert prod.returncode == 2
    assert "TRADEWARDEN_FUTURES_MAX_LEVERAGE" in prod.stderr + prod.stdout
