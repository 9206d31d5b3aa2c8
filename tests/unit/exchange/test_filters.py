"""Symbol filters: rounding onto the exchange grid and refusals with a reason code."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradewarden.core.models import OrderType, Side
from tradewarden.exchange.errors import FilterReject, FilterRejectedError
from tradewarden.exchange.filters import SymbolFilters, filters_from_exchange_info, plain

INFO = {
    "symbol": "BTCUSDT",
    "status": "TRADING",
    "baseAsset": "BTC",
    "quoteAsset": "USDT",
    "filters": [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.01000000",
            "maxPrice": "1000000.00000000",
            "tickSize": "0.01000000",
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": "0.00001000",
            "maxQty": "9000.00000000",
            "stepSize": "0.00001000",
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": "5.00000000",
            "applyMinToMarket": True,
            "maxNotional": "9000000.00000000",
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
    ],
}
F = SymbolFilters.from_symbol_info(INFO)


def test_parsed_from_exchange_info() -> None:
    assert F.tick == Decimal("0.01") and F.step == Decimal("0.00001")
    assert F.min_notional == Decimal(5) and F.base_asset == "BTC"
    assert filters_from_exchange_info({"symbols": [INFO]})["BTCUSDT"] == F


def test_qty_rounds_down_to_the_step() -> None:
    p = F.prepare(Side.BUY, OrderType.MARKET, 0.0012345678, None, reference_price=30000.0)
    assert p.qty_text == "0.00123"
    assert p.price is None


def test_limit_price_rounds_in_the_safe_direction() -> None:
    buy = F.prepare(Side.BUY, OrderType.LIMIT, 0.001, 29999.999)
    sell = F.prepare(Side.SELL, OrderType.LIMIT, 0.001, 30000.001)
    assert buy.price_text == "29999.99"  # a buy never pays more than asked
    assert sell.price_text == "30000.01"  # a sell never sells for less


def test_numbers_never_use_exponent_notation() -> None:
    assert plain(Decimal("1E-5")) == "0.00001"
    assert plain(Decimal("30000.00000000")) == "30000"
    p = F.prepare(Side.BUY, OrderType.LIMIT, 0.00017, 30000)
    assert "E" not in p.qty_text.upper() and p.qty_text == "0.00017"


@pytest.mark.parametrize(
    ("side", "kind", "qty", "price", "ref", "reason"),
    [
        (Side.BUY, OrderType.MARKET, 0.0001, None, 30000.0, FilterReject.MIN_NOTIONAL),
        (Side.BUY, OrderType.LIMIT, 0.0001, 30000.0, None, FilterReject.MIN_NOTIONAL),
        (Side.BUY, OrderType.MARKET, 0.000009, None, 30000.0, FilterReject.MIN_QTY),
        (Side.BUY, OrderType.MARKET, 9001.0, None, 30000.0, FilterReject.MAX_QTY),
        (Side.BUY, OrderType.LIMIT, 1.0, 0.001, None, FilterReject.MIN_PRICE),
        (Side.BUY, OrderType.LIMIT, 1.0, 2_000_000.0, None, FilterReject.MAX_PRICE),
        (Side.BUY, OrderType.LIMIT, 1000.0, 9999.0, None, FilterReject.MAX_NOTIONAL),
        (Side.BUY, OrderType.MARKET, 0.01, None, None, FilterReject.NO_REFERENCE_PRICE),
    ],
)
def test_refusals_carry_their_reason(side, kind, qty, price, ref, reason) -> None:
    with pytest.raises(FilterRejectedError) as info:
        F.prepare(side, kind, qty, price, reference_price=ref)
    assert info.value.reason is reason
    assert info.value.code == -1013


def test_max_notional_does_not_apply_to_market_unless_told() -> None:
    p = F.prepare(Side.BUY, OrderType.MARKET, 1000.0, None, reference_price=9999.0)
    assert p.notional == Decimal("9999000")


def test_a_symbol_that_does_not_trade_is_refused() -> None:
    halted = SymbolFilters.from_symbol_info({**INFO, "status": "BREAK"})
    with pytest.raises(FilterRejectedError) as info:
        halted.prepare(Side.BUY, OrderType.LIMIT, 1.0, 100.0)
    assert info.value.reason is FilterReject.NOT_TRADING


def test_legacy_min_notional_filter_is_honoured() -> None:
    info = {
        **INFO,
        "filters": [
            *INFO["filters"][:2],
            {"filterType": "MIN_NOTIONAL", "minNotional": "10.0", "applyToMarket": False},
        ],
    }
    f = SymbolFilters.from_symbol_info(info)
    with pytest.raises(FilterRejectedError):
        f.prepare(Side.BUY, OrderType.LIMIT, 0.0003, 30000.0)  # 9 < 10
    assert f.prepare(Side.BUY, OrderType.MARKET, 0.0003, None, reference_price=30000.0)


def test_grid_starts_at_min_qty_when_it_is_off_the_step() -> None:
    info = {
        **INFO,
        "filters": [
            INFO["filters"][0],
            {"filterType": "LOT_SIZE", "minQty": "0.015", "maxQty": "100", "stepSize": "0.01"},
        ],
    }
    f = SymbolFilters.from_symbol_info(info)
    assert f.prepare(Side.BUY, OrderType.LIMIT, 0.0399, 1000.0).qty_text == "0.035"


@given(
    qty=st.decimals(min_value="0.06", max_value="50", places=9),
    price=st.decimals(min_value="100", max_value="100000", places=4),
    side=st.sampled_from([Side.BUY, Side.SELL]),
)
def test_prepared_numbers_are_always_on_the_grid(qty, price, side) -> None:
    p = F.prepare(side, OrderType.LIMIT, qty, price)
    assert p.qty <= qty and qty - p.qty < F.step
    assert (p.qty - F.min_qty) % F.step == 0
    assert p.price is not None and abs(p.price - price) < F.tick
    assert (p.price - F.min_price) % F.tick == 0
    assert p.price <= price if side is Side.BUY else p.price >= price
