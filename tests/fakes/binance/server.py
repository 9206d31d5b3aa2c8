"""A fake Binance spot server (aiohttp; REST and WebSocket) python-binance cannot tell apart.

Endpoints (weights as Binance charges them; ``S`` = signed, HMAC-SHA256):

=======  ====================================  =========================================
method   path                                  weight
=======  ====================================  =========================================
GET      /api/v3/ping                          1
GET      /api/v3/time                          1
GET      /api/v3/exchangeInfo                  20
GET      /api/v3/klines                        2
GET      /api/v3/avgPrice                      2
GET      /api/v3/ticker/price                  2 with ``symbol``, 4 without
GET      /api/v3/depth                         5 (limit <= 100), 25, 50, 250
GET      /api/v3/account                    S  20
GET      /api/v3/account/commission         S  20
POST     /api/v3/order                      S  1 (+1 order on the ORDERS limits)
POST     /api/v3/order/test                 S  1 (validated, never booked)
GET      /api/v3/order                      S  4
DELETE   /api/v3/order                      S  1
GET      /api/v3/openOrders                 S  6 with ``symbol``, 80 without
DELETE   /api/v3/openOrders                 S  1
GET      /api/v3/myTrades                   S  20 (5 with ``orderId``)
GET      /api/v3/rateLimit/order            S  40
GET      /sapi/v1/account/apiRestrictions   S  1 (own /sapi IP pool, 12000/min)
GET      /ws-api/v3                         WebSocket API: 2 to connect; ``ping``/``time`` 1,
                                               ``session.status`` 2, ``userDataStream.subscribe
                                               .signature`` (HMAC, sorted params) 2,
                                               ``userDataStream.unsubscribe`` 2
GET      /stream?streams=<a>/<b>            combined market streams ``{"stream", "data"}``:
                                               ``<symbol>@bookTicker``, ``<symbol>@kline_<iv>``
GET      /ws/<stream>                       one raw market stream
=======  ====================================  =========================================

The WebSocket side (user data events from the engine as it books: executionReport,
outboundAccountPosition, balanceUpdate; bookTicker and klines from the same data as REST;
pings every 20 s, 24 h lifetime on the server's clocks, 300 new connections per 5 min per
IP; the stream faults drop/silence/duplicate/reorder/lose/terminate/shutdown): see `streams`.
USDⓈ-M futures (``/fapi/...``, own weight pool, ``/_control/futures_*``): see `futures`.

Auth: ``X-MBX-APIKEY`` missing -> -2014 (401), unknown -> -2015 (401), a key whose
restrictions lack ``enableSpotAndMarginTrading`` gets -2015 on order placement/cancel,
one with ``ipRestrict`` and an ``ips`` list gets -2015 from any other IP. The signature is
HMAC-SHA256 (hex) over *totalParams* = the raw query string followed by the raw body,
each without its ``signature=`` parameter, exactly as sent. Bad -> -1022; no timestamp or
signature -> -1102; ``recvWindow`` (default 5000) > 60000 -> -1131; timestamp 1000 ms or
more ahead of the server, or older than recvWindow -> -1021 (all HTTP 400).

Parameters: a signed request with a parameter the endpoint does not read gets -1104 "Not
all sent parameters were read; read 'N' parameter(s) but was sent 'M'." (errors.md); the
known parameters are the ones rest-api.md lists per endpoint.

Archived orders (errors.md -2026): GET order on an order CANCELED/EXPIRED with no executed
qty, closed more than ``archive_after_s`` ago (Binance: 90 days), answers -2026 "Order was
canceled or expired with no executed qty over 90 days ago and has been archived.".

Headers: every /api answer carries ``X-MBX-USED-WEIGHT-1M`` (this IP's weight in the
current minute), /sapi ones ``X-SAPI-USED-IP-WEIGHT-1M``; answers to ``POST
/api/v3/order`` (past auth) carry ``X-MBX-ORDER-COUNT-10S`` and ``X-MBX-ORDER-COUNT-1D``.
429/418 carry ``Retry-After`` (seconds). Rate-limit rules: see `limits`.

Control API (not rate limited, never faulted, JSON in and out; any method works)::

    POST /_control/reset                    everything back to the start (clock keeps running)
    POST /_control/fault         {"kind", "path"?, "method"?, "count"? (null=until cleared), ...}
    POST /_control/clear_faults             remove every fault
    GET  /_control/faults                   the active faults
    POST /_control/unban                    lift rate-limit bans and back-offs
    POST /_control/price         {"symbol", "price"}
    POST /_control/price_path    {"symbol", "prices": [...], "loop"?: false}
    POST /_control/step          {"n"?: 1}  advance every price path, match orders
    POST /_control/auto_step     {"interval_ms": N}  step every N ms of server time (0 = off)
    POST /_control/clock         {"manual"?: bool, "advance"?: seconds, "skew_ms"?: ms}
    POST /_control/advance_clock {"seconds"}
    POST /_control/limits        {"weight_limit"?, "orders_10s_limit"?, ..., "ban_after"?}
    POST /_control/add_key       {"api_key", "api_secret", "restrictions"?}
    POST /_control/remove_key    {"api_key"}
    POST /_control/set_balances  {"USDT": 100.0, ...}   (free amounts)
    POST /_control/foreign_order {"symbol", "side", "qty", "price"}  a LIMIT GTC not ours
    POST /_control/symbol_status {"symbol", "status"}  TRADING/HALT/BREAK/END_OF_DAY/CANCEL_ONLY
    POST /_control/archive_orders {"order_ids": [...]}  GET order answers -2026 from now on
    POST /_control/deposit       {"asset", "amount"}  free += amount; balanceUpdate on the streams
    POST /_control/withdraw      {"asset", "amount"}  free -= amount (not past 0); balanceUpdate
    POST /_control/stream_fault  {"kind", "stream"?: "user"|"market"|"any", "count"?}
                                 (clear_faults removes them too; kinds: see `streams`)
    GET  /_control/stream_stats             WebSocket connections, events sent, faults fired
    GET  /_control/orders | open_orders | trades | balances | stats | requests | time

e.g. ``curl -XPOST localhost:PORT/_control/fault -d '{"kind":"latency","ms":500,"count":3}'``.
Time: the server tells real time + skew (``/api/v3/time``, timestamp checks); the rate
limits, bans and auto-step count in a second clock that is manual in manual-clock mode
(see `limits.Clock`). Fault kinds: see `faults`. Matching and prices: see `matching`.
Every state change (a request, a control command, an auto-step) goes out on the WebSocket
streams before its answer (`streams.StreamHub.flush`); ``set_balances`` included
(outboundAccountPosition, no balanceUpdate).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.binance.faults import Fault, FaultSet, make_fault
from tests.fakes.binance.futures import FuturesExchange, futures_ws_handler
from tests.fakes.binance.limits import Clock, LimitConfig, Limited, Limiter, request_weight
from tests.fakes.binance.matching import (
    BNB_DISCOUNT,
    BinanceError,
    Exchange,
    Order,
    check_all_read,
    dec,
    fmt,
    mandatory,
    parse_int,
    random_client_id,
)
from tests.fakes.binance.streams import StreamConfig, StreamHub

# The two worlds. Binance's ("harsh") is the default; a test that needs the kind one (no fee,
# an infinitely deep book at one price) asks for it with ``kind=True``, or sets one part
# alone (``fee_rate=0``, ``book_levels=None``).
DEFAULT_KIND = False
WORLDS: dict[bool, dict[str, Any]] = {
    False: {"fee_rate": 0.001, "book_levels": 10},  # Binance: 0.1% spot fee, a finite book
    True: {"fee_rate": 0.0, "book_levels": None},
}


class _Unset:
    """The type of `UNSET`: an option not given (its world decides)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()

DEFAULT_API_KEY = "test-key"
DEFAULT_API_SECRET = "test-secret"  # noqa: S105 - a test fixture value
DEFAULT_SYMBOLS: dict[str, dict[str, Any]] = {
    "BTCUSDT": {
        "price": 30000.0,
        "tick": 0.01,
        "step": 0.00001,
        "min_qty": 0.00001,
        "max_qty": 9000.0,
        "min_notional": 5.0,
    },
    "ETHUSDT": {
        "price": 2000.0,
        "tick": 0.01,
        "step": 0.0001,
        "min_qty": 0.0001,
        "max_qty": 9000.0,
        "min_notional": 5.0,
    },
}
DEFAULT_BALANCES: dict[str, float] = {"USDT": 10000.0, "BTC": 0.0, "ETH": 0.0}

# What GET /sapi/v1/account/apiRestrictions answers for a key unless told otherwise:
# a trading key without withdrawal/transfer rights, restricted to an IP list.
DEFAULT_RESTRICTIONS: dict[str, Any] = {
    "ipRestrict": True,
    "enableReading": True,
    "enableWithdrawals": False,
    "enableInternalTransfer": False,
    "enableMargin": False,
    "enableFutures": False,
    "permitsUniversalTransfer": False,
    "enableVanillaOptions": False,
    "enableFixApiTrade": False,
    "enableFixReadOnly": False,
    "enableSpotAndMarginTrading": True,
    "enablePortfolioMarginTrading": False,
}

WAF_PAGE = (
    "<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1>"
    "</center><hr><center>CloudFront</center></body></html>"
)
UNAVAILABLE_PAGE = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
    "<h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)
UNKNOWN_STATUS_MSGS = {
    -1006: "An unexpected response was received from the message bus. Execution status unknown.",
    -1007: "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown.",
}
TICKER_KEY: web.AppKey[asyncio.Task[None]] = web.AppKey("ticker", asyncio.Task)
MSG_BAD_KEY = "Invalid API-key, IP, or permissions for action."
JSON_HEADERS = {"Content-Type": "application/json;charset=UTF-8"}


def key_fingerprint(api_key: str | None) -> str | None:
    """How the request log names a key: a SHA-256 prefix, never the key or its secret."""
    if not api_key:
        return None
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


@dataclass
class ApiKey:
    key: str
    secret: str
    restrictions: dict[str, Any]
    created_ms: int


@dataclass
class Ctx:
    """One request as the endpoint handlers see it."""

    method: str
    path: str
    params: dict[str, str]
    now: int  # server time (with skew) in ms
    ip: str
    key: ApiKey | None
    visible_after_ms: int = 0  # the late_visible fault: reads show the new order this late
    base: int = 0  # the limits clock


# rest-api.md: the parameters each signed endpoint reads (anything else: -1104)
SIGNED_COMMON = frozenset({"timestamp", "recvWindow", "signature"})
NEW_ORDER_PARAMS = SIGNED_COMMON | {
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
}


@dataclass(frozen=True)
class Route:
    fn: Callable[[Ctx], Any]
    signed: bool = False
    trade: bool = False  # needs enableSpotAndMarginTrading
    places_order: bool = False
    params: frozenset[str] | None = None  # what it reads (None: not checked)


class FakeBinanceServer:
    """All the state of the fake exchange plus its aiohttp application.

    Thread-safe: every state change happens under `lock`, whether it comes from an HTTP
    handler on the server's loop or from `control` called by a test thread.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        symbols: dict[str, dict[str, Any]] | None = None,
        balances: dict[str, float] | None = None,
        manual_clock: bool = False,
        limits: LimitConfig | None = None,
        kind: bool = DEFAULT_KIND,
        fee_rate: float = UNSET,
        bnb_fees: bool = False,
        bnb_price: float = 600.0,
        book_levels: int | None = UNSET,
        archive_after_s: float = 90 * 86_400,
        auto_step_ms: int | None = None,
        restrictions: dict[str, Any] | None = None,
        streams: StreamConfig | None = None,
        futures: dict[str, Any] | None = None,
    ) -> None:
        world = WORLDS[bool(kind)]
        self.lock = threading.RLock()
        self.clock = Clock(manual=manual_clock)
        self._init = {
            "api_key": api_key,
            "api_secret": api_secret,
            "symbols": dict(symbols if symbols is not None else DEFAULT_SYMBOLS),
            "balances": dict(balances if balances is not None else DEFAULT_BALANCES),
            "limits": limits or LimitConfig(),
            "kind": bool(kind),
            "fee_rate": world["fee_rate"] if fee_rate is UNSET else fee_rate,
            "bnb_fees": bnb_fees,
            "bnb_price": bnb_price,
            "book_levels": world["book_levels"] if book_levels is UNSET else book_levels,
            "archive_after_ms": int(archive_after_s * 1000),
            "auto_step_ms": auto_step_ms,
            "restrictions": restrictions,
            "futures": futures,
        }
        self._stopping: asyncio.Event | None = None
        self.streams: StreamHub | None = None
        self._reset()
        self.streams = StreamHub(self, streams or StreamConfig())
        self.streams.on_reset()
        self.routes: dict[tuple[str, str], Route] = {
            ("GET", "/api/v3/ping"): Route(self._ping),
            ("GET", "/api/v3/time"): Route(self._time),
            ("GET", "/api/v3/exchangeInfo"): Route(self._exchange_info),
            ("GET", "/api/v3/klines"): Route(self._klines),
            ("GET", "/api/v3/avgPrice"): Route(self._avg_price),
            ("GET", "/api/v3/ticker/price"): Route(self._ticker_price),
            ("GET", "/api/v3/depth"): Route(self._depth),
            ("GET", "/api/v3/account"): Route(
                self._account, signed=True, params=SIGNED_COMMON | {"omitZeroBalances"}
            ),
            ("GET", "/api/v3/account/commission"): Route(
                self._commission, signed=True, params=SIGNED_COMMON | {"symbol"}
            ),
            ("POST", "/api/v3/order"): Route(
                self._new_order, signed=True, trade=True, places_order=True, params=NEW_ORDER_PARAMS
            ),
            ("POST", "/api/v3/order/test"): Route(
                self._test_order,
                signed=True,
                trade=True,
                params=NEW_ORDER_PARAMS | {"computeCommissionRates"},
            ),
            ("GET", "/api/v3/order"): Route(
                self._get_order,
                signed=True,
                params=SIGNED_COMMON | {"symbol", "orderId", "origClientOrderId"},
            ),
            ("DELETE", "/api/v3/order"): Route(
                self._cancel_order,
                signed=True,
                trade=True,
                params=SIGNED_COMMON
                | {
                    "symbol",
                    "orderId",
                    "origClientOrderId",
                    "newClientOrderId",
                    "cancelRestrictions",
                },
            ),
            ("GET", "/api/v3/openOrders"): Route(
                self._open_orders, signed=True, params=SIGNED_COMMON | {"symbol"}
            ),
            ("DELETE", "/api/v3/openOrders"): Route(
                self._cancel_all, signed=True, trade=True, params=SIGNED_COMMON | {"symbol"}
            ),
            ("GET", "/api/v3/myTrades"): Route(
                self._my_trades,
                signed=True,
                params=SIGNED_COMMON
                | {"symbol", "orderId", "startTime", "endTime", "fromId", "limit"},
            ),
            ("GET", "/api/v3/rateLimit/order"): Route(
                self._order_rate, signed=True, params=SIGNED_COMMON
            ),
            ("GET", "/sapi/v1/account/apiRestrictions"): Route(self._api_restrictions, signed=True),
        }

    # ================================================================= state
    def _reset(self) -> None:
        with self.lock:
            init = self._init
            now = self.clock.now_ms()
            self.clock.skew_ms = 0.0
            self.limits: LimitConfig = LimitConfig(**vars(init["limits"]))
            self.limiter = Limiter(self.limits)
            self.exchange = Exchange(
                init["symbols"],
                init["balances"],
                fee_rate=init["fee_rate"],
                bnb_fees=init["bnb_fees"],
                bnb_price=init["bnb_price"],
                book_levels=init["book_levels"],
                archive_after_ms=init["archive_after_ms"],
                start_ms=now,
            )
            self.keys: dict[str, ApiKey] = {}
            self._add_key(init["api_key"], init["api_secret"], init["restrictions"])
            self.futures = FuturesExchange(self, init["futures"], now)
            self.faults = FaultSet()
            self.auto_step_ms: int | None = init["auto_step_ms"]
            self._next_auto_step = self.clock.base_ms() + (self.auto_step_ms or 0)
            self.log: list[dict[str, Any]] = []
            self.counters: dict[str, Any] = {
                "requests": 0,
                "status_429": 0,
                "status_418": 0,
                "dropped": 0,
                "requests_by_path": {},
                "requests_by_endpoint": {},
                "status_counts": {},
            }
            if self.streams is not None:
                self.streams.on_reset()

    def _add_key(self, key: str, secret: str, restrictions: dict[str, Any] | None) -> None:
        if not key or not secret:
            raise ValueError("api_key and api_secret must be non-empty")
        flags = dict(DEFAULT_RESTRICTIONS)
        flags.update(restrictions or {})
        self.keys[key] = ApiKey(key, secret, flags, self.clock.now_ms())

    def _catch_up_auto_steps(self) -> None:
        """Run the price-path steps that server time says are due (auto-step mode)."""
        if not self.auto_step_ms:
            return
        base = self.clock.base_ms()
        due = (base - self._next_auto_step) // self.auto_step_ms + 1
        if due <= 0:
            return
        # Past a long pause only the last 10000 steps matter (paths are shorter anyway).
        self.exchange.step(min(due, 10_000), self.clock.now_ms())
        self._next_auto_step += due * self.auto_step_ms

    # ================================================================= control
    def control(self, name: str, payload: dict[str, Any] | None = None) -> Any:
        """One control command (the ``/_control/<name>`` API); thread-safe. What it changed
        goes out on the streams before it returns."""
        with self.lock:
            try:
                return self._control(name, payload or {})
            finally:
                assert self.streams is not None
                self.streams.flush()

    def _control(self, name: str, p: dict[str, Any]) -> Any:
        assert self.streams is not None
        with self.lock:
            now = self.clock.now_ms()
            if name == "reset":
                self._reset()
                return {"ok": True}
            if name.startswith("futures_"):
                self._catch_up_auto_steps()
                return self.futures.control(name, p, now)
            if name == "fault":
                fault = make_fault(p)
                self.faults.add(fault)
                return fault.as_json()
            if name == "clear_faults":
                self.faults.clear()
                self.streams.clear_faults()
                return {"ok": True}
            if name == "stream_fault":
                return self.streams.add_fault(p).as_json()
            if name == "stream_stats":
                return self.streams.stats_json()
            if name in {"deposit", "withdraw"}:
                return self._deposit(p, now, sign=1 if name == "deposit" else -1)
            if name == "faults":
                return [f.as_json() for f in self.faults.faults]
            if name == "unban":
                self.limiter.lift_bans()
                return {"ok": True}
            if name == "price":
                self._catch_up_auto_steps()
                filled = self.exchange.set_price(p["symbol"], p["price"], now)
                return {"filled": [o.order_id for o in filled]}
            if name == "price_path":
                self._catch_up_auto_steps()
                filled = self.exchange.set_price_path(
                    p["symbol"], list(p["prices"]), now, bool(p.get("loop", False))
                )
                return {"filled": [o.order_id for o in filled]}
            if name == "step":
                self._catch_up_auto_steps()
                n = int(p.get("n", 1))
                if n < 0:
                    raise ValueError("n must be >= 0")
                filled = self.exchange.step(n, now)
                return {"filled": [o.order_id for o in filled], "prices": self._prices()}
            if name == "auto_step":
                ms = int(p.get("interval_ms") or 0)
                self.auto_step_ms = ms or None
                self._next_auto_step = self.clock.base_ms() + ms
                return {"interval_ms": ms}
            if name in {"clock", "advance_clock"}:
                if "manual" in p:
                    self.clock.set_manual(bool(p["manual"]))
                if "skew_ms" in p:
                    self.clock.skew_ms = float(p["skew_ms"])
                seconds = p.get("seconds", p.get("advance"))
                if seconds is not None:
                    self.clock.advance(float(seconds))
                self._catch_up_auto_steps()
                return self._time_json()
            if name == "time":
                return self._time_json()
            if name == "limits":
                for k, v in p.items():
                    if not hasattr(self.limits, k):
                        raise ValueError(f"unknown limit {k!r}")
                    setattr(self.limits, k, int(v))
                return vars(self.limits)
            if name == "add_key":
                self._add_key(p["api_key"], p["api_secret"], p.get("restrictions"))
                return {"ok": True, "api_key_fp": key_fingerprint(p["api_key"])}
            if name == "remove_key":
                self.keys.pop(p["api_key"], None)
                return {"ok": True}
            if name == "set_balances":
                for asset, amount in p.items():
                    self.exchange.set_balance(asset, amount)
                return self._balances_json()
            if name == "foreign_order":
                return self._foreign_order(p, now)
            if name == "symbol_status":
                self.exchange.set_status(str(p["symbol"]), str(p["status"]))
                return {"symbol": p["symbol"], "status": p["status"]}
            if name == "archive_orders":
                ids = [int(i) for i in p.get("order_ids", [])]
                for oid in ids:
                    order = self.exchange.orders.get(oid)
                    if order is None:
                        raise ValueError(f"no order {oid}")
                    if order.is_open:
                        raise ValueError(f"order {oid} is open; only closed orders are archived")
                    order.archived = True
                return {"archived": ids}
            if name == "orders":
                return [o.query_json() for o in self.exchange.orders.values()]
            if name == "open_orders":
                return [o.query_json() for o in self.exchange.open_orders()]
            if name == "trades":
                return [f.trade_json() for f in self.exchange.fills]
            if name == "balances":
                return self._balances_json()
            if name == "stats":
                return self._stats()
            if name == "requests":
                return [dict(e) for e in self.log]
        raise KeyError(f"unknown control command {name!r}")

    def _deposit(self, p: dict[str, Any], now: int, sign: int) -> dict[str, Any]:
        """A deposit/withdrawal: the free balance moves, ``balanceUpdate`` (then
        ``outboundAccountPosition``) goes out on the user data stream."""
        assert self.streams is not None
        asset, amount = str(p["asset"]), dec(p["amount"]) * sign
        if amount == 0:
            raise ValueError("amount must not be 0")
        ex = self.exchange
        free = ex.free.get(asset, dec(0))
        if free + amount < 0:
            raise ValueError(f"withdrawal of {-amount} {asset} exceeds the free {free}")
        ex.free[asset] = free + amount
        ex.locked.setdefault(asset, dec(0))
        ex.update_time = now
        self.streams.publish_user(
            {"e": "balanceUpdate", "E": now, "a": asset, "d": fmt(amount), "T": now}
        )
        return self._balances_json()

    def _time_json(self) -> dict[str, Any]:
        return {
            "serverTime": self.clock.now_ms(),
            "limitClockMs": self.clock.base_ms(),
            "manual": self.clock.manual,
            "skew_ms": self.clock.skew_ms,
        }

    def _prices(self) -> dict[str, str]:
        return {s: fmt(spec.price) for s, spec in self.exchange.symbols.items()}

    def _balances_json(self) -> dict[str, list[float]]:
        ex = self.exchange
        return {a: [float(ex.free[a]), float(ex.locked.get(a, 0))] for a in sorted(ex.free)}

    def _foreign_order(self, p: dict[str, Any], now: int) -> dict[str, Any]:
        req = {
            "symbol": str(p["symbol"]),
            "side": str(p["side"]).upper(),
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": format(dec(p["qty"]), "f"),
            "price": format(dec(p["price"]), "f"),
        }
        try:
            v = self.exchange.validate_order(req, now)
        except BinanceError as exc:
            raise ValueError(f"foreign order refused: {exc.code} {exc.msg}") from exc
        # Same account, so it uses up the account's order rate like any order.
        base = self.clock.base_ms()
        self.limiter.orders_10s.add(base, 1)
        self.limiter.orders_1d.add(base, 1)
        return self.exchange.place(v, now, foreign=True).query_json()

    def _stats(self) -> dict[str, Any]:
        base = self.clock.base_ms()
        c = self.counters
        return {
            "requests": c["requests"],
            "status_429": c["status_429"],
            "status_418": c["status_418"],
            "dropped": c["dropped"],
            "bans": self.limiter.bans_total,
            "weight_used_1m": self.limiter.total_weight_used(base),
            "orders_10s": self.limiter.orders_10s.current(base),
            "orders_1d": self.limiter.orders_1d.current(base),
            "requests_by_path": dict(c["requests_by_path"]),
            "requests_by_endpoint": dict(c["requests_by_endpoint"]),
            "status_counts": dict(c["status_counts"]),
            "faults_fired": dict(self.faults.fired),
        }

    def _record(
        self,
        method: str,
        path: str,
        status: int,
        api_key: str | None,
        *,
        weight: int = 0,
        fault: str | None = None,
        code: int | None = None,
    ) -> None:
        with self.lock:
            c = self.counters
            c["requests"] += 1
            c["requests_by_path"][path] = c["requests_by_path"].get(path, 0) + 1
            ep = f"{method} {path}"
            c["requests_by_endpoint"][ep] = c["requests_by_endpoint"].get(ep, 0) + 1
            c["status_counts"][str(status)] = c["status_counts"].get(str(status), 0) + 1
            if status == 429:
                c["status_429"] += 1
            elif status == 418:
                c["status_418"] += 1
            elif status == 0:
                c["dropped"] += 1
            self.log.append(
                {
                    "method": method,
                    "path": path,
                    "status": status,  # 0 = connection closed without an answer
                    "code": code,
                    "api_key_fp": key_fingerprint(api_key),
                    "ts": self.clock.now_ms(),
                    "weight": weight,
                    "fault": fault,
                }
            )
            if len(self.log) > 200_000:
                del self.log[:100_000]

    # ================================================================= HTTP
    def make_app(self) -> web.Application:
        assert self.streams is not None
        app = web.Application()
        app.router.add_route("*", "/_control/{name}", self._control_http)
        app.router.add_get("/ws-api/v3", self.streams.ws_api)
        app.router.add_get("/stream", self.streams.combined)
        app.router.add_get("/ws/{stream}", self.streams.raw)
        app.router.add_route("GET", "/fstream/{tail:.*}", futures_ws_handler(self))
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        assert self.streams is not None
        self._stopping = asyncio.Event()
        app[TICKER_KEY] = asyncio.get_running_loop().create_task(self._ticker())
        app.on_cleanup.append(self._on_cleanup)
        self.streams.start()

    async def _on_shutdown(self, app: web.Application) -> None:
        assert self.streams is not None
        await self.streams.stop()

    async def _on_cleanup(self, app: web.Application) -> None:
        app[TICKER_KEY].cancel()

    def wake_sleepers(self) -> None:
        """Release every hanging request (call on the server's loop before shutdown)."""
        if self._stopping is not None:
            self._stopping.set()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            if self.auto_step_ms:
                with self.lock:
                    self._catch_up_auto_steps()
                    assert self.streams is not None
                    self.streams.flush()

    async def _sleep(self, seconds: float) -> None:
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            pass

    async def _control_http(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        raw = await request.read()
        try:
            payload = json.loads(raw) if raw.strip() else {}
            if not isinstance(payload, dict):
                raise ValueError("the control body must be a JSON object")
            result = self.control(name, payload)
        except KeyError as exc:
            status = 404 if "unknown control" in str(exc) else 400
            return web.json_response({"error": str(exc)}, status=status)
        except (ValueError, TypeError, BinanceError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(result)

    @staticmethod
    def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(
            status=status,
            body=json.dumps(body, separators=(",", ":")).encode(),
            headers={**JSON_HEADERS, **(headers or {})},
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method.upper(), request.path
        raw_body = (await request.read()).decode("utf-8", "replace")
        raw_query = request.query_string
        ip = request.remote or "unknown"
        api_key = request.headers.get("X-MBX-APIKEY")
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(raw_body, keep_blank_values=True))
        with self.lock:
            faults = self.faults.take(method, path)
            unreachable = params.get("origClientOrderId") in self.faults.unreachable_orders
        if unreachable:
            self._record(method, path, 0, api_key, fault="drop_connection")
            return self._hang_up(request)
        by_kind: dict[str, Fault] = {}
        for f in faults:
            by_kind.setdefault(f.kind, f)
        latency = sum(float(f.params.get("ms", 1000)) for f in faults if f.kind == "latency")
        skew = sum(float(f.params.get("ms", 0)) for f in faults if f.kind == "clock_skew")
        if latency:
            await self._sleep(latency / 1000)

        if "drop_connection" in by_kind:
            self._record(method, path, 0, api_key, fault="drop_connection")
            return self._hang_up(request)
        if "maintenance" in by_kind:
            f = by_kind["maintenance"]
            status = int(f.params.get("status", 503))
            body = {
                "code": -1016,
                "msg": f.params.get("msg", "This service is no longer available."),
            }
            self._record(method, path, status, api_key, fault="maintenance", code=-1016)
            return self._json(status, body)
        if "ban" in by_kind:
            retry = int(by_kind["ban"].params.get("retry_after", 120))
            with self.lock:
                until = self.clock.now_ms() + retry * 1000
            body = {
                "code": -1003,
                "msg": f"Way too much request weight used; IP banned until {until}. "
                "Please use WebSocket Streams for live updates to avoid bans.",
            }
            self._record(method, path, 418, api_key, fault="ban", code=-1003)
            return self._json(418, body, {"Retry-After": str(retry)})
        if "reject" in by_kind:
            f = by_kind["reject"]
            status, code = int(f.params.get("status", 400)), int(f.params.get("code", -2010))
            msg = f.params.get("msg", "Account has insufficient balance for requested action.")
            self._record(method, path, status, api_key, fault="reject", code=code)
            return self._json(status, {"code": code, "msg": msg})
        if "waf_403" in by_kind:
            # rest-api.md: HTTP 403 = a WAF rule was violated; the page is not JSON
            self._record(method, path, 403, api_key, fault="waf_403")
            return web.Response(status=403, text=WAF_PAGE, content_type="text/html")

        late = by_kind.get("late_visible")
        visible_after_ms = int(float(late.params.get("seconds", 5)) * 1000) if late else 0
        status, body, headers, weight = self._process(
            method, path, raw_query, raw_body, ip, api_key, skew, visible_after_ms
        )
        code = body.get("code") if isinstance(body, dict) and status >= 400 else None

        hang = by_kind.get("timeout_after_accept")
        if hang is not None:
            if hang.params.get("queries") == "drop" and params.get("newClientOrderId"):
                with self.lock:
                    self.faults.unreachable_orders.add(params["newClientOrderId"])
            if hang.params.get("then", "drop") == "respond":
                await self._sleep(float(hang.params.get("ms", 60_000)) / 1000)
                self._record(
                    method, path, status, api_key, weight=weight, fault=hang.kind, code=code
                )
                return self._json(status, body, headers)
            self._record(method, path, 0, api_key, weight=weight, fault=hang.kind)
            await self._sleep(float(hang.params.get("ms", 60_000)) / 1000)
            return self._hang_up(request)
        html = by_kind.get("html_503_after_accept")
        if html is not None:
            # rest-api.md: a 5XX means execution status UNKNOWN - here the order IS booked
            self._record(method, path, 503, api_key, weight=weight, fault=html.kind)
            return web.Response(status=503, text=UNAVAILABLE_PAGE, content_type="text/html")
        coded = by_kind.get("code_after_accept")
        if coded is not None:
            # errors.md -1006 / -1007: "execution status unknown" - here the order IS booked
            c = int(coded.params.get("code", -1007))
            st = int(coded.params.get("status", 500))
            self._record(method, path, st, api_key, weight=weight, fault=coded.kind, code=c)
            return self._json(st, {"code": c, "msg": UNKNOWN_STATUS_MSGS[c]}, headers)
        err = by_kind.get("error_after_accept")
        if err is not None:
            st = int(err.params.get("status", 503))
            self._record(method, path, st, api_key, weight=weight, fault=err.kind)
            if "body" in err.params:
                return web.Response(status=st, text=str(err.params["body"]))
            if st == 503:
                return self._json(
                    st,
                    {
                        "code": -1000,
                        "msg": "Unknown error, please check your request or try again later.",
                    },
                    headers,
                )
            if st == 500:
                return self._json(
                    st,
                    {
                        "code": -1001,
                        "msg": "Internal error; unable to process your request. Please try again.",
                    },
                    headers,
                )
            return web.Response(
                status=st,
                text=f"<html><head><title>{st}</title></head><body>{st}</body></html>",
                content_type="text/html",
            )
        self._record(method, path, status, api_key, weight=weight, code=code)
        return self._json(status, body, headers)

    @staticmethod
    def _hang_up(request: web.Request) -> web.StreamResponse:
        """Close the TCP connection without writing a response.

        aiohttp then fails to write the returned response to the closed transport and
        drops it quietly ("premature client disconnection").
        """
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=204)

    def _process(
        self,
        method: str,
        path: str,
        raw_query: str,
        raw_body: str,
        ip: str,
        api_key: str | None,
        skew: float,
        visible_after_ms: int = 0,
    ) -> tuple[int, Any, dict[str, str], int]:
        """Limits, auth and the endpoint itself; returns (status, body, headers, weight)."""
        if path.startswith("/fapi/"):
            return self.futures.process(
                method, path, raw_query, raw_body, ip, api_key, skew, visible_after_ms
            )
        headers: dict[str, str] = {}
        sapi = path.startswith("/sapi/")
        weight = 0
        with self.lock:
            base = self.clock.base_ms()
            now = self.clock.now_ms() + int(skew)
            self._catch_up_auto_steps()
            charged = False
            try:
                self.limiter.check_ban(ip, base)
                params = self._params(raw_query, raw_body)
                weight = request_weight(method, path, params)
                charged = True
                self.limiter.charge(ip, base, weight, sapi=sapi)
                route = self.routes.get((method, path))
                if route is None:
                    if any(p == path for _, p in self.routes):
                        raise BinanceError(405, -1000, f"Method {method} not allowed on {path}.")
                    raise BinanceError(404, -1000, f"Unknown endpoint {method} {path}.")
                key = None
                if route.signed:
                    key = self._authenticate(route, raw_query, raw_body, params, api_key, ip, now)
                check_all_read(route.params, params)
                if route.places_order:
                    try:
                        self.limiter.charge_order(ip, base)
                    finally:
                        headers["X-MBX-ORDER-COUNT-10S"] = str(self.limiter.orders_10s.count)
                        headers["X-MBX-ORDER-COUNT-1D"] = str(self.limiter.orders_1d.count)
                try:
                    body = route.fn(Ctx(method, path, params, now, ip, key, visible_after_ms, base))
                finally:
                    assert self.streams is not None
                    self.streams.flush()  # what it booked goes out on the streams
                status = 200
            except Limited as exc:
                status, body = exc.status, {"code": exc.code, "msg": exc.msg}
                headers["Retry-After"] = str(exc.retry_after)
            except BinanceError as exc:
                status, body = exc.status, exc.body()
            if charged and status != 418:
                if sapi:
                    used = self.limiter.weight_used(ip, base, sapi=True)
                    headers["X-SAPI-USED-IP-WEIGHT-1M"] = str(used)
                else:
                    headers["X-MBX-USED-WEIGHT-1M"] = str(self.limiter.weight_used(ip, base))
        return status, body, headers, weight

    @staticmethod
    def _params(raw_query: str, raw_body: str) -> dict[str, str]:
        params: dict[str, str] = {}
        for raw in (raw_query, raw_body):
            for k, v in parse_qsl(raw, keep_blank_values=True):
                if k in params:
                    raise BinanceError(400, -1101, f"Duplicate values for parameter '{k}'.")
                params[k] = v
        return params

    def _authenticate(
        self,
        route: Route,
        raw_query: str,
        raw_body: str,
        params: dict[str, str],
        api_key: str | None,
        ip: str,
        now: int,
    ) -> ApiKey:
        if not api_key:
            raise BinanceError(401, -2014, "API-key format invalid.")
        key = self.keys.get(api_key)
        if key is None:
            raise BinanceError(401, -2015, MSG_BAD_KEY)
        flags = key.restrictions
        ips = flags.get("ips")
        if flags.get("ipRestrict") and ips and ip not in ips:
            raise BinanceError(401, -2015, MSG_BAD_KEY)
        if not flags.get("enableReading", True):
            raise BinanceError(401, -2015, MSG_BAD_KEY)
        if route.trade and not flags.get("enableSpotAndMarginTrading"):
            raise BinanceError(401, -2015, MSG_BAD_KEY)
        ts = parse_int("timestamp", params.get("timestamp"), required=True)
        assert ts is not None
        recv = parse_int("recvWindow", params.get("recvWindow")) or 5000
        if recv > 60_000 or recv <= 0:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000")
        sig = params.get("signature")
        if not sig:
            raise mandatory("signature")
        total = _without_signature(raw_query) + _without_signature(raw_body)
        expected = hmac.new(key.secret.encode(), total.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig.lower()):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        if ts >= now + 1000:
            raise BinanceError(
                400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now - ts > recv:
            raise BinanceError(
                400, -1021, "Timestamp for this request is outside of the recvWindow."
            )
        return key

    # ================================================================= endpoints
    def _ping(self, ctx: Ctx) -> Any:
        return {}

    def _time(self, ctx: Ctx) -> Any:
        return {"serverTime": ctx.now}

    def _symbol_list(self, ctx: Ctx) -> list[str] | None:
        if ctx.params.get("symbol"):
            return [self.exchange.spec(ctx.params["symbol"]).symbol]
        raw = ctx.params.get("symbols")
        if raw:
            try:
                names = json.loads(raw)
            except ValueError as exc:
                raise BinanceError(
                    400, -1100, "Illegal characters found in parameter 'symbols'."
                ) from exc
            if not isinstance(names, list):
                raise BinanceError(400, -1100, "Illegal characters found in parameter 'symbols'.")
            return [self.exchange.spec(str(n)).symbol for n in names]
        return None

    def _exchange_info(self, ctx: Ctx) -> Any:
        names = self._symbol_list(ctx) or list(self.exchange.symbols)
        return {
            "timezone": "UTC",
            "serverTime": ctx.now,
            "rateLimits": self.limits.rate_limits_json(),
            "exchangeFilters": [],
            "symbols": [self.exchange.symbols[n].info() for n in names],
        }

    def _klines(self, ctx: Ctx) -> Any:
        spec = self.exchange.spec(ctx.params.get("symbol"))
        interval = ctx.params.get("interval")
        if not interval:
            raise mandatory("interval")
        limit = parse_int("limit", ctx.params.get("limit")) or 500
        limit = max(1, min(limit, 1000))
        start = parse_int("startTime", ctx.params.get("startTime"))
        end = parse_int("endTime", ctx.params.get("endTime"))
        return self.exchange.klines(spec, interval, start, end, limit, ctx.now)

    def _avg_price(self, ctx: Ctx) -> Any:
        spec = self.exchange.spec(ctx.params.get("symbol"))
        return {
            "mins": spec.avg_price_mins,
            "price": fmt(spec.avg_price(ctx.now)),
            "closeTime": ctx.now,
        }

    def _ticker_price(self, ctx: Ctx) -> Any:
        if ctx.params.get("symbol"):
            spec = self.exchange.spec(ctx.params["symbol"])
            return {"symbol": spec.symbol, "price": fmt(spec.price)}
        names = self._symbol_list(ctx) or list(self.exchange.symbols)
        return [{"symbol": n, "price": fmt(self.exchange.symbols[n].price)} for n in names]

    def _depth(self, ctx: Ctx) -> Any:
        spec = self.exchange.spec(ctx.params.get("symbol"))
        limit = parse_int("limit", ctx.params.get("limit")) or 100
        return self.exchange.depth(spec, max(1, min(limit, 5000)))

    def _account(self, ctx: Ctx) -> Any:
        assert ctx.key is not None
        omit = ctx.params.get("omitZeroBalances", "false").lower() == "true"
        trading = bool(ctx.key.restrictions.get("enableSpotAndMarginTrading"))
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": fmt(self.exchange.fee_rate),
                "taker": fmt(self.exchange.fee_rate),
                "buyer": fmt(dec(0)),
                "seller": fmt(dec(0)),
            },
            "canTrade": trading,
            "canWithdraw": bool(ctx.key.restrictions.get("enableWithdrawals")),
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.exchange.update_time,
            "accountType": "SPOT",
            "balances": self.exchange.balance_rows(omit_zero=omit),
            "permissions": ["SPOT"],
            "uid": 354937868,
        }

    def _commission(self, ctx: Ctx) -> Any:
        """rest-api.md "Query Commission Rates": the fake charges one rate, maker = taker."""
        spec = self.exchange.spec(ctx.params.get("symbol"))
        rate, nil = fmt(self.exchange.fee_rate), fmt(dec(0))
        none = {"maker": nil, "taker": nil, "buyer": nil, "seller": nil}
        return {
            "symbol": spec.symbol,
            "standardCommission": {**none, "maker": rate, "taker": rate},
            "specialCommission": dict(none),
            "taxCommission": dict(none),
            "discount": {
                "enabledForAccount": self.exchange.bnb_fees,
                "enabledForSymbol": True,
                "discountAsset": "BNB",
                "discount": fmt(BNB_DISCOUNT),
            },
        }

    def _new_order(self, ctx: Ctx) -> Any:
        v = self.exchange.validate_order(ctx.params, ctx.now)
        order = self.exchange.place(v, ctx.now)
        if ctx.visible_after_ms:
            order.visible_at = ctx.base + ctx.visible_after_ms
        return self._order_response(order, v["resp_type"])

    def _visible(self, order: Order) -> bool:
        """Reads are asynchronous: a `late_visible` order is not shown to queries yet (the
        matching engine has it: it fills, and a cancel finds it)."""
        return order.visible_at <= self.clock.base_ms()

    @staticmethod
    def _order_response(order: Order, resp_type: str) -> dict[str, Any]:
        if resp_type == "ACK":
            return {**order.base_json(), "transactTime": order.time}
        out = order.result_json()
        if resp_type == "FULL":
            out["fills"] = [f.fill_json() for f in order.fills]
        return out

    def _test_order(self, ctx: Ctx) -> Any:
        self.exchange.validate_order(ctx.params, ctx.now)
        return {}

    def _lookup(self, ctx: Ctx) -> tuple[str, Order | None]:
        spec = self.exchange.spec(ctx.params.get("symbol"))
        order_id = parse_int("orderId", ctx.params.get("orderId"))
        cid = ctx.params.get("origClientOrderId") or None
        if order_id is None and cid is None:
            raise BinanceError(
                400,
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        return spec.symbol, self.exchange.find_order(spec.symbol, order_id, cid)

    def _get_order(self, ctx: Ctx) -> Any:
        _, order = self._lookup(ctx)
        if order is None or not self._visible(order):
            raise BinanceError(400, -2013, "Order does not exist.")
        if self.exchange.is_archived(order, ctx.now):
            raise BinanceError(
                400,
                -2026,
                "Order was canceled or expired with no executed qty over 90 days ago and has "
                "been archived.",
            )
        return order.query_json()

    def _cancel_order(self, ctx: Ctx) -> Any:
        _, order = self._lookup(ctx)
        if order is None or not order.is_open:
            raise BinanceError(400, -2011, "Unknown order sent.")
        cancel_id = ctx.params.get("newClientOrderId") or random_client_id()
        self.exchange.cancel(order, ctx.now, cancel_id)
        return order.cancel_json(cancel_id, ctx.now)

    def _open_orders(self, ctx: Ctx) -> Any:
        symbol = None
        if ctx.params.get("symbol"):
            symbol = self.exchange.spec(ctx.params["symbol"]).symbol
        return [o.query_json() for o in self.exchange.open_orders(symbol) if self._visible(o)]

    def _cancel_all(self, ctx: Ctx) -> Any:
        spec = self.exchange.spec(ctx.params.get("symbol"))
        orders = self.exchange.open_orders(spec.symbol)
        if not orders:
            raise BinanceError(400, -2011, "Unknown order sent.")
        out = []
        for order in orders:
            cancel_id = random_client_id()
            self.exchange.cancel(order, ctx.now, cancel_id)
            out.append(order.cancel_json(cancel_id, ctx.now))
        return out

    def _my_trades(self, ctx: Ctx) -> Any:
        spec = self.exchange.spec(ctx.params.get("symbol"))
        order_id = parse_int("orderId", ctx.params.get("orderId"))
        start = parse_int("startTime", ctx.params.get("startTime"))
        end = parse_int("endTime", ctx.params.get("endTime"))
        from_id = parse_int("fromId", ctx.params.get("fromId"))
        limit = max(1, min(parse_int("limit", ctx.params.get("limit")) or 500, 1000))
        out = []
        for f in self.exchange.fills:
            if f.symbol != spec.symbol:
                continue
            if not self._visible(self.exchange.orders[f.order_id]):
                continue
            if order_id is not None and f.order_id != order_id:
                continue
            if start is not None and f.time < start:
                continue
            if end is not None and f.time > end:
                continue
            if from_id is not None and f.trade_id < from_id:
                continue
            out.append(f.trade_json())
        return out[:limit] if from_id is not None or start is not None else out[-limit:]

    def _order_rate(self, ctx: Ctx) -> Any:
        base = self.clock.base_ms()
        return [
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": self.limits.orders_10s_limit,
                "count": self.limiter.orders_10s.current(base),
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "DAY",
                "intervalNum": 1,
                "limit": self.limits.orders_1d_limit,
                "count": self.limiter.orders_1d.current(base),
            },
        ]

    def _api_restrictions(self, ctx: Ctx) -> Any:
        assert ctx.key is not None
        flags = {k: v for k, v in ctx.key.restrictions.items() if k != "ips"}
        return {"createTime": ctx.key.created_ms, **flags}


def _without_signature(raw: str) -> str:
    if "signature=" not in raw:
        return raw
    return "&".join(p for p in raw.split("&") if not p.startswith("signature="))
