"""USD-M futures risk (issue 20): the isolated position model against the fake exchange's
liquidation formula, the leverage limit, the liquidation-distance breaker (reduce, then
flatten; on unrealised P&L), the Z4-Z5 rule in both directions and REDUCING = reduceOnly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tradewarden.core.config import ConfigError, load_settings
from tradewarden.core.models import Fill, OrderRequest, Side
from tradewarden.risk.breakers import LiquidationDistance, Observation, Reading
from tradewarden.risk.breakers.base import EQUITY, MARK, PORTFOLIO
from tradewarden.risk.engine import RiskEngine
from tradewarden.risk.futures import FuturesPosition, bracket, liquidation_distance_pct
from tradewarden.risk.reasons import DenyReason
from tradewarden.risk.state import TradingState
from tradewarden.state.store import Store
from tradewarden.trading.bot_ledger import Ledger

T0 = 1_767_571_200.0


def fake_liquidation_price(qty: str, entry: str, iw: str, mmr: str, cum: str) -> Decimal:
    """tests/fakes/binance/futures.py (branch h-fakefutures), `liquidation_price` for an
    isolated position, transcribed in Decimal as the fake computes it."""
    q, side = abs(Decimal(qty)), (1 if Decimal(qty) > 0 else -1)
    m, c, e, w = Decimal(mmr), Decimal(cum), Decimal(entry), Decimal(iw)
    return (w + c - side * q * e) / (q * m - side * q)


@pytest.mark.parametrize(
    ("qty", "entry", "leverage"),
    [(0.1, 30_000.0, 3), (-0.1, 30_000.0, 3), (-0.5, 42_000.0, 5), (-2.0, 42_000.0, 2)],
    ids=["long-3x", "short-3x", "short-5x", "short-2x-tier2"],
)
def test_liquidation_price_matches_the_fakes_formula(
    qty: float, entry: float, leverage: int
) -> None:
    margin = abs(qty) * entry / leverage  # the fake's isolated wallet after entering
    pos = FuturesPosition("BTCUSDT", leverage, qty=qty, entry=entry, margin=margin)
    b = bracket("BTCUSDT", abs(qty) * entry)
    want = fake_liquidation_price(str(qty), str(entry), repr(margin), str(b.mmr), repr(b.cum))
    got = pos.liquidation_price(entry)
    assert got == pytest.approx(float(want), rel=1e-12)
    # the fake's rule: liquidated when wallet + unrealised P&L <= maintenance margin
    worse, better = (got * 1.0001, got * 0.9999) if qty < 0 else (got * 0.9999, got * 1.0001)
    assert pos.liquidated_at(worse)
    assert not pos.liquidated_at(better)


def test_liquidation_prices_of_a_3x_short_and_long() -> None:
    short = FuturesPosition("BTCUSDT", 3, qty=-0.1, entry=30_000.0, margin=1_000.0)
    long = FuturesPosition("BTCUSDT", 3, qty=0.1, entry=30_000.0, margin=1_000.0)
    assert short.liquidation_price(30_000.0) == pytest.approx(30_000 * (4 / 3) / 1.004)
    assert long.liquidation_price(30_000.0) == pytest.approx(30_000 * (2 / 3) / 0.996)
    assert FuturesPosition("BTCUSDT", 3).liquidation_price(30_000.0) == 0.0  # flat
    assert liquidation_distance_pct(30_000.0, 0.0) is None


def test_the_second_bracket_carries_the_fakes_cum() -> None:
    b = bracket("BTCUSDT", 100_000.0)
    assert (b.mmr, b.cum) == (0.005, pytest.approx(50_000 * (0.005 - 0.004)))


# --- settings ---------------------------------------------------------------------------------
@pytest.fixture()
def settings(tmp_path: Path, clean_env: None):
    return load_settings(
        state_dir=tmp_path,
        futures_enabled=True,
        bots=("f1:BTCUSDT:ma_cross_ls",),
        symbols=("BTCUSDT",),
    )


@pytest.fixture()
def store(settings):
    s = Store(settings.db_path)
    yield s
    s.close()


def test_defaults_and_refusals_name_the_setting(tmp_path: Path, clean_env: None) -> None:
    s = load_settings(state_dir=tmp_path)
    assert (s.futures_enabled, s.futures_max_leverage, s.futures_leverage) == (False, 3, 2)
    assert (s.liq_distance_reduce_pct, s.liq_distance_flatten_pct) == (0.30, 0.15)
    with pytest.raises(ConfigError, match="TRADEWARDEN_LIQ_DISTANCE_FLATTEN_PCT"):
        load_settings(state_dir=tmp_path, liq_distance_flatten_pct=0.3)
    with pytest.raises(ConfigError, match="TRADEWARDEN_FUTURES_LEVERAGE"):
        load_settings(state_dir=tmp_path, futures_leverage=4)
    # testnet and live: the /fapi gateway, one bot per symbol (one-way mode: one position a
    # symbol); live futures are the live gate's decision, not refused by the settings
    for mode in ("testnet", "live"):
        assert load_settings(state_dir=tmp_path, futures_enabled=True, mode=mode).futures_enabled
        with pytest.raises(ConfigError, match="one futures bot per symbol"):
            load_settings(
                state_dir=tmp_path,
                futures_enabled=True,
                mode=mode,
                symbols=["BTCUSDT"],
                bots=["a:BTCUSDT:ma_cross_ls", "b:BTCUSDT:ma_cross"],
            )


def engine(settings, store) -> RiskEngine:
    risk = RiskEngine(settings, store, ["f1"])
    risk.set_balances({"USDT": 10_000.0})
    risk.observe(Observation(EQUITY, "f1", T0, equity=10_000.0))
    return risk


def req(side: Side, qty: float, **kw) -> OrderRequest:
    return OrderRequest(bot="f1", symbol="BTCUSDT", side=side, qty=qty, price=40_000.0, **kw)


# --- leverage ---------------------------------------------------------------------------------
def test_leverage_above_the_limit_is_refused_before_the_order(settings, store) -> None:
    risk = engine(settings, store)
    # 3x of 10,000 USDT equity = 30,000 notional = 0.75 BTC at 40,000
    assert risk.check(req(Side.SELL, 0.04), 40_000.0) is None
    risk.set_position("f1", "BTCUSDT", -0.71)
    assert risk.check(req(Side.SELL, 0.04), 40_000.0) is None  # 0.75 BTC: exactly 3x
    assert risk.check(req(Side.SELL, 0.041), 40_000.0) is DenyReason.MAX_LEVERAGE
    risk.set_position("f1", "BTCUSDT", 0.72)
    assert risk.check(req(Side.BUY, 0.04), 40_000.0) is DenyReason.MAX_LEVERAGE
    risk.observe(Observation(EQUITY, "f1", T0 + 60, equity=12_000.0))  # equity up: room
    assert risk.check(req(Side.BUY, 0.04), 40_000.0) is None


def test_a_reduce_only_close_is_never_refused_for_its_size(settings, store) -> None:
    risk = engine(settings, store)
    # a short grown past TRADEWARDEN_MAX_NOTIONAL_PER_ORDER (2,000) in value: its cover
    # (reduceOnly) goes; the same size without reduceOnly, or as an entry, does not
    risk.set_position("f1", "BTCUSDT", -0.06)  # 2,400 USDT at 40,000
    assert risk.check(req(Side.BUY, 0.06, reduce_only=True), 40_000.0) is None
    assert risk.check(req(Side.BUY, 0.06), 40_000.0) is DenyReason.MAX_NOTIONAL
    risk.set_position("f1", "BTCUSDT", 0.0)
    assert risk.check(req(Side.SELL, 0.06), 40_000.0) is DenyReason.MAX_NOTIONAL


def test_unknown_equity_refuses_a_futures_entry(settings, store) -> None:
    risk = RiskEngine(settings, store, ["f1"])
    risk.set_balances({"USDT": 10_000.0})
    assert risk.check(req(Side.SELL, 0.01), 40_000.0) is DenyReason.MAX_LEVERAGE


# --- the volatility rule, both directions -----------------------------------------------------
@pytest.mark.parametrize("zone", [4, 5], ids=["Z4", "Z5"])
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL], ids=["long", "short"])
def test_z4_z5_blocks_directional_entries_long_and_short(settings, store, zone, side) -> None:
    risk = engine(settings, store)
    assert risk.check(req(side, 0.01, zone=zone), 40_000.0) is DenyReason.VOLATILITY_ZONE
    assert risk.check(req(side, 0.01, zone=3), 40_000.0) is None


def test_a_reduce_only_cover_passes_in_z5(settings, store) -> None:
    risk = engine(settings, store)
    risk.set_position("f1", "BTCUSDT", -0.02)
    cover = req(Side.BUY, 0.02, zone=5, directional=False, reduce_only=True)
    assert risk.check(cover, 40_000.0) is None


# --- REDUCING: reduceOnly orders only ---------------------------------------------------------
def test_reducing_allows_only_reduce_only_orders(settings, store) -> None:
    risk = engine(settings, store)
    risk.set_position("f1", "BTCUSDT", -0.02)
    risk.halt("test", "tester", reducing=True)
    assert risk.state is TradingState.REDUCING
    assert risk.check(req(Side.BUY, 0.01, reduce_only=True), 40_000.0) is None
    # the same cover without the flag, an add to the short, a reduceOnly that would add
    assert risk.check(req(Side.BUY, 0.01), 40_000.0) is DenyReason.REDUCING_ONLY
    assert risk.check(req(Side.SELL, 0.01), 40_000.0) is DenyReason.REDUCING_ONLY
    bad = req(Side.SELL, 0.01, reduce_only=True)
    assert risk.check(bad, 40_000.0) is DenyReason.REDUCE_ONLY_INVALID
    # more than the position is not "reducing"
    assert risk.check(req(Side.BUY, 0.03, reduce_only=True), 40_000.0) is (
        DenyReason.REDUCE_ONLY_INVALID
    )


def test_reduce_only_is_refused_on_a_spot_bot(tmp_path: Path, clean_env: None) -> None:
    s = load_settings(state_dir=tmp_path, bots=("s1:BTCUSDT:ma_cross",), symbols=("BTCUSDT",))
    st = Store(s.db_path)
    try:
        risk = RiskEngine(s, st, ["s1"])
        risk.set_balances({"USDT": 10_000.0, "BTC": 1.0})
        risk.set_position("s1", "BTCUSDT", 0.5)
        sell = OrderRequest(bot="s1", symbol="BTCUSDT", side=Side.SELL, qty=0.04, price=40_000.0)
        assert risk.check(sell, 40_000.0) is None  # spot unchanged
        flagged = OrderRequest(
            bot="s1", symbol="BTCUSDT", side=Side.SELL, qty=0.04, price=40_000.0, reduce_only=True
        )
        assert risk.check(flagged, 40_000.0) is DenyReason.REDUCE_ONLY_INVALID
    finally:
        st.close()


# --- the liquidation-distance breaker ---------------------------------------------------------
def mark(price: float, liquidation: float, ts: float = T0) -> Observation:
    return Observation(MARK, "f1", ts, price=price, liquidation=liquidation)


def test_breaker_levels() -> None:
    b = LiquidationDistance(0.15, 0.30)
    far, near, close = b.observe(mark(100.0, 140.0)), b.observe(mark(100.0, 129.0)), None
    assert far is not None and not far.reducing and not far.tripped
    assert near is not None and near.reducing and not near.tripped
    close = b.observe(mark(100.0, 114.0))
    assert close is not None and close.tripped
    assert b.observe(mark(100.0, 0.0)) is None and b.readings() == []  # flat


def test_engine_reduces_once_then_flattens_on_the_trip(settings, store) -> None:
    risk = engine(settings, store)
    reduced: list[Reading] = []
    risk.hooks.on_reduce.append(reduced.append)
    assert risk.observe(mark(100.0, 140.0)) == [] and risk.state is TradingState.ACTIVE
    risk.observe(mark(100.0, 128.0))
    risk.observe(mark(101.0, 128.0))
    assert risk.state is TradingState.REDUCING and len(reduced) == 1
    assert any(h.set_by == "breaker liquidation_distance" for h in risk._halts())
    trips = risk.observe(mark(112.0, 128.0))
    assert [t.breaker for t in trips] == ["liquidation_distance"]
    assert trips[0].emergency and risk.state is TradingState.HALTED
    # sticky: a restart reads the trip and the REDUCING halt back
    again = RiskEngine(settings, store, ["f1"])
    assert again.state is TradingState.HALTED


def test_breakers_keep_their_thresholds_on_equity_with_unrealised_futures_pnl(
    settings, store
) -> None:
    """A short's unrealised loss lowers the equity the daily-loss breaker reads."""
    ledger = Ledger([("f1", "BTCUSDT")], 10_000.0)
    ledger.apply(Fill("t1", "c1", "f1", "BTCUSDT", Side.SELL, 0.5, 40_000.0, 10.0, T0))
    risk = RiskEngine(settings, store, ["f1"])
    risk.observe(Observation(EQUITY, PORTFOLIO, T0, equity=ledger.portfolio_equity()))
    ledger.mark("BTCUSDT", 40_800.0)  # +2%: the short is 400 USDT under water
    eq = ledger.portfolio_equity()
    assert eq == pytest.approx(10_000.0 - 10.0 - 400.0)
    assert risk.observe(Observation(EQUITY, PORTFOLIO, T0 + 60, equity=eq)) == []
    ledger.mark("BTCUSDT", 41_000.0)  # 500 + 10 fees = 5.1% of the day-start equity
    trips = risk.observe(Observation(EQUITY, PORTFOLIO, T0 + 120, equity=ledger.portfolio_equity()))
    assert [t.breaker for t in trips] == ["daily_loss"]
