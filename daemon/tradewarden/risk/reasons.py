"""Why an order was refused. Every refusal carries one of these, never a bare False."""

from __future__ import annotations

from enum import StrEnum


class DenyReason(StrEnum):
    HALTED = "halted"
    BOT_HALTED = "bot_halted"
    REDUCING_ONLY = "reducing_only"
    SYMBOL_NOT_ALLOWED = "symbol_not_allowed"
    MAX_NOTIONAL = "max_notional"
    MAX_OPEN_ORDERS = "max_open_orders"
    MAX_ORDER_RATE = "max_order_rate"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    VOLATILITY_ZONE = "volatility_zone"
    UNKNOWN_ORDER_OUTSTANDING = "unknown_order_outstanding"
    INVALID_ORDER = "invalid_order"
    NO_PRICE = "no_price"
    MAX_LEVERAGE = "max_leverage"  # futures: position notional above max leverage x equity
    REDUCE_ONLY_INVALID = "reduce_only_invalid"  # reduceOnly on spot or on an increase
