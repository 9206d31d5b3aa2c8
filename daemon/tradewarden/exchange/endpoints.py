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

# USD-M futures (fapi.binance.com: its own weight pool, `ratelimit.process_limiter("fapi")`)
F_PING = Endpoint("GET /fapi/v1/ping", 1)
F_TIME = Endpoint("GET /fapi/v1/time", 1)
F_EXCHANGE_INFO = Endpoint("GET /fapi/v1/exchangeInfo", 1)
F_NEW_ORDER = Endpoint("POST /fapi/v1/order", 0, orders=1)
F_GET_ORDER = Endpoint("GET /fapi/v1/order", 1)
F_CANCEL_ORDER = Endpoint("DELETE /fapi/v1/order", 1)
F_CANCEL_ALL = Endpoint("DELETE /fapi/v1/allOpenOrders", 1)
F_OPEN_ORDERS_SYMBOL = Endpoint("GET /fapi/v1/openOrders", 1)
F_OPEN_ORDERS_ALL = Endpoint("GET /fapi/v1/openOrders", 40)
F_USER_TRADES = Endpoint("GET /fapi/v1/userTrades", 5)
F_ACCOUNT = Endpoint("GET /fapi/v2/account", 5)
F_POSITION_RISK = Endpoint("GET /fapi/v3/positionRisk", 5)
F_POSITION_RISK_V2 = Endpoint("GET /fapi/v2/positionRisk", 5)
F_POSITION_MODE = Endpoint("GET /fapi/v1/positionSide/dual", 30)
F_LEVERAGE = Endpoint("POST /fapi/v1/leverage", 1)
F_MARGIN_TYPE = Endpoint("POST /fapi/v1/marginType", 1)
F_PREMIUM_INDEX = Endpoint("GET /fapi/v1/premiumIndex", 1)
F_TICKER_PRICE = Endpoint("GET /fapi/v1/ticker/price", 1)
F_KLINES = Endpoint("GET /fapi/v1/klines", 5)
F_INCOME = Endpoint("GET /fapi/v1/income", 30)
F_FORCE_ORDERS = Endpoint("GET /fapi/v1/forceOrders", 50)
