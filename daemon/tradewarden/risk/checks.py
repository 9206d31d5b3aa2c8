"""Pre-trade checks. Pure and fast: the data they need is kept in memory by the engine."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from tradewarden.core.models import OrderRequest, Side
from tradewarden.risk.reasons import DenyReason
from tradewarden.risk.state import TradingState


@dataclass(frozen=True, slots=True)
class CheckLimits:
    max_notional: float
    max_open_orders: int
    max_orders_per_minute: int
    symbols: frozenset[str]
    blocked_zones: frozenset[int]


@dataclass(slots=True)
class BookView:
    """What the checks need to know about the account, maintained by the order gate."""

    open_orders: int = 0
    free: dict[str, float] = field(default_factory=dict)  # asset -> free balance
    positions: dict[tuple[str, str], float] = field(default_factory=dict)  # (bot, symbol) -> qty
    recent_orders: deque[float] = field(default_factory=deque)  # submit timestamps (s)
    unknown_symbols: set[str] = field(default_factory=set)  # orders with unknown outcome


def is_reducing(req: OrderRequest, position_qty: float) -> bool:
    """True when the order only shrinks the bot's position toward zero (spot, long/short)."""
    if position_qty > 0:
        return req.side is Side.SELL and req.qty <= position_qty + 1e-12
    if position_qty < 0:
        return req.side is Side.BUY and req.qty <= -position_qty + 1e-12
    return False


def split_symbol(symbol: str) -> tuple[str, str]:
    for quote in ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol, "USDT"


def pre_trade_check(
    req: OrderRequest,
    *,
    price: float | None,
    state: TradingState,
    bot_state: TradingState,
    limits: CheckLimits,
    book: BookView,
    now: float,
) -> DenyReason | None:
    """Return None when the order may go, else the first reason it may not."""
    if state is TradingState.HALTED:
        return DenyReason.HALTED
    if bot_state is TradingState.HALTED:
        return DenyReason.BOT_HALTED
    if not (req.qty > 0 and math.isfinite(req.qty)):
        return DenyReason.INVALID_ORDER
    position = book.positions.get((req.bot, req.symbol), 0.0)
    reducing = is_reducing(req, position)
    if (state is TradingState.REDUCING or bot_state is TradingState.REDUCING) and not reducing:
        return DenyReason.REDUCING_ONLY
    if req.symbol not in limits.symbols:
        return DenyReason.SYMBOL_NOT_ALLOWED
    if req.symbol in book.unknown_symbols:
        return DenyReason.UNKNOWN_ORDER_OUTSTANDING
    ref = req.price if req.price is not None else price
    if ref is None or not (ref > 0 and math.isfinite(ref)):
        return DenyReason.NO_PRICE
    notional = req.qty * ref
    if notional > limits.max_notional:
        return DenyReason.MAX_NOTIONAL
    if book.open_orders >= limits.max_open_orders:
        return DenyReason.MAX_OPEN_ORDERS
    recent = book.recent_orders
    while recent and recent[0] <= now - 60.0:
        recent.popleft()
    if len(recent) >= limits.max_orders_per_minute:
        return DenyReason.MAX_ORDER_RATE
    if (
        not reducing
        and req.directional
        and req.zone is not None
        and req.zone in limits.blocked_zones
    ):
        return DenyReason.VOLATILITY_ZONE
    base, quote = split_symbol(req.symbol)
    if req.side is Side.BUY:
        if book.free.get(quote, 0.0) < notional:
            return DenyReason.INSUFFICIENT_BALANCE
    elif book.free.get(base, 0.0) < req.qty:
        return DenyReason.INSUFFICIENT_BALANCE
    return None
