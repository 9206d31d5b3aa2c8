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
    # USD-M futures bots (TRADEWARDEN_FUTURES_ENABLED): may go short, reduceOnly rules, a
    # leverage limit on their position notional over their equity, margin = notional /
    # futures_leverage instead of the spot balance check
    futures_bots: frozenset[str] = frozenset()
    max_leverage: float = 0.0
    futures_leverage: float = 1.0


@dataclass(slots=True)
class BookView:
    """What the checks need to know about the account, maintained by the order gate."""

    open_orders: int = 0
    free: dict[str, float] = field(default_factory=dict)  # asset -> free balance
    positions: dict[tuple[str, str], float] = field(default_factory=dict)  # (bot, symbol) -> qty
    recent_orders: deque[float] = field(default_factory=deque)  # submit timestamps (s)
    unknown_symbols: set[str] = field(default_factory=set)  # orders with unknown outcome
    equity: dict[str, float] = field(default_factory=dict)  # bot -> last equity mark


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
    futures = req.bot in limits.futures_bots
    if req.reduce_only and not (futures and reducing):
        # reduceOnly is a futures flag, and only on an order that shrinks the position
        return DenyReason.REDUCE_ONLY_INVALID
    if futures:
        # a futures order reduces only when it says so (the exchange then refuses one that
        # would add exposure, -2022): REDUCING allows reduceOnly orders only
        reducing = reducing and req.reduce_only
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
    # a futures reduceOnly order cannot add exposure: the close of a position grown in
    # value (a short in a squeeze) is never refused for its size
    if notional > limits.max_notional and not (futures and reducing):
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
    if futures:
        return _futures_margin(req, position, notional, ref, reducing, quote, limits, book)
    if req.side is Side.BUY:
        if book.free.get(quote, 0.0) < notional:
            return DenyReason.INSUFFICIENT_BALANCE
    elif book.free.get(base, 0.0) < req.qty:
        return DenyReason.INSUFFICIENT_BALANCE
    return None


def _futures_margin(
    req: OrderRequest,
    position: float,
    notional: float,
    ref: float,
    reducing: bool,
    quote: str,
    limits: CheckLimits,
    book: BookView,
) -> DenyReason | None:
    """A futures order: a reduceOnly one needs no margin; any other must keep the bot's
    position notional within max_leverage x its equity (unknown equity: refused) and find
    its initial margin (notional / leverage) free."""
    if reducing:
        return None
    signed = req.qty if req.side is Side.BUY else -req.qty
    equity = book.equity.get(req.bot, 0.0)
    exposure = abs(position + signed) * ref
    if not (equity > 0 and exposure <= limits.max_leverage * equity + 1e-9):
        return DenyReason.MAX_LEVERAGE
    if book.free.get(quote, 0.0) < notional / limits.futures_leverage:
        return DenyReason.INSUFFICIENT_BALANCE
    return None
