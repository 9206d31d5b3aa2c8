"""Pre-trade checks: each denial has its reason code; states gate what may go."""

from __future__ import annotations

from collections import deque

import pytest

from tradewarden.core.models import OrderRequest, Side
from tradewarden.risk.checks import BookView, CheckLimits, is_reducing, pre_trade_check
from tradewarden.risk.reasons import DenyReason
from tradewarden.risk.state import TradingState

LIMITS = CheckLimits(
    max_notional=1_000.0,
    max_open_orders=2,
    max_orders_per_minute=3,
    symbols=frozenset({"BTCUSDT"}),
    blocked_zones=frozenset({4, 5}),
)


def book(**kw) -> BookView:
    b = BookView(free={"USDT": 5_000.0, "BTC": 1.0})
    for k, v in kw.items():
        setattr(b, k, v)
    return b


def req(side: Side = Side.BUY, qty: float = 0.01, **kw) -> OrderRequest:
    return OrderRequest(bot="b1", symbol=kw.pop("symbol", "BTCUSDT"), side=side, qty=qty, **kw)


def check(
    r: OrderRequest,
    *,
    state=TradingState.ACTIVE,
    bot_state=TradingState.ACTIVE,
    b: BookView | None = None,
    price: float | None = 50_000.0,
    now: float = 1_000.0,
):
    return pre_trade_check(
        r, price=price, state=state, bot_state=bot_state, limits=LIMITS, book=b or book(), now=now
    )


def test_a_plain_order_passes() -> None:
    assert check(req()) is None


@pytest.mark.parametrize(
    ("request_", "kw", "reason"),
    [
        (req(), {"state": TradingState.HALTED}, DenyReason.HALTED),
        (req(), {"bot_state": TradingState.HALTED}, DenyReason.BOT_HALTED),
        (req(), {"state": TradingState.REDUCING}, DenyReason.REDUCING_ONLY),
        (req(symbol="DOGEUSDT"), {}, DenyReason.SYMBOL_NOT_ALLOWED),
        (req(qty=0.03), {}, DenyReason.MAX_NOTIONAL),  # 1,500 > 1,000
        (req(), {"b": book(open_orders=2)}, DenyReason.MAX_OPEN_ORDERS),
        (req(), {"b": book(recent_orders=deque([990.0, 995.0, 999.0]))}, DenyReason.MAX_ORDER_RATE),
        (req(zone=4), {}, DenyReason.VOLATILITY_ZONE),
        (req(zone=5), {}, DenyReason.VOLATILITY_ZONE),
        (req(), {"b": book(free={"USDT": 10.0})}, DenyReason.INSUFFICIENT_BALANCE),
        (req(Side.SELL, 0.01), {"b": book(free={"BTC": 0.001})}, DenyReason.INSUFFICIENT_BALANCE),
        (req(qty=float("nan")), {}, DenyReason.INVALID_ORDER),
        (req(qty=-1.0), {}, DenyReason.INVALID_ORDER),
        (req(), {"price": None}, DenyReason.NO_PRICE),
        (req(), {"b": book(unknown_symbols={"BTCUSDT"})}, DenyReason.UNKNOWN_ORDER_OUTSTANDING),
    ],
)
def test_each_denial_has_its_reason(request_, kw, reason) -> None:
    assert check(request_, **kw) is reason


def test_notional_at_limit_passes_and_just_above_fails() -> None:
    assert check(req(qty=0.02)) is None  # exactly 1,000
    assert check(req(qty=0.0200001)) is DenyReason.MAX_NOTIONAL


def test_rate_window_slides() -> None:
    b = book(recent_orders=deque([930.0, 995.0, 999.0]))
    assert check(req(), b=b, now=1_000.0) is None  # 930 fell out of the 60 s window


def test_zone_rule_only_blocks_directional_entries() -> None:
    assert check(req(zone=3)) is None
    assert check(req(zone=5, directional=False)) is None
    # an exit (reducing) in Z5 is allowed
    b = book(positions={("b1", "BTCUSDT"): 0.01})
    assert check(req(Side.SELL, 0.01, zone=5), b=b) is None


def test_reducing_admits_only_reducing_orders() -> None:
    long = book(positions={("b1", "BTCUSDT"): 0.01})
    assert check(req(Side.SELL, 0.01), state=TradingState.REDUCING, b=long) is None
    assert check(req(Side.SELL, 0.005), bot_state=TradingState.REDUCING, b=long) is None
    # adding, or selling more than held (flipping short), is not reducing
    assert (
        check(req(Side.BUY, 0.001), state=TradingState.REDUCING, b=long) is DenyReason.REDUCING_ONLY
    )
    assert (
        check(req(Side.SELL, 0.02), state=TradingState.REDUCING, b=long) is DenyReason.REDUCING_ONLY
    )
    flat = book()
    assert (
        check(req(Side.SELL, 0.01), state=TradingState.REDUCING, b=flat) is DenyReason.REDUCING_ONLY
    )


def test_halted_blocks_even_reducing_orders() -> None:
    long = book(positions={("b1", "BTCUSDT"): 0.01})
    assert check(req(Side.SELL, 0.01), state=TradingState.HALTED, b=long) is DenyReason.HALTED


def test_is_reducing_for_shorts() -> None:
    assert is_reducing(req(Side.BUY, 0.5), -1.0)
    assert not is_reducing(req(Side.BUY, 1.5), -1.0)
