"""Fuzzed inputs (hypothesis): config values, scenario rows, order requests.

Property: never an unhandled crash, never an order from a malformed input, always a clear
error of the documented type.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradewarden.core.config import ConfigError, load_settings
from tradewarden.core.models import OrderRequest, Side
from tradewarden.risk.checks import BookView, CheckLimits, pre_trade_check
from tradewarden.risk.reasons import DenyReason
from tradewarden.risk.state import TradingState
from tradewarden.trading.market_data import ScenarioError, load_scenario

VARS = [
    "MAX_DAILY_LOSS_PCT",
    "MAX_CONSECUTIVE_LOSSES",
    "BINANCE_TESTNET",
    "FINAL_HAMMER",
    "TRADEWARDEN_MODE",
    "TRADEWARDEN_SYMBOLS",
    "TRADEWARDEN_BLOCKED_ZONES",
    "TRADEWARDEN_BOTS",
    "TRADEWARDEN_METRICS_PORT",
    "HOT_WALLET_PERCENTAGE",
    "TRADEWARDEN_SMTP_TLS",
    "TRADEWARDEN_BINANCE_BASE_URL",
    "BINANCE_CREDENTIAL_KEY",
]
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(var=st.sampled_from(VARS), value=st.text(max_size=40))
def test_config_values_never_crash(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    if "\x00" in value:
        return  # the OS refuses NUL in environment values
    with monkeypatch.context() as m:
        m.setenv(var, value)
        try:
            s = load_settings()
        except ConfigError as exc:
            assert var in str(exc)
            return
    # if accepted, the value is sane
    assert 0 < s.max_daily_loss_pct <= 1 and s.max_consecutive_losses > 0
    assert set(s.blocked_zones) <= {1, 2, 3, 4, 5}


row_value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=12),
)


@FUZZ
@given(rows=st.lists(st.lists(row_value, min_size=0, max_size=9), max_size=6))
def test_scenario_rows_never_crash(tmp_path: Path, rows: list[list[str]]) -> None:
    import csv

    f = tmp_path / "s.csv"
    with open(f, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "symbol", "open", "high", "low", "close", "volume"])
        for r in rows:
            w.writerow(r)
    try:
        ticks = load_scenario(f)
    except ScenarioError:
        return
    for t in ticks:  # anything accepted is a well-formed candle
        assert all(math.isfinite(x) and x > 0 for x in (t.open, t.high, t.low, t.close))
        assert t.low <= min(t.open, t.close) <= max(t.open, t.close) <= t.high


@FUZZ
@given(raw=st.binary(max_size=300))
def test_scenario_bytes_never_crash(tmp_path: Path, raw: bytes) -> None:
    f = tmp_path / "b.csv"
    f.write_bytes(b"ts,symbol,open,high,low,close,volume\n" + raw)
    try:
        load_scenario(f)
    except ScenarioError:
        pass


LIMITS = CheckLimits(1e6, 10, 100, frozenset({"BTCUSDT"}), frozenset({4, 5}))
num = st.floats(allow_nan=True, allow_infinity=True)


@FUZZ
@given(
    qty=num,
    price=st.one_of(st.none(), num),
    free=num,
    side=st.sampled_from(list(Side)),
    zone=st.one_of(st.none(), st.integers(-3, 9)),
)
def test_malformed_orders_are_never_approved(qty, price, free, side, zone) -> None:
    req = OrderRequest(bot="b", symbol="BTCUSDT", side=side, qty=qty, zone=zone)
    book = BookView(free={"USDT": free, "BTC": free})
    reason = pre_trade_check(
        req,
        price=price,
        state=TradingState.ACTIVE,
        bot_state=TradingState.ACTIVE,
        limits=LIMITS,
        book=book,
        now=0.0,
    )
    bad = (
        not (math.isfinite(qty) and qty > 0)
        or price is None
        or not (math.isfinite(price) and price > 0)
    )
    if bad:
        assert isinstance(reason, DenyReason)
    if reason is None:
        assert qty * price <= 1e6 and (zone not in (4, 5))
