"""Plain data types shared by the risk engine, the brokers and the store."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class OrderStatus(StrEnum):
    PENDING = "PENDING"  # intent recorded locally, request not yet answered
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"  # request sent, outcome unknown: must be resolved by a query

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES


OPEN_STATUSES = frozenset(
    {OrderStatus.PENDING, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN}
)

CLIENT_ORDER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


@dataclass(slots=True, frozen=True)
class OrderRequest:
    """What a bot asks for. `client_order_id` is ours and is recorded before sending."""

    bot: str
    symbol: str
    side: Side
    qty: float
    order_type: OrderType = OrderType.MARKET
    price: float | None = None  # limit price; for MARKET the reference price for notional
    client_order_id: str = ""
    zone: int | None = None  # volatility zone Z1..Z5 of the signal, if the strategy tags it
    directional: bool = True  # an entry that adds exposure in a direction
    # futures: the order may only shrink the position (set on every exposure-reducing
    # futures order; the risk engine and the exchange refuse it otherwise)
    reduce_only: bool = False


@dataclass(slots=True)
class Order:
    client_order_id: str
    bot: str
    symbol: str
    side: Side
    order_type: OrderType
    qty: float
    price: float | None
    status: OrderStatus
    filled_qty: float = 0.0
    avg_price: float = 0.0
    exchange_order_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(slots=True, frozen=True)
class Fill:
    """One execution. `fee` is the commission valued in the quote asset (what P&L uses);
    `commission` / `commission_asset` are what the exchange took and from which asset
    (Binance takes it from the asset received, or from BNB); `fee_base` is the part taken
    from the base asset, which the position does not hold (a BUY of 1 BTC with a 0.001 BTC
    commission holds 0.999 BTC)."""

    trade_id: str
    client_order_id: str
    bot: str
    symbol: str
    side: Side
    qty: float
    price: float
    fee: float
    ts: float
    fee_base: float = 0.0
    commission: float = 0.0
    commission_asset: str = ""

    @property
    def position_change(self) -> float:
        """What the fill does to the base asset held: +qty for a BUY, -qty for a SELL,
        less any commission taken from the base asset."""
        return (self.qty if self.side is Side.BUY else -self.qty) - self.fee_base


@dataclass(slots=True, frozen=True)
class Tick:
    """One market event: a candle close (or a trade) for a symbol."""

    ts: float
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float
