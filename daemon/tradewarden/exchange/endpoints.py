"""The endpoints the gateway uses and what each costs (Binance spot request weights)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str  # "METHOD /path", the label for latency metrics
    weight: int
    orders: int = 0  # counts against the ORDERS limits
    sapi: bool = False  # /sapi has its own weight pool and headers


PING = Endpoint("GET /api/v3/ping", 1)
TIME = Endpoint("GET /api/v3/time", 1)
EXCHANGE_INFO = Endpoint("GET /api/v3/exchangeInfo", 20)
ACCOUNT = Endpoint("GET /api/v3/account", 20)
NEW_ORDER = Endpoint("POST /api/v3/order", 1, orders=1)
GET_ORDER = Endpoint("GET /api/v3/order", 4)
CANCEL_ORDER = Endpoint("DELETE /api/v3/order", 1)
CANCEL_OPEN_ORDERS = Endpoint("DELETE /api/v3/openOrders", 1)
OPEN_ORDERS_SYMBOL = Endpoint("GET /api/v3/openOrders", 6)
OPEN_ORDERS_ALL = Endpoint("GET /api/v3/openOrders", 80)
MY_TRADES_ORDER = Endpoint("GET /api/v3/myTrades", 5)
KLINES = Endpoint("GET /api/v3/klines", 2)
TICKER_PRICE = Endpoint("GET /api/v3/ticker/price", 2)
API_RESTRICTIONS = Endpoint("GET /sapi/v1/account/apiRestrictions", 1, sapi=True)
