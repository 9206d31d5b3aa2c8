"""The fake exchange's USDⓈ-M futures side: ``/fapi`` endpoints, one-way positions,
leverage and margin type, mark price, funding, isolated margin and liquidation.

It lives on the same aiohttp app as the spot API (`server.FakeBinanceServer` hands every
``/fapi/...`` request to `FuturesExchange.process` and every ``futures_*`` control command
to `FuturesExchange.control`), so faults (`faults`), the request log and the server clocks
are shared; python-binance reaches it with ``client.FUTURES_URL = <url> + "/fapi"``
(`fixture.FakeBinance.client` does that).

Sources: Binance's USDⓈ-M futures docs (developers.binance.com/docs/derivatives/
usds-margined-futures: general-info, error-code, trade/rest-api, account/rest-api,
market-data/rest-api; scraped copy as of 2025-11) and python-binance's ``futures_*``
client methods (which versions they call: account v2, positionRisk v3, balance v3).

Endpoints (``S`` = signed like spot: HMAC-SHA256 over query + body, ``timestamp`` /
``recvWindow``; ``T`` = needs a key with ``enableFutures``; ``K`` = API key only):

========  ================================  ====  ==========================================
method    path                                    IP weight (own pool, 2400 / minute)
========  ================================  ====  ==========================================
GET       /fapi/v1/ping                           1
GET       /fapi/v1/time                           1
GET       /fapi/v1/exchangeInfo                   1
GET       /fapi/v1/premiumIndex                   1 with ``symbol``, 10 without
GET       /fapi/v1|v2/ticker/price                1 with ``symbol``, 2 without
GET       /fapi/v1/klines                         1 / 2 / 5 / 10 by ``limit`` (<100, <500,
                                                  <=1000, more); the spot symbol's history
GET       /fapi/v1/fundingRate                    0 (Binance: own 500 / 5 min, not enforced)
GET       /fapi/v1/leverageBracket          S     1
GET       /fapi/v1/commissionRate           S     20
GET       /fapi/v1/symbolConfig             S     5
GET       /fapi/v1/positionSide/dual        S     30 (always one-way: false)
POST      /fapi/v1/leverage                 ST    1
POST      /fapi/v1/marginType               ST    1
GET       /fapi/v2/positionRisk             S     5 (every symbol)
GET       /fapi/v3/positionRisk             S     5 (symbols with a position / open order)
GET       /fapi/v2/account, /fapi/v3/account S    5
GET       /fapi/v2/balance, /fapi/v3/balance S    5
POST      /fapi/v1/order                    ST    0 (+1 on ORDERS 10 s and 1 min)
POST      /fapi/v1/order/test               ST    0 (validated, never booked)
GET       /fapi/v1/order                    S     1
DELETE    /fapi/v1/order                    ST    1
GET       /fapi/v1/openOrders               S     1 with ``symbol``, 40 without
GET       /fapi/v1/allOrders                S     5
DELETE    /fapi/v1/allOpenOrders            ST    1
GET       /fapi/v1/userTrades               S     5
GET       /fapi/v1/income                   S     30
GET       /fapi/v1/forceOrders              S     20 with ``symbol``, 50 without
POST      /fapi/v1/listenKey                K     1 (the active key again, extended 60 min)
PUT       /fapi/v1/listenKey                K     1 (-1125 when there is none)
DELETE    /fapi/v1/listenKey                K     1
========  ================================  ====  ==========================================

User data stream: a WebSocket on the same app at ``/fstream/private/ws?listenKey=K`` (what
python-binance's ``futures_user_socket`` opens with ``FSTREAM_URL = ws://host:port/fstream/``,
`FakeBinance.futures_stream_url`) or ``/fstream/ws/K`` (not ``/ws/``: spot's streams). It
sends, from the moment of connection, ORDER_TRADE_UPDATE (x = NEW / TRADE / CANCELED /
EXPIRED; CALCULATED for a liquidation, order type LIQUIDATION), ACCOUNT_UPDATE (m = ORDER /
FUNDING_FEE / INSURANCE_CLEAR / DEPOSIT / WITHDRAW), ACCOUNT_CONFIG_UPDATE (leverage),
MARGIN_CALL (once each time a position's maintenance margin reaches 80% of its margin
balance; the fake's threshold, Binance does not publish one) and listenKeyExpired (then
closes) when the key lapses (60 minutes of the limits clock without keepalive), is deleted
or the fake is reset. The REST faults do not touch it; ``futures_stream_drop`` closes every
open stream without a word (a dropped connection: reconnect with the same key);
``futures_stream_fault`` sends events twice ("duplicate") or leaves a fill's
ORDER_TRADE_UPDATE out ("lose").

Limits (own pool, separate from spot's, as fapi.binance.com is another host):
REQUEST_WEIGHT 2400 / minute per IP (``X-MBX-USED-WEIGHT-1M`` on every answer), ORDERS
300 / 10 s and 1200 / minute per account (``X-MBX-ORDER-COUNT-10S`` / ``-1M`` on order
answers); 429 / 418 back-off and bans work as on spot (`limits`).

Errors (errors ``{"code", "msg"}``, HTTP 400 unless said):

=======  =====================================================================================
code     when
=======  =====================================================================================
-1121    unknown symbol ("Invalid symbol.")
-1102    a mandatory parameter missing; -1104 a parameter the endpoint does not read
-1116    ``type`` other than LIMIT / MARKET ("Invalid orderType."; conditional types are
         Binance's algo-order API since 2025-12, not modelled)
-1115    invalid ``timeInForce``; -1136 invalid ``newOrderRespType``; -1117 invalid ``side``
-4015    ``newClientOrderId`` not ``^[.A-Z:/a-z0-9_-]{1,36}$``; -4116 the id of an open order
-4060    ``positionSide`` not BOTH/LONG/SHORT; -4061 LONG/SHORT (the account is one-way)
-1111    quantity with more decimals than ``quantityPrecision``
-4003    quantity <= 0; -4004 below minQty; -4005 above maxQty; -4023 not a step multiple
-4013    price below minPrice; -4002 above maxPrice; -4014 not a tick multiple
-4016    BUY limit above mark * multiplierUp; -4024 SELL limit below mark * multiplierDown
-4164    notional below MIN_NOTIONAL ``notional`` (reduce-only orders exempt)
-2022    ``reduceOnly`` with no position, or on the side that would increase it
-2019    "Margin is insufficient." (the opening part's initial margin > available balance)
-2027    the position would exceed the bracket's max notional at the current leverage
-2025    open orders on the symbol at MAX_NUM_ORDERS
-5022    GTX (post only) that would take
-2013    GET order unknown (or not visible yet); -2011 DELETE order unknown / closed
-4028    leverage not an integer 1..bracket max ("Leverage N is not valid")
-4161    leverage lowered on an ISOLATED symbol with a position
-4046    marginType unchanged ("No need to change margin type."); -4047 open orders;
         -4048 a position
-2015    (HTTP 401) key unknown / no ``enableFutures`` on a ``T`` endpoint; -2014 no key
=======  =====================================================================================

Model (one USDT wallet, single-asset mode, one-way positions ``positionSide=BOTH``):

- New symbols start CROSSED at 20x (Binance's defaults); ``leverage`` 1..the first
  bracket's ``initialLeverage``; brackets (``notionalCap``, ``maintMarginRatio``, ``cum``)
  per symbol, BTCUSDT tier 1 = 0.4% up to 50,000 USDT (illustrative tiers, not a copy of
  Binance's live table).
- Mark price: the spot price of the same symbol (replayed step by step, so a spike between
  two requests is seen) unless the symbol has its own (``futures_mark_price`` /
  ``futures_mark_price_path`` + ``futures_step``). Index price = mark price.
- Fills: MARKET and a LIMIT marketable at placement fill at once as taker, ``taker_slippage``
  (0.01%; kind world 0) worse than the mark price, on the tick; a resting LIMIT fills at its
  price when the mark crosses it (maker); infinitely deep.
  ACK answers show the order as accepted (``NEW``, nothing executed: query it), RESULT the
  outcome. Commission = notional * ``taker_fee`` / ``maker_fee`` (0.05% / 0.02%) in USDT
  (COMMISSION income), from the wallet.
- Isolated: entering moves ``notional / leverage`` from the cross wallet into the
  position's isolated wallet; reducing releases it pro rata, realized P&L (REALIZED_PNL
  income) goes to the wallet. Funding is taken from / paid into the isolated wallet.
- ``reduceOnly``: -2022 as above; a quantity above the position is cut to the position
  (the rest EXPIRED); resting reduce-only orders that no longer reduce are EXPIRED.
- Funding every 8 h of the limits clock (``advance_clock`` in manual-clock mode; the
  boundaries are multiples of 8 h of that clock): each position pays ``qty * mark * rate``
  (long pays when the rate is positive) as FUNDING_FEE income; ``nextFundingTime`` and the
  income ``time`` are told in server time (in manual-clock mode that time does not move
  with ``advance_clock``, so two fundings 8 h apart on the limits clock show close times).
- Liquidation (isolated): when isolated wallet + unrealised P&L <= maintenance margin
  (``|qty| * mark * mmr - cum``) the symbol's open orders are cancelled and the position is
  closed at the mark price by an order ``autoclose-...`` of type LIQUIDATION (a trade, the
  REALIZED_PNL), the rest of the isolated wallet is lost (INSURANCE_CLEAR): the account
  loses the whole isolated margin. Cross positions: when cross wallet + cross unrealised
  P&L <= the cross maintenance margins, every cross position is closed the same way (the
  loss is the realized P&L, capped at the cross wallet; no clearance fee is modelled).
  `FakeBinance.futures_liquidations()` lists them.

Control (``/_control/futures_<name>``; JSON): mark_price {symbol, price|null},
mark_price_path {symbol, prices, loop?}, step {n?}, funding_rate {rate, symbol?},
funding_now {}, next_funding {}, stream_drop {}, set_balance {USDT}, symbol_config {symbol,
leverage?, margin_type?}, foreign_order {symbol, side, qty}, limits {weight_limit?,
orders_10s_limit?, orders_1m_limit?, ban_after?}, unban {}; reads: positions, orders,
open_orders, trades,
income, liquidations, events, account, stats.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.binance.limits import MINUTE_MS, LimitConfig, Limited, Limiter, Window
from tests.fakes.binance.matching import (
    ZERO,
    BinanceError,
    check_all_read,
    dec,
    mandatory,
    parse_int,
    parse_number,
    random_client_id,
)

if TYPE_CHECKING:
    from tests.fakes.binance.server import FakeBinanceServer

FUNDING_INTERVAL_MS = 8 * 3_600_000
LISTEN_KEY_MS = 60 * 60_000  # a listenKey lives 60 minutes after its last keepalive
MARGIN_CALL_RATIO = Decimal("0.8")  # maintenance / margin balance that sends MARGIN_CALL
SEVEN_DAYS_MS = 7 * 86_400_000
CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
ONE = Decimal(1)
Q8 = Decimal("0.00000001")

# (notionalCap, initialLeverage, maintMarginRatio); floors follow from the previous cap
BTC_BRACKETS = [
    (50_000, 125, "0.004"),
    (600_000, 100, "0.005"),
    (3_000_000, 75, "0.0065"),
    (12_000_000, 50, "0.01"),
    (70_000_000, 25, "0.02"),
    (100_000_000, 20, "0.025"),
]
ETH_BRACKETS = [
    (50_000, 100, "0.005"),
    (600_000, 75, "0.0065"),
    (3_000_000, 50, "0.01"),
    (12_000_000, 25, "0.02"),
    (50_000_000, 10, "0.05"),
]
DEFAULT_FUTURES_SYMBOLS: dict[str, dict[str, Any]] = {
    "BTCUSDT": {
        "price": 30000.0,
        "tick": 0.1,
        "step": 0.001,
        "min_qty": 0.001,
        "max_qty": 1000,
        "market_max_qty": 120,
        "min_notional": 100,
        "price_precision": 2,
        "quantity_precision": 3,
        "brackets": BTC_BRACKETS,
    },
    "ETHUSDT": {
        "price": 2000.0,
        "tick": 0.01,
        "step": 0.001,
        "min_qty": 0.001,
        "max_qty": 10000,
        "market_max_qty": 2000,
        "min_notional": 20,
        "price_precision": 2,
        "quantity_precision": 3,
        "brackets": ETH_BRACKETS,
    },
}
DEFAULT_FUTURES: dict[str, Any] = {
    "balance": 10_000.0,  # USDT in the futures wallet
    "funding_rate": 0.0001,
    "maker_fee": 0.0002,
    "taker_fee": 0.0005,
    "taker_slippage": 0.0001,  # a taker fills this much worse than the mark (kind world: 0)
    "leverage": 20,
    "margin_type": "CROSSED",
    "weight_limit": 2400,
    "orders_10s_limit": 300,
    "orders_1m_limit": 1200,
}
MSG_BAD_KEY = "Invalid API-key, IP, or permissions for action."


def fmt(value: Decimal | None, places: int = 8) -> str:
    """`matching.fmt` without negative zeros ("-0.00000000")."""
    return f"{(value or ZERO) + ZERO:.{places}f}"


def q8(value: Decimal) -> Decimal:
    return value.quantize(Q8)


def sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


@dataclass
class Bracket:
    n: int
    floor: Decimal
    cap: Decimal
    leverage: int
    mmr: Decimal
    cum: Decimal

    def json(self) -> dict[str, Any]:
        return {
            "bracket": self.n,
            "initialLeverage": self.leverage,
            "notionalCap": int(self.cap),
            "notionalFloor": int(self.floor),
            "maintMarginRatio": float(self.mmr),
            "cum": float(self.cum),
        }


def make_brackets(rows: list[tuple[Any, int, Any]]) -> list[Bracket]:
    out: list[Bracket] = []
    floor, cum, prev_mmr = ZERO, ZERO, ZERO
    for i, (cap, lev, mmr) in enumerate(rows, start=1):
        m = dec(mmr)
        cum += floor * (m - prev_mmr)
        out.append(Bracket(i, floor, dec(cap), int(lev), m, cum))
        floor, prev_mmr = dec(cap), m
    return out


@dataclass
class FSymbol:
    symbol: str
    base: str
    price: Decimal  # its own mark price when there is no spot symbol of that name
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_price: Decimal
    max_price: Decimal
    min_notional: Decimal
    price_precision: int
    quantity_precision: int
    brackets: list[Bracket]
    funding_rate: Decimal
    leverage: int
    margin_type: str
    multiplier_up: Decimal = Decimal("1.0500")
    multiplier_down: Decimal = Decimal("0.9500")
    max_num_orders: int = 200
    own_mark: bool = False  # True: the mark does not follow the spot price
    path: list[Decimal] = field(default_factory=list)
    path_index: int = 0
    path_loop: bool = False
    seen_ms: int = 0  # replay pointer into the spot price history
    seen_n: int = 0

    def bracket(self, notional: Decimal) -> Bracket:
        for b in self.brackets:
            if notional <= b.cap:
                return b
        return self.brackets[-1]

    def max_leverage(self) -> int:
        return self.brackets[0].leverage

    def max_notional(self, leverage: int) -> Decimal:
        caps = [b.cap for b in self.brackets if b.leverage >= leverage]
        return max(caps) if caps else self.brackets[0].cap

    def info(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "pair": self.symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": self.base,
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "pricePrecision": self.price_precision,
            "quantityPrecision": self.quantity_precision,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "settlePlan": 0,
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": str(self.min_price),
                    "maxPrice": str(self.max_price),
                    "tickSize": str(self.tick),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": str(self.min_qty),
                    "maxQty": str(self.max_qty),
                    "stepSize": str(self.step),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": str(self.min_qty),
                    "maxQty": str(self.market_max_qty),
                    "stepSize": str(self.step),
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": self.max_num_orders},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": str(self.min_notional)},
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": str(self.multiplier_up),
                    "multiplierDown": str(self.multiplier_down),
                    "multiplierDecimal": "4",
                },
            ],
            "orderTypes": [
                "LIMIT",
                "MARKET",
                "STOP",
                "STOP_MARKET",
                "TAKE_PROFIT",
                "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET",
            ],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
            "permissionSets": ["GRID", "COPY"],
        }


@dataclass
class Position:
    symbol: str
    qty: Decimal = ZERO  # signed: > 0 long, < 0 short
    entry: Decimal = ZERO
    iw: Decimal = ZERO  # isolated wallet (0 for cross)
    fees: Decimal = ZERO  # commission paid on the open position (break-even price)
    update_time: int = 0


@dataclass
class FOrder:
    order_id: int
    symbol: str
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    reduce_only: bool
    time: int
    good_till_date: int = 0
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    visible_at: int = 0
    liquidation: bool = False
    foreign: bool = False

    @property
    def is_open(self) -> bool:
        return self.status in {"NEW", "PARTIALLY_FILLED"}

    @property
    def direction(self) -> int:
        return 1 if self.side == "BUY" else -1

    @property
    def left(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    def json(self, *, answer: bool = False) -> dict[str, Any]:
        """The shape of GET order (``answer``: of POST/DELETE order: cumQty, no time)."""
        avg = self.cum_quote / self.executed_qty if self.executed_qty else ZERO
        out: dict[str, Any] = {
            "orderId": self.order_id,
            "symbol": self.symbol,
            "status": self.status,
            "clientOrderId": self.client_order_id,
            "price": fmt(self.price),
            "avgPrice": fmt(avg),
            "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "cumQuote": fmt(self.cum_quote),
            "timeInForce": self.time_in_force,
            "type": self.type,
            "reduceOnly": self.reduce_only,
            "closePosition": False,
            "side": self.side,
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": self.type,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": self.good_till_date,
            "updateTime": self.update_time,
        }
        if answer:
            out["cumQty"] = fmt(self.executed_qty)
        else:
            out["time"] = self.time
        return out


@dataclass
class FTrade:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    realized_pnl: Decimal
    commission: Decimal
    maker: bool
    time: int
    liquidation: bool = False

    def json(self) -> dict[str, Any]:
        return {
            "buyer": self.side == "BUY",
            "commission": fmt(self.commission),
            "commissionAsset": "USDT",
            "id": self.trade_id,
            "maker": self.maker,
            "orderId": self.order_id,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.price * self.qty),
            "realizedPnl": fmt(self.realized_pnl),
            "side": self.side,
            "positionSide": "BOTH",
            "symbol": self.symbol,
            "time": self.time,
        }


@dataclass
class Income:
    tran_id: int
    symbol: str
    income_type: str
    income: Decimal
    time: int
    trade_id: str = ""

    def json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "incomeType": self.income_type,
            "income": fmt(self.income),
            "asset": "USDT",
            "info": self.income_type,
            "time": self.time,
            "tranId": self.tran_id,
            "tradeId": self.trade_id,
        }


@dataclass
class FCtx:
    """One /fapi request as a handler sees it."""

    method: str
    params: dict[str, str]
    now: int  # server time (with skew)
    base: int  # limits clock
    visible_after_ms: int = 0


@dataclass(frozen=True)
class FRoute:
    fn: Callable[[FCtx], Any]
    weight: Callable[[dict[str, str]], int]
    signed: bool = False
    trade: bool = False  # needs enableFutures
    key_only: bool = False  # USER_STREAM: API key, no signature
    places_order: bool = False
    params: frozenset[str] | None = None


class _NoTrade:
    """What `FakeBinanceServer._authenticate` is handed: futures permissions are checked here."""

    trade = False


class FuturesLimiter(Limiter):
    """Spot's `Limiter` with the futures ORDERS windows: 10 seconds and 1 minute."""

    def __init__(self, config: LimitConfig, orders_1m_limit: int) -> None:
        super().__init__(config)
        self.orders_1m = Window(MINUTE_MS)
        self.orders_1m_limit = orders_1m_limit

    def charge_order(self, ip: str, now: int) -> None:
        st = self.ip(ip)
        n10 = self.orders_10s.add(now, 1)
        n1m = self.orders_1m.add(now, 1)
        for count, limit, window, label in (
            (n10, self.config.orders_10s_limit, self.orders_10s, "10 SECOND"),
            (n1m, self.orders_1m_limit, self.orders_1m, "1 MINUTE"),
        ):
            if count > limit:
                raise self._too_many(
                    st,
                    now,
                    Limited(
                        429,
                        -1015,
                        f"Too many new orders; current limit is {limit} orders per {label}.",
                        window.seconds_left(now),
                    ),
                )


def _weight(n: int) -> Callable[[dict[str, str]], int]:
    return lambda _params: n


def _with_symbol(with_symbol: int, without: int) -> Callable[[dict[str, str]], int]:
    return lambda params: with_symbol if params.get("symbol") else without


SIGNED = frozenset({"timestamp", "recvWindow", "signature"})
NEW_ORDER_PARAMS = SIGNED | {
    "symbol",
    "side",
    "positionSide",
    "type",
    "timeInForce",
    "quantity",
    "reduceOnly",
    "price",
    "newClientOrderId",
    "stopPrice",
    "closePosition",
    "activationPrice",
    "callbackRate",
    "workingType",
    "priceProtect",
    "newOrderRespType",
    "priceMatch",
    "selfTradePreventionMode",
    "goodTillDate",
}
ORDER_ID_PARAMS = SIGNED | {"symbol", "orderId", "origClientOrderId"}


class FuturesExchange:
    """The futures account of the fake: state, the /fapi routes and the futures controls.

    Every method is called under the server's lock (by `process` or `control`).
    """

    def __init__(
        self, server: FakeBinanceServer, config: dict[str, Any] | None, start_ms: int
    ) -> None:
        self.server = server
        cfg = {**DEFAULT_FUTURES, **(config or {})}
        if server._init.get("kind"):
            for k in ("maker_fee", "taker_fee", "taker_slippage"):
                if k not in (config or {}):
                    cfg[k] = 0.0
        self.maker_fee = dec(cfg["maker_fee"])
        self.taker_fee = dec(cfg["taker_fee"])
        self.taker_slippage = dec(cfg["taker_slippage"])
        self.stream_generation = 0  # futures_stream_drop: open streams of older ones close
        # futures_stream_fault: "duplicate" (every event sent twice) or "lose" (a fill's
        # ORDER_TRADE_UPDATE never sent), for `count` events (None: until cleared)
        self.stream_fault: tuple[str, int | None] | None = None
        self.stream_faults_fired: dict[str, int] = {}
        self.can_trade = True  # GET /fapi/v2/account canTrade (futures_set_can_trade)
        self.limits = LimitConfig(
            weight_limit=int(cfg["weight_limit"]),
            orders_10s_limit=int(cfg["orders_10s_limit"]),
            orders_1d_limit=10**9,
            raw_requests_limit=10**9,
            ban_after=server.limits.ban_after,
            ban_seconds=server.limits.ban_seconds,
        )
        self.limiter = FuturesLimiter(self.limits, int(cfg["orders_1m_limit"]))
        self.symbols: dict[str, FSymbol] = {}
        spot = server.exchange.symbols
        for name, scfg in (cfg.get("symbols") or DEFAULT_FUTURES_SYMBOLS).items():
            fs = self._make_symbol(name, scfg, cfg)
            if name in spot:
                hist = spot[name].history
                if hist:
                    fs.seen_ms = hist[-1][0]
                    fs.seen_n = len(hist) - bisect.bisect_left(hist, fs.seen_ms, key=_ms)
            else:
                fs.own_mark = True
            self.symbols[name] = fs
        self.wallet = dec(cfg["balance"])
        self.positions: dict[str, Position] = {s: Position(s) for s in self.symbols}
        self.orders: dict[int, FOrder] = {}
        self.trades: list[FTrade] = []
        self.income: list[Income] = []
        self.funding_history: list[dict[str, Any]] = []
        self.liquidations: list[dict[str, Any]] = []
        self._next_order_id = 4_000_000_001
        self._next_trade_id = 700_000_001
        self._next_tran_id = 9_000_000_001
        base = server.clock.base_ms()
        self.next_funding_base = (base // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
        self.update_time = start_ms
        self.events: list[dict[str, Any]] = []  # the user data stream, in order
        self.listen_keys: dict[str, int] = {}  # listenKey -> expiry on the limits clock
        self._margin_called: set[str] = set()
        self._replay: dict[str, Decimal] = {}  # the mark being replayed, per symbol
        self.routes: dict[tuple[str, str], FRoute] = self._routes()

    @staticmethod
    def _make_symbol(name: str, s: dict[str, Any], cfg: dict[str, Any]) -> FSymbol:
        base = str(s.get("base") or name.removesuffix("USDT"))
        tick = dec(s.get("tick", 0.01))
        step = dec(s.get("step", 0.001))
        return FSymbol(
            symbol=name,
            base=base,
            price=dec(s.get("price", 100.0)),
            tick=tick,
            step=step,
            min_qty=dec(s.get("min_qty", step)),
            max_qty=dec(s.get("max_qty", 1000)),
            market_max_qty=dec(s.get("market_max_qty", s.get("max_qty", 1000))),
            min_price=dec(s.get("min_price", tick)),
            max_price=dec(s.get("max_price", 1_000_000)),
            min_notional=dec(s.get("min_notional", 5)),
            price_precision=int(s.get("price_precision", 2)),
            quantity_precision=int(s.get("quantity_precision", 3)),
            brackets=make_brackets(list(s.get("brackets") or ETH_BRACKETS)),
            funding_rate=dec(s.get("funding_rate", cfg["funding_rate"])),
            leverage=int(s.get("leverage", cfg["leverage"])),
            margin_type=str(s.get("margin_type", cfg["margin_type"])).upper(),
            multiplier_up=dec(s.get("multiplier_up", "1.0500")),
            multiplier_down=dec(s.get("multiplier_down", "0.9500")),
            max_num_orders=int(s.get("max_num_orders", 200)),
        )

    def _routes(self) -> dict[tuple[str, str], FRoute]:
        r = FRoute
        return {
            ("GET", "/fapi/v1/ping"): r(lambda c: {}, _weight(1)),
            ("GET", "/fapi/v1/time"): r(lambda c: {"serverTime": c.now}, _weight(1)),
            ("GET", "/fapi/v1/exchangeInfo"): r(self._exchange_info, _weight(1)),
            ("GET", "/fapi/v1/premiumIndex"): r(self._premium_index, _with_symbol(1, 10)),
            ("GET", "/fapi/v1/fundingRate"): r(self._funding_rate, _weight(0)),
            ("GET", "/fapi/v1/ticker/price"): r(self._ticker_price, _with_symbol(1, 2)),
            ("GET", "/fapi/v2/ticker/price"): r(self._ticker_price, _with_symbol(1, 2)),
            ("GET", "/fapi/v1/klines"): r(self._klines, _klines_weight),
            ("GET", "/fapi/v1/leverageBracket"): r(
                self._leverage_bracket, _weight(1), signed=True, params=SIGNED | {"symbol"}
            ),
            ("GET", "/fapi/v1/commissionRate"): r(
                self._commission_rate, _weight(20), signed=True, params=SIGNED | {"symbol"}
            ),
            ("GET", "/fapi/v1/symbolConfig"): r(
                self._symbol_config, _weight(5), signed=True, params=SIGNED | {"symbol"}
            ),
            ("GET", "/fapi/v1/positionSide/dual"): r(
                lambda c: {"dualSidePosition": False}, _weight(30), signed=True, params=SIGNED
            ),
            ("POST", "/fapi/v1/leverage"): r(
                self._leverage,
                _weight(1),
                signed=True,
                trade=True,
                params=SIGNED | {"symbol", "leverage"},
            ),
            ("POST", "/fapi/v1/marginType"): r(
                self._margin_type,
                _weight(1),
                signed=True,
                trade=True,
                params=SIGNED | {"symbol", "marginType"},
            ),
            ("GET", "/fapi/v2/positionRisk"): r(
                self._position_risk_v2, _weight(5), signed=True, params=SIGNED | {"symbol"}
            ),
            ("GET", "/fapi/v3/positionRisk"): r(
                self._position_risk_v3, _weight(5), signed=True, params=SIGNED | {"symbol"}
            ),
            ("GET", "/fapi/v2/account"): r(
                lambda c: self.account_json(v2=True), _weight(5), signed=True, params=SIGNED
            ),
            ("GET", "/fapi/v3/account"): r(
                lambda c: self.account_json(v2=False), _weight(5), signed=True, params=SIGNED
            ),
            ("GET", "/fapi/v2/balance"): r(self._balance, _weight(5), signed=True, params=SIGNED),
            ("GET", "/fapi/v3/balance"): r(self._balance, _weight(5), signed=True, params=SIGNED),
            ("POST", "/fapi/v1/order"): r(
                self._new_order,
                _weight(0),
                signed=True,
                trade=True,
                places_order=True,
                params=NEW_ORDER_PARAMS,
            ),
            ("POST", "/fapi/v1/order/test"): r(
                self._test_order, _weight(0), signed=True, trade=True, params=NEW_ORDER_PARAMS
            ),
            ("GET", "/fapi/v1/allOrders"): r(
                self._all_orders,
                _weight(5),
                signed=True,
                params=SIGNED | {"symbol", "orderId", "startTime", "endTime", "limit"},
            ),
            ("GET", "/fapi/v1/order"): r(
                self._get_order, _weight(1), signed=True, params=ORDER_ID_PARAMS
            ),
            ("DELETE", "/fapi/v1/order"): r(
                self._cancel_order, _weight(1), signed=True, trade=True, params=ORDER_ID_PARAMS
            ),
            ("GET", "/fapi/v1/openOrders"): r(
                self._open_orders, _with_symbol(1, 40), signed=True, params=SIGNED | {"symbol"}
            ),
            ("DELETE", "/fapi/v1/allOpenOrders"): r(
                self._cancel_all, _weight(1), signed=True, trade=True, params=SIGNED | {"symbol"}
            ),
            ("GET", "/fapi/v1/userTrades"): r(
                self._user_trades,
                _weight(5),
                signed=True,
                params=SIGNED | {"symbol", "orderId", "startTime", "endTime", "fromId", "limit"},
            ),
            ("GET", "/fapi/v1/income"): r(
                self._income,
                _weight(30),
                signed=True,
                params=SIGNED | {"symbol", "incomeType", "startTime", "endTime", "page", "limit"},
            ),
            ("POST", "/fapi/v1/listenKey"): r(self._listen_key_new, _weight(1), key_only=True),
            ("PUT", "/fapi/v1/listenKey"): r(self._listen_key_keep, _weight(1), key_only=True),
            ("DELETE", "/fapi/v1/listenKey"): r(self._listen_key_close, _weight(1), key_only=True),
            ("GET", "/fapi/v1/forceOrders"): r(
                self._force_orders,
                _with_symbol(20, 50),
                signed=True,
                params=SIGNED | {"symbol", "autoCloseType", "startTime", "endTime", "limit"},
            ),
        }

    # ================================================================= HTTP
    def process(
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
        """Like `FakeBinanceServer._process` for /fapi: (status, body, headers, weight)."""
        srv = self.server
        headers: dict[str, str] = {}
        weight = 0
        with srv.lock:
            base = srv.clock.base_ms()
            now = srv.clock.now_ms() + int(skew)
            srv._catch_up_auto_steps()
            self.sync(now)
            charged = False
            try:
                self.limiter.check_ban(ip, base)
                params = srv._params(raw_query, raw_body)
                route = self.routes.get((method, path))
                weight = route.weight(params) if route is not None else 1
                charged = True
                self.limiter.charge(ip, base, weight)
                if route is None:
                    if any(p == path for _, p in self.routes):
                        raise BinanceError(405, -1000, f"Method {method} not allowed on {path}.")
                    raise BinanceError(404, -1000, f"Unknown endpoint {method} {path}.")
                if route.key_only:
                    if not api_key:
                        raise BinanceError(401, -2014, "API-key format invalid.")
                    if api_key not in srv.keys:
                        raise BinanceError(401, -2015, MSG_BAD_KEY)
                if route.signed:
                    key = srv._authenticate(
                        _NoTrade(),
                        raw_query,
                        raw_body,
                        params,
                        api_key,
                        ip,
                        now,
                    )
                    if route.trade and not key.restrictions.get("enableFutures"):
                        raise BinanceError(401, -2015, MSG_BAD_KEY)
                check_all_read(route.params, params)
                if route.places_order:
                    try:
                        self.limiter.charge_order(ip, base)
                    finally:
                        headers["X-MBX-ORDER-COUNT-10S"] = str(self.limiter.orders_10s.count)
                        headers["X-MBX-ORDER-COUNT-1M"] = str(self.limiter.orders_1m.count)
                body = route.fn(FCtx(method, params, now, base, visible_after_ms))
                status = 200
            except Limited as exc:
                status, body = exc.status, {"code": exc.code, "msg": exc.msg}
                headers["Retry-After"] = str(exc.retry_after)
            except BinanceError as exc:
                status, body = exc.status, exc.body()
            if charged and status != 418:
                headers["X-MBX-USED-WEIGHT-1M"] = str(self.limiter.weight_used(ip, base))
        return status, body, headers, weight

    # ================================================================= time passes
    def mark(self, fs: FSymbol) -> Decimal:
        replayed = self._replay.get(fs.symbol)
        if replayed is not None:
            return replayed
        if fs.own_mark:
            return fs.price
        return self.server.exchange.symbols[fs.symbol].price

    def sync(self, now: int) -> None:
        """Catch up with time: the spot prices seen since the last call (in order) and the
        funding boundaries passed on the limits clock."""
        spot = self.server.exchange.symbols
        for fs in self.symbols.values():
            if fs.own_mark:
                continue
            hist = spot[fs.symbol].history
            i = bisect.bisect_left(hist, fs.seen_ms, key=_ms) + fs.seen_n
            for ms, price in hist[i:]:
                if ms == fs.seen_ms:
                    fs.seen_n += 1
                else:
                    fs.seen_ms, fs.seen_n = ms, 1
                self._on_mark(fs, price, ms)
        base = self.server.clock.base_ms()
        while self.next_funding_base <= base:
            self._fund(now - (base - self.next_funding_base))
            self.next_funding_base += FUNDING_INTERVAL_MS

    def _on_mark(self, fs: FSymbol, mark: Decimal, now: int) -> None:
        """A new mark price: resting LIMIT orders it crosses fill, then liquidation."""
        self._replay[fs.symbol] = mark
        try:
            for order in self._open(fs.symbol):
                crossed = (order.side == "BUY" and mark <= order.price) or (
                    order.side == "SELL" and mark >= order.price
                )
                if crossed and order.is_open:
                    self._fill(order, fs, order.price, order.left, now, maker=True)
            self._check_liquidation(fs, now)
            self._check_margin_call(fs, now)
        finally:
            del self._replay[fs.symbol]

    def _fund(self, t: int) -> None:
        for fs in self.symbols.values():
            mark = self.mark(fs)
            self.funding_history.append(
                {
                    "symbol": fs.symbol,
                    "fundingRate": fmt(fs.funding_rate),
                    "fundingTime": t,
                    "markPrice": fmt(mark),
                }
            )
            pos = self.positions[fs.symbol]
            if pos.qty == 0:
                continue
            amount = q8(-pos.qty * mark * fs.funding_rate)
            self.wallet += amount
            if fs.margin_type == "ISOLATED":
                pos.iw += amount
            pos.update_time = t
            self._book(fs.symbol, "FUNDING_FEE", amount, t)
            self._account_event("FUNDING_FEE", t, [fs], change=amount)
            self._check_liquidation(fs, t)

    # ================================================================= account maths
    def _open(self, symbol: str | None = None) -> list[FOrder]:
        return [
            o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)
        ]

    def upnl(self, pos: Position, mark: Decimal) -> Decimal:
        return (mark - pos.entry) * pos.qty if pos.qty else ZERO

    def maint(self, fs: FSymbol, pos: Position, mark: Decimal) -> Decimal:
        notional = abs(pos.qty) * mark
        b = fs.bracket(notional)
        return max(notional * b.mmr - b.cum, ZERO)

    def order_margin(self, order: FOrder) -> Decimal:
        if order.reduce_only:
            return ZERO
        return order.left * order.price / self.symbols[order.symbol].leverage

    def isolated_wallets(self) -> Decimal:
        return sum((p.iw for p in self.positions.values()), ZERO)

    def _cross(self) -> tuple[Decimal, Decimal, Decimal]:
        """(cross unrealised P&L, cross positions' initial margin, their maintenance)."""
        upnl = im = mm = ZERO
        for fs in self.symbols.values():
            pos = self.positions[fs.symbol]
            if fs.margin_type != "CROSSED" or pos.qty == 0:
                continue
            mark = self.mark(fs)
            upnl += self.upnl(pos, mark)
            im += abs(pos.qty) * mark / fs.leverage
            mm += self.maint(fs, pos, mark)
        return upnl, im, mm

    def available(self) -> Decimal:
        upnl, im, _ = self._cross()
        orders = sum((self.order_margin(o) for o in self._open()), ZERO)
        cross_wallet = self.wallet - self.isolated_wallets()
        return max(cross_wallet + min(upnl, ZERO) - im - orders, ZERO)

    def liquidation_price(self, fs: FSymbol, pos: Position) -> Decimal:
        if pos.qty == 0:
            return ZERO
        q, side = abs(pos.qty), sign(pos.qty)
        b = fs.bracket(q * self.mark(fs))
        if fs.margin_type == "ISOLATED":
            wallet = pos.iw
        else:
            upnl, _, mm = self._cross()
            own = self.upnl(pos, self.mark(fs))
            wallet = self.wallet - self.isolated_wallets() + (upnl - own)
            wallet -= mm - self.maint(fs, pos, self.mark(fs))
        price = (wallet + b.cum - side * q * pos.entry) / (q * b.mmr - side * q)
        return max(q8(price), ZERO)

    # ================================================================= fills
    def _book(self, symbol: str, kind: str, amount: Decimal, t: int, trade_id: str = "") -> None:
        if amount == 0:
            return
        self.income.append(Income(self._next_tran_id, symbol, kind, amount, t, trade_id))
        self._next_tran_id += 1

    def _fill(
        self,
        order: FOrder,
        fs: FSymbol,
        price: Decimal,
        qty: Decimal,
        now: int,
        *,
        maker: bool,
    ) -> None:
        pos = self.positions[fs.symbol]
        if order.reduce_only:
            if pos.qty == 0 or sign(pos.qty) == order.direction:
                self._close(order, "EXPIRED", now)
                return
            qty = min(qty, abs(pos.qty))
        d = order.direction
        isolated = fs.margin_type == "ISOLATED"
        fee = q8(price * qty * (self.maker_fee if maker else self.taker_fee))
        realized = ZERO
        old = pos.qty
        if old == 0 or sign(old) == d:
            new = old + d * qty
            pos.entry = (abs(old) * pos.entry + qty * price) / abs(new)
            if isolated:
                pos.iw += q8(qty * price / fs.leverage)
            pos.fees += fee
        else:
            closing = min(qty, abs(old))
            realized = q8((price - pos.entry) * closing * sign(old))
            if isolated:
                release = pos.iw if closing == abs(old) else q8(pos.iw * closing / abs(old))
                pos.iw -= release
            pos.fees = pos.fees * (abs(old) - closing) / abs(old) if closing < abs(old) else ZERO
            new = old + d * closing
            rest = qty - closing
            if new == 0:
                pos.entry = ZERO
            if rest > 0:
                new = d * rest
                pos.entry = price
                pos.fees = fee
                if isolated:
                    pos.iw += q8(rest * price / fs.leverage)
        pos.qty = new
        pos.update_time = now
        self.wallet += realized - fee
        trade = FTrade(
            self._next_trade_id,
            order.order_id,
            fs.symbol,
            order.side,
            price,
            qty,
            realized,
            fee,
            maker,
            now,
            order.liquidation,
        )
        self._next_trade_id += 1
        self.trades.append(trade)
        self._book(fs.symbol, "REALIZED_PNL", realized, now, str(trade.trade_id))
        self._book(fs.symbol, "COMMISSION", -fee, now, str(trade.trade_id))
        order.executed_qty += qty
        order.cum_quote += price * qty
        order.status = "FILLED" if order.executed_qty >= order.orig_qty else "PARTIALLY_FILLED"
        order.update_time = now
        self.update_time = now
        self._order_event(order, "CALCULATED" if order.liquidation else "TRADE", now, trade)
        self._account_event("ORDER", now, [fs])
        self._expire_stale_reduce_only(fs, now)

    def _close(self, order: FOrder, status: str, now: int) -> None:
        order.status, order.update_time = status, now
        self._order_event(order, status, now)

    def _expire_stale_reduce_only(self, fs: FSymbol, now: int) -> None:
        pos = self.positions[fs.symbol]
        for o in self._open(fs.symbol):
            if o.reduce_only and (pos.qty == 0 or sign(pos.qty) == o.direction):
                self._close(o, "EXPIRED", now)

    def _check_liquidation(self, fs: FSymbol, now: int) -> None:
        pos = self.positions[fs.symbol]
        if pos.qty == 0:
            return
        mark = self.mark(fs)
        if fs.margin_type == "ISOLATED":
            if pos.iw + self.upnl(pos, mark) <= self.maint(fs, pos, mark):
                self._liquidate(fs, mark, now, pos.iw)
            return
        upnl, _, mm = self._cross()
        if self.wallet - self.isolated_wallets() + upnl <= mm and mm > 0:
            for other in self.symbols.values():
                if other.margin_type == "CROSSED" and self.positions[other.symbol].qty != 0:
                    self._liquidate(other, self.mark(other), now, None)

    def _liquidate(self, fs: FSymbol, mark: Decimal, now: int, margin: Decimal | None) -> None:
        """Close the position at `mark`; `margin`: the isolated wallet, all of it lost (None:
        cross, the loss capped at the cross wallet)."""
        pos = self.positions[fs.symbol]
        for o in self._open(fs.symbol):
            self._close(o, "CANCELED", now)
        before = {"qty": pos.qty, "entry": pos.entry, "iw": pos.iw}
        wallet_before = self.wallet
        order = self._make_order(
            fs,
            side="SELL" if pos.qty > 0 else "BUY",
            order_type="LIQUIDATION",
            tif="IOC",
            price=mark,
            qty=abs(pos.qty),
            reduce_only=True,
            cid=f"autoclose-{now}",
            now=now,
        )
        order.liquidation = True
        saved_fees = self.maker_fee, self.taker_fee
        self.maker_fee = self.taker_fee = ZERO  # the clearance fee is the INSURANCE_CLEAR
        try:
            self._fill(order, fs, mark, abs(pos.qty), now, maker=False)
        finally:
            self.maker_fee, self.taker_fee = saved_fees
        trade = self.trades[-1]
        if margin is not None:
            left = margin + trade.realized_pnl
            if left > 0:
                self._book(fs.symbol, "INSURANCE_CLEAR", -left, now)
                self.wallet -= left
            elif left < 0:  # past the bankruptcy price: the insurance fund pays the rest
                self.wallet -= left
                self.income[-1].income -= left  # the REALIZED_PNL booked: capped at -margin
                trade.realized_pnl -= left
        else:
            cross_wallet = self.wallet - self.isolated_wallets()
            if cross_wallet < 0:
                self._book(fs.symbol, "INSURANCE_CLEAR", -cross_wallet, now)
                self.wallet -= cross_wallet
        if self.wallet != wallet_before + trade.realized_pnl:
            self._account_event("INSURANCE_CLEAR", now, [fs])
        self.liquidations.append(
            {
                "symbol": fs.symbol,
                "time": now,
                "markPrice": fmt(mark),
                "positionAmt": fmt(before["qty"]),
                "entryPrice": fmt(before["entry"]),
                "isolatedWallet": fmt(before["iw"]),
                "marginType": fs.margin_type,
                "orderId": order.order_id,
                "tradeId": trade.trade_id,
                "walletChange": fmt(self.wallet - wallet_before),
            }
        )

    def _make_order(
        self,
        fs: FSymbol,
        *,
        side: str,
        order_type: str,
        tif: str,
        price: Decimal,
        qty: Decimal,
        reduce_only: bool,
        cid: str,
        now: int,
        good_till_date: int = 0,
    ) -> FOrder:
        order = FOrder(
            self._next_order_id,
            fs.symbol,
            cid,
            side,
            order_type,
            tif,
            price,
            qty,
            reduce_only,
            now,
            good_till_date=good_till_date,
            update_time=now,
        )
        self._next_order_id += 1
        self.orders[order.order_id] = order
        if order_type != "LIQUIDATION":
            self._order_event(order, "NEW", now)
        return order

    # ================================================================= endpoints
    def spec(self, symbol: str | None) -> FSymbol:
        if not symbol:
            raise mandatory("symbol")
        fs = self.symbols.get(symbol.upper())
        if fs is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return fs

    def _exchange_info(self, ctx: FCtx) -> Any:
        lim = self.limits
        return {
            "timezone": "UTC",
            "serverTime": ctx.now,
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": lim.weight_limit,
                },
                {
                    "rateLimitType": "ORDERS",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.limiter.orders_1m_limit,
                },
                {
                    "rateLimitType": "ORDERS",
                    "interval": "SECOND",
                    "intervalNum": 10,
                    "limit": lim.orders_10s_limit,
                },
            ],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "0"}],
            "symbols": [fs.info() for fs in self.symbols.values()],
        }

    def next_funding_time(self, now: int) -> int:
        return now + (self.next_funding_base - self.server.clock.base_ms())

    def _premium_row(self, fs: FSymbol, now: int) -> dict[str, Any]:
        mark = self.mark(fs)
        return {
            "symbol": fs.symbol,
            "markPrice": fmt(mark),
            "indexPrice": fmt(mark),
            "estimatedSettlePrice": fmt(mark),
            "lastFundingRate": fmt(fs.funding_rate),
            "interestRate": "0.00010000",
            "nextFundingTime": self.next_funding_time(now),
            "time": now,
        }

    def _premium_index(self, ctx: FCtx) -> Any:
        if ctx.params.get("symbol"):
            return self._premium_row(self.spec(ctx.params["symbol"]), ctx.now)
        return [self._premium_row(fs, ctx.now) for fs in self.symbols.values()]

    def _ticker_price(self, ctx: FCtx) -> Any:
        def row(fs: FSymbol) -> dict[str, Any]:
            return {"symbol": fs.symbol, "price": fmt(self.mark(fs)), "time": ctx.now}

        if ctx.params.get("symbol"):
            return row(self.spec(ctx.params["symbol"]))
        return [row(fs) for fs in self.symbols.values()]

    def _klines(self, ctx: FCtx) -> Any:
        fs = self.spec(ctx.params.get("symbol"))
        interval = ctx.params.get("interval")
        if not interval:
            raise mandatory("interval")
        limit = max(1, min(parse_int("limit", ctx.params.get("limit")) or 500, 1500))
        start = parse_int("startTime", ctx.params.get("startTime"))
        end = parse_int("endTime", ctx.params.get("endTime"))
        spot = self.server.exchange
        if fs.symbol not in spot.symbols:
            return []  # an own-mark symbol without a spot twin has no trade history here
        return spot.klines(spot.symbols[fs.symbol], interval, start, end, limit, ctx.now)

    def _funding_rate(self, ctx: FCtx) -> Any:
        symbol = ctx.params.get("symbol")
        if symbol:
            symbol = self.spec(symbol).symbol
        start = parse_int("startTime", ctx.params.get("startTime"))
        end = parse_int("endTime", ctx.params.get("endTime"))
        limit = max(1, min(parse_int("limit", ctx.params.get("limit")) or 100, 1000))
        rows = [
            r
            for r in self.funding_history
            if (symbol is None or r["symbol"] == symbol)
            and (start is None or r["fundingTime"] >= start)
            and (end is None or r["fundingTime"] <= end)
        ]
        if start is None and end is None:
            return rows[-200:][-limit:]
        return rows[:limit]

    def _leverage_bracket(self, ctx: FCtx) -> Any:
        if ctx.params.get("symbol"):
            fs = self.spec(ctx.params["symbol"])
            return {"symbol": fs.symbol, "brackets": [b.json() for b in fs.brackets]}
        return [
            {"symbol": fs.symbol, "brackets": [b.json() for b in fs.brackets]}
            for fs in self.symbols.values()
        ]

    def _commission_rate(self, ctx: FCtx) -> Any:
        fs = self.spec(ctx.params.get("symbol"))
        return {
            "symbol": fs.symbol,
            "makerCommissionRate": str(self.maker_fee),
            "takerCommissionRate": str(self.taker_fee),
        }

    def _symbol_config_row(self, fs: FSymbol) -> dict[str, Any]:
        return {
            "symbol": fs.symbol,
            "marginType": fs.margin_type,
            "isAutoAddMargin": "false",
            "leverage": fs.leverage,
            "maxNotionalValue": str(fs.max_notional(fs.leverage)),
        }

    def _symbol_config(self, ctx: FCtx) -> Any:
        if ctx.params.get("symbol"):
            return [self._symbol_config_row(self.spec(ctx.params["symbol"]))]
        return [self._symbol_config_row(fs) for fs in self.symbols.values()]

    def _leverage(self, ctx: FCtx) -> Any:
        fs = self.spec(ctx.params.get("symbol"))
        raw = ctx.params.get("leverage")
        if raw is None or raw == "":
            raise mandatory("leverage")
        try:
            leverage = int(raw)
        except ValueError:
            raise BinanceError(400, -4028, f"Leverage {raw} is not valid") from None
        if not 1 <= leverage <= fs.max_leverage():
            raise BinanceError(400, -4028, f"Leverage {raw} is not valid")
        pos = self.positions[fs.symbol]
        if fs.margin_type == "ISOLATED" and pos.qty != 0 and leverage < fs.leverage:
            raise BinanceError(
                400,
                -4161,
                "Leverage reduction is not supported in Isolated Margin Mode with open positions",
            )
        if pos.qty != 0 and abs(pos.qty) * self.mark(fs) > fs.max_notional(leverage):
            raise BinanceError(
                400, -2027, "Exceeded the maximum allowable position at current leverage."
            )
        fs.leverage = leverage
        self.events.append(
            {
                "e": "ACCOUNT_CONFIG_UPDATE",
                "E": ctx.now,
                "T": ctx.now,
                "ac": {"s": fs.symbol, "l": leverage},
            }
        )
        return {
            "leverage": leverage,
            "maxNotionalValue": str(fs.max_notional(leverage)),
            "symbol": fs.symbol,
        }

    def _margin_type(self, ctx: FCtx) -> Any:
        fs = self.spec(ctx.params.get("symbol"))
        kind = (ctx.params.get("marginType") or "").upper()
        if not kind:
            raise mandatory("marginType")
        if kind not in {"ISOLATED", "CROSSED"}:
            raise BinanceError(400, -1130, "Data sent for parameter 'marginType' is not valid.")
        if kind == fs.margin_type:
            raise BinanceError(400, -4046, "No need to change margin type.")
        if self._open(fs.symbol):
            raise BinanceError(
                400, -4047, "Margin type cannot be changed if there exists open orders."
            )
        if self.positions[fs.symbol].qty != 0:
            raise BinanceError(
                400, -4048, "Margin type cannot be changed if there exists position."
            )
        fs.margin_type = kind
        return {"code": 200, "msg": "success"}

    def position_row(self, fs: FSymbol, *, v2: bool) -> dict[str, Any]:
        pos = self.positions[fs.symbol]
        mark = self.mark(fs)
        upnl = self.upnl(pos, mark)
        isolated = fs.margin_type == "ISOLATED"
        notional = pos.qty * mark
        be = ZERO
        if pos.qty:
            be = pos.entry + pos.fees / pos.qty
        row: dict[str, Any] = {
            "symbol": fs.symbol,
            "positionSide": "BOTH",
            "positionAmt": fmt(pos.qty),
            "entryPrice": fmt(pos.entry),
            "breakEvenPrice": fmt(q8(be)),
            "markPrice": fmt(mark),
            "unRealizedProfit": fmt(q8(upnl)),
            "liquidationPrice": fmt(self.liquidation_price(fs, pos)),
            "isolatedMargin": fmt(pos.iw + upnl if isolated and pos.qty else ZERO),
            "notional": fmt(q8(notional)),
            "isolatedWallet": fmt(pos.iw),
            "updateTime": pos.update_time,
        }
        if v2:
            row.update(
                {
                    "leverage": str(fs.leverage),
                    "maxNotionalValue": str(fs.max_notional(fs.leverage)),
                    "marginType": "isolated" if isolated else "cross",
                    "isAutoAddMargin": "false",
                }
            )
        else:
            im = abs(notional) / fs.leverage
            orders_im = sum((self.order_margin(o) for o in self._open(fs.symbol)), ZERO)
            row.update(
                {
                    "marginAsset": "USDT",
                    "initialMargin": fmt(q8(im + orders_im)),
                    "maintMargin": fmt(q8(self.maint(fs, pos, mark))),
                    "positionInitialMargin": fmt(q8(im)),
                    "openOrderInitialMargin": fmt(q8(orders_im)),
                    "adl": 0,
                    "bidNotional": "0",
                    "askNotional": "0",
                }
            )
        return row

    def _position_risk_v2(self, ctx: FCtx) -> Any:
        if ctx.params.get("symbol"):
            return [self.position_row(self.spec(ctx.params["symbol"]), v2=True)]
        return [self.position_row(fs, v2=True) for fs in self.symbols.values()]

    def _position_risk_v3(self, ctx: FCtx) -> Any:
        if ctx.params.get("symbol"):
            names = [self.spec(ctx.params["symbol"]).symbol]
        else:
            names = list(self.symbols)
        return [
            self.position_row(self.symbols[n], v2=False)
            for n in names
            if self.positions[n].qty != 0 or self._open(n)
        ]

    def account_json(self, *, v2: bool) -> dict[str, Any]:
        upnl_all = im_all = mm_all = ZERO
        positions = []
        for fs in self.symbols.values():
            pos = self.positions[fs.symbol]
            mark = self.mark(fs)
            upnl = self.upnl(pos, mark)
            im = abs(pos.qty) * mark / fs.leverage
            mm = self.maint(fs, pos, mark)
            upnl_all += upnl
            im_all += im
            mm_all += mm
            orders_im = sum((self.order_margin(o) for o in self._open(fs.symbol)), ZERO)
            row: dict[str, Any] = {
                "symbol": fs.symbol,
                "positionSide": "BOTH",
                "positionAmt": fmt(pos.qty),
                "unrealizedProfit": fmt(q8(upnl)),
                "isolatedMargin": fmt(pos.iw + upnl if pos.iw else ZERO),
                "notional": fmt(q8(pos.qty * mark)),
                "isolatedWallet": fmt(pos.iw),
                "initialMargin": fmt(q8(im + orders_im)),
                "maintMargin": fmt(q8(mm)),
                "updateTime": pos.update_time,
            }
            if v2:
                row.update(
                    {
                        "positionInitialMargin": fmt(q8(im)),
                        "openOrderInitialMargin": fmt(q8(orders_im)),
                        "leverage": str(fs.leverage),
                        "isolated": fs.margin_type == "ISOLATED",
                        "entryPrice": fmt(pos.entry),
                        "maxNotional": str(fs.max_notional(fs.leverage)),
                        "bidNotional": "0",
                        "askNotional": "0",
                    }
                )
            if v2 or pos.qty != 0 or self._open(fs.symbol):
                positions.append(row)
        orders_im = sum((self.order_margin(o) for o in self._open()), ZERO)
        cross_upnl, _, _ = self._cross()
        cross_wallet = self.wallet - self.isolated_wallets()
        avail = self.available()
        asset = {
            "asset": "USDT",
            "walletBalance": fmt(self.wallet),
            "unrealizedProfit": fmt(q8(upnl_all)),
            "marginBalance": fmt(q8(self.wallet + upnl_all)),
            "maintMargin": fmt(q8(mm_all)),
            "initialMargin": fmt(q8(im_all + orders_im)),
            "positionInitialMargin": fmt(q8(im_all)),
            "openOrderInitialMargin": fmt(q8(orders_im)),
            "crossWalletBalance": fmt(cross_wallet),
            "crossUnPnl": fmt(q8(cross_upnl)),
            "availableBalance": fmt(q8(avail)),
            "maxWithdrawAmount": fmt(q8(avail)),
            "updateTime": self.update_time,
        }
        out: dict[str, Any] = {
            "totalInitialMargin": asset["initialMargin"],
            "totalMaintMargin": asset["maintMargin"],
            "totalWalletBalance": asset["walletBalance"],
            "totalUnrealizedProfit": asset["unrealizedProfit"],
            "totalMarginBalance": asset["marginBalance"],
            "totalPositionInitialMargin": asset["positionInitialMargin"],
            "totalOpenOrderInitialMargin": asset["openOrderInitialMargin"],
            "totalCrossWalletBalance": asset["crossWalletBalance"],
            "totalCrossUnPnl": asset["crossUnPnl"],
            "availableBalance": asset["availableBalance"],
            "maxWithdrawAmount": asset["maxWithdrawAmount"],
            "assets": [asset],
            "positions": positions,
        }
        if v2:
            asset["marginAvailable"] = True
            out = {
                "feeTier": 0,
                "feeBurn": False,
                "canTrade": self.can_trade,
                "canDeposit": True,
                "canWithdraw": True,
                "updateTime": 0,
                "multiAssetsMargin": False,
                "tradeGroupId": -1,
                **out,
            }
        return out

    def _balance(self, ctx: FCtx) -> Any:
        cross_upnl, _, _ = self._cross()
        avail = q8(self.available())
        return [
            {
                "accountAlias": "SgsR",
                "asset": "USDT",
                "balance": fmt(self.wallet),
                "crossWalletBalance": fmt(self.wallet - self.isolated_wallets()),
                "crossUnPnl": fmt(q8(cross_upnl)),
                "availableBalance": fmt(avail),
                "maxWithdrawAmount": fmt(avail),
                "marginAvailable": True,
                "updateTime": self.update_time,
            }
        ]

    # ------------------------------------------------------------------ orders
    def validate_and_place(
        self, p: dict[str, str], now: int, *, visible_at: int = 0
    ) -> tuple[FOrder, str, dict[str, Any]]:
        """Check a new order like Binance; book and execute it. Returns (order, response
        type, the order as accepted) - the ACK answer is the order before it executed."""
        v = self.validate(p)
        fs, side, order_type, tif = v["fs"], v["side"], v["type"], v["tif"]
        price, qty, mark = v["price"], v["qty"], v["mark"]
        order = self._make_order(
            fs,
            side=side,
            order_type=order_type,
            tif=tif,
            price=price,
            qty=qty,
            reduce_only=v["reduce_only"],
            cid=v["cid"],
            now=now,
            good_till_date=v["gtd"],
        )
        order.visible_at = visible_at
        accepted = order.json(answer=True)
        if v["marketable"]:
            self._fill(order, fs, self.taker_price(fs, side, mark), qty, now, maker=False)
            if order.is_open:
                self._close(order, "EXPIRED", now)  # reduce-only cut / IOC rest
        elif tif in {"IOC", "FOK"}:
            self._close(order, "EXPIRED", now)
        return order, v["resp_type"], accepted

    def validate(self, p: dict[str, str]) -> dict[str, Any]:
        """Every check of a new order (nothing booked); the parsed order."""
        fs = self.spec(p.get("symbol"))
        side = (p.get("side") or "").upper()
        if not side:
            raise mandatory("side")
        if side not in {"BUY", "SELL"}:
            raise BinanceError(400, -1117, "Invalid side.")
        order_type = (p.get("type") or "").upper()
        if not order_type:
            raise mandatory("type")
        if order_type not in {"LIMIT", "MARKET"}:
            raise BinanceError(400, -1116, "Invalid orderType.")
        position_side = (p.get("positionSide") or "BOTH").upper()
        if position_side not in {"BOTH", "LONG", "SHORT"}:
            raise BinanceError(400, -4060, "Invalid position side.")
        if position_side != "BOTH":
            raise BinanceError(400, -4061, "Order's position side does not match user's setting.")
        raw_ro = (p.get("reduceOnly") or "false").lower()
        if raw_ro not in {"true", "false"}:
            raise BinanceError(400, -1130, "Data sent for parameter 'reduceOnly' is not valid.")
        reduce_only = raw_ro == "true"
        if (p.get("closePosition") or "false").lower() == "true":
            raise BinanceError(400, -1106, "Parameter 'closePosition' sent when not required.")
        resp_type = (p.get("newOrderRespType") or "ACK").upper()
        if resp_type not in {"ACK", "RESULT"}:
            raise BinanceError(400, -1136, "Invalid newOrderRespType.")
        cid = p.get("newClientOrderId") or random_client_id()
        if not CLIENT_ID_RE.match(cid):
            raise BinanceError(400, -4015, "Client order id is not valid.")
        if any(o.client_order_id == cid for o in self._open(fs.symbol)):
            raise BinanceError(400, -4116, "clientOrderId is duplicated.")
        qty = parse_number("quantity", p.get("quantity"))
        assert qty is not None
        mark = self.mark(fs)
        tif, price, gtd = "GTC", ZERO, 0
        if order_type == "LIMIT":
            tif = (p.get("timeInForce") or "").upper()
            if not tif:
                raise mandatory("timeInForce")
            if tif not in {"GTC", "IOC", "FOK", "GTX", "GTD"}:
                raise BinanceError(400, -1115, "Invalid timeInForce.")
            if tif == "GTD":
                gtd = parse_int("goodTillDate", p.get("goodTillDate"), required=True) or 0
            price_ = parse_number("price", p.get("price"))
            assert price_ is not None
            price = price_
            if price <= 0:
                raise BinanceError(400, -4001, "Price less than 0.")
            if price < fs.min_price:
                raise BinanceError(400, -4013, "Price less than min price.")
            if price > fs.max_price:
                raise BinanceError(400, -4002, "Price greater than max price.")
            if (price - fs.min_price) % fs.tick != 0:
                raise BinanceError(400, -4014, "Price not increased by tick size.")
            up = (mark * fs.multiplier_up).quantize(fs.tick)
            down = (mark * fs.multiplier_down).quantize(fs.tick)
            if side == "BUY" and price > up:
                raise BinanceError(400, -4016, f"Limit price can't be higher than {up}.")
            if side == "SELL" and price < down:
                raise BinanceError(400, -4024, f"Limit price can't be lower than {down}.")
        if qty <= 0:
            raise BinanceError(400, -4003, "Quantity less than or equal to zero.")
        exponent = qty.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > fs.quantity_precision:
            raise BinanceError(400, -1111, "Precision is over the maximum defined for this asset.")
        max_qty = fs.market_max_qty if order_type == "MARKET" else fs.max_qty
        if qty < fs.min_qty:
            raise BinanceError(400, -4004, "Quantity less than min quantity.")
        if qty > max_qty:
            raise BinanceError(400, -4005, "Quantity greater than max quantity.")
        if (qty - fs.min_qty) % fs.step != 0:
            raise BinanceError(400, -4023, "Qty not increased by step size.")
        ref = price if order_type == "LIMIT" else mark
        if not reduce_only and ref * qty < fs.min_notional:
            raise BinanceError(
                400,
                -4164,
                f"Order's notional must be no smaller than {fs.min_notional} "
                "(unless you choose reduce only).",
            )
        if len(self._open(fs.symbol)) >= fs.max_num_orders:
            raise BinanceError(400, -2025, "Reach max open order limit.")
        pos = self.positions[fs.symbol]
        d = 1 if side == "BUY" else -1
        if reduce_only and (pos.qty == 0 or sign(pos.qty) == d):
            raise BinanceError(400, -2022, "ReduceOnly Order is rejected.")
        if not reduce_only:
            opening = qty if sign(pos.qty) in (0, d) else max(qty - abs(pos.qty), ZERO)
            if opening > 0:
                after = abs(pos.qty + d * qty) * mark
                if after > fs.max_notional(fs.leverage):
                    raise BinanceError(
                        400, -2027, "Exceeded the maximum allowable position at current leverage."
                    )
                need = opening * ref / fs.leverage + opening * ref * self.taker_fee
                if need > self.available():
                    raise BinanceError(400, -2019, "Margin is insufficient.")
        marketable = order_type == "MARKET" or (
            (side == "BUY" and price >= mark) or (side == "SELL" and price <= mark)
        )
        if tif == "GTX" and marketable:
            raise BinanceError(
                400,
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be "
                "rejected.",
            )
        return {
            "fs": fs,
            "side": side,
            "type": order_type,
            "tif": tif,
            "price": price,
            "qty": qty,
            "mark": mark,
            "reduce_only": reduce_only,
            "cid": cid,
            "gtd": gtd,
            "resp_type": resp_type,
            "marketable": marketable,
        }

    def _test_order(self, ctx: FCtx) -> Any:
        """Every check of a new order, nothing booked."""
        self.validate(ctx.params)
        return {}

    def _all_orders(self, ctx: FCtx) -> Any:
        fs = self.spec(ctx.params.get("symbol"))
        order_id = parse_int("orderId", ctx.params.get("orderId"))
        start = parse_int("startTime", ctx.params.get("startTime"))
        end = parse_int("endTime", ctx.params.get("endTime"))
        limit = max(1, min(parse_int("limit", ctx.params.get("limit")) or 500, 1000))
        if order_id is None and start is None and end is None:
            start = ctx.now - SEVEN_DAYS_MS
        rows = [
            o.json()
            for o in self.orders.values()
            if o.symbol == fs.symbol
            and self._visible(o)
            and (order_id is None or o.order_id >= order_id)
            and (start is None or o.time >= start)
            and (end is None or o.time <= end)
        ]
        return rows[:limit] if order_id is not None else rows[-limit:]

    def taker_price(self, fs: FSymbol, side: str, mark: Decimal) -> Decimal:
        """Where a taker fills: `taker_slippage` worse than the mark, on the tick."""
        if side == "BUY":
            worse = mark * (ONE + self.taker_slippage)
            return (worse / fs.tick).to_integral_value(rounding=ROUND_CEILING) * fs.tick
        worse = mark * (ONE - self.taker_slippage)
        return (worse / fs.tick).to_integral_value(rounding=ROUND_FLOOR) * fs.tick

    def _visible(self, order: FOrder) -> bool:
        return order.visible_at <= self.server.clock.base_ms()

    def _new_order(self, ctx: FCtx) -> Any:
        visible_at = ctx.base + ctx.visible_after_ms if ctx.visible_after_ms else 0
        order, resp_type, accepted = self.validate_and_place(
            ctx.params, ctx.now, visible_at=visible_at
        )
        if resp_type == "ACK":
            return accepted
        return order.json(answer=True)

    def _find(self, ctx: FCtx) -> FOrder | None:
        fs = self.spec(ctx.params.get("symbol"))
        order_id = parse_int("orderId", ctx.params.get("orderId"))
        cid = ctx.params.get("origClientOrderId") or None
        if order_id is None and cid is None:
            raise BinanceError(
                400,
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order_id is not None:
            order = self.orders.get(order_id)
            if order is None or order.symbol != fs.symbol:
                return None
            if cid is not None and order.client_order_id != cid:
                return None
            return order
        found = [
            o for o in self.orders.values() if o.symbol == fs.symbol and o.client_order_id == cid
        ]
        return found[-1] if found else None

    def _get_order(self, ctx: FCtx) -> Any:
        order = self._find(ctx)
        if order is None or not self._visible(order):
            raise BinanceError(400, -2013, "Order does not exist.")
        return order.json()

    def _cancel_order(self, ctx: FCtx) -> Any:
        order = self._find(ctx)
        if order is None or not order.is_open:
            raise BinanceError(400, -2011, "Unknown order sent.")
        self._close(order, "CANCELED", ctx.now)
        return order.json(answer=True)

    def _open_orders(self, ctx: FCtx) -> Any:
        symbol = self.spec(ctx.params["symbol"]).symbol if ctx.params.get("symbol") else None
        return [o.json() for o in self._open(symbol) if self._visible(o)]

    def _cancel_all(self, ctx: FCtx) -> Any:
        fs = self.spec(ctx.params.get("symbol"))
        for o in self._open(fs.symbol):
            self._close(o, "CANCELED", ctx.now)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _user_trades(self, ctx: FCtx) -> Any:
        fs = self.spec(ctx.params.get("symbol"))
        order_id = parse_int("orderId", ctx.params.get("orderId"))
        start = parse_int("startTime", ctx.params.get("startTime"))
        end = parse_int("endTime", ctx.params.get("endTime"))
        from_id = parse_int("fromId", ctx.params.get("fromId"))
        limit = max(1, min(parse_int("limit", ctx.params.get("limit")) or 500, 1000))
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(
                400, -1128, "The parameter 'fromId' cannot be sent with 'startTime' or 'endTime'."
            )
        if start is None and end is None and from_id is None:
            start = ctx.now - SEVEN_DAYS_MS
        out = [
            t.json()
            for t in self.trades
            if t.symbol == fs.symbol
            and self._visible(self.orders[t.order_id])
            and (order_id is None or t.order_id == order_id)
            and (start is None or t.time >= start)
            and (end is None or t.time <= end)
            and (from_id is None or t.trade_id >= from_id)
        ]
        return out[:limit] if from_id is not None or start is not None else out[-limit:]

    def _income(self, ctx: FCtx) -> Any:
        symbol = ctx.params.get("symbol")
        kind = ctx.params.get("incomeType")
        start = parse_int("startTime", ctx.params.get("startTime"))
        end = parse_int("endTime", ctx.params.get("endTime"))
        limit = max(1, min(parse_int("limit", ctx.params.get("limit")) or 100, 1000))
        page = max(1, parse_int("page", ctx.params.get("page")) or 1)
        if start is None and end is None:
            start = ctx.now - SEVEN_DAYS_MS
        rows = [
            i.json()
            for i in self.income
            if (not symbol or i.symbol == symbol)
            and (not kind or i.income_type == kind)
            and (start is None or i.time >= start)
            and (end is None or i.time <= end)
        ]
        return rows[(page - 1) * limit : page * limit]

    def _force_orders(self, ctx: FCtx) -> Any:
        symbol = self.spec(ctx.params["symbol"]).symbol if ctx.params.get("symbol") else None
        limit = max(1, min(parse_int("limit", ctx.params.get("limit")) or 50, 100))
        rows = [
            o.json() for o in self.orders.values() if o.liquidation and symbol in (None, o.symbol)
        ]
        return rows[-limit:]

    # ================================================================= user data stream
    def _order_event(
        self, order: FOrder, execution: str, now: int, trade: FTrade | None = None
    ) -> None:
        avg = order.cum_quote / order.executed_qty if order.executed_qty else ZERO
        self.events.append(
            {
                "e": "ORDER_TRADE_UPDATE",
                "E": now,
                "T": now,
                "o": {
                    "s": order.symbol,
                    "c": order.client_order_id,
                    "S": order.side,
                    "o": order.type,
                    "f": order.time_in_force,
                    "q": fmt(order.orig_qty),
                    "p": fmt(order.price),
                    "ap": fmt(avg),
                    "sp": "0",
                    "x": execution,
                    "X": order.status,
                    "i": order.order_id,
                    "l": fmt(trade.qty if trade else ZERO),
                    "z": fmt(order.executed_qty),
                    "L": fmt(trade.price if trade else ZERO),
                    "N": "USDT",
                    "n": fmt(trade.commission if trade else ZERO),
                    "T": now,
                    "t": trade.trade_id if trade else 0,
                    "b": "0",
                    "a": "0",
                    "m": bool(trade and trade.maker),
                    "R": order.reduce_only,
                    "wt": "CONTRACT_PRICE",
                    "ot": order.type,
                    "ps": "BOTH",
                    "cp": False,
                    "rp": fmt(trade.realized_pnl if trade else ZERO),
                    "pP": False,
                    "si": 0,
                    "ss": 0,
                    "V": "EXPIRE_MAKER",
                    "pm": "NONE",
                    "gtd": order.good_till_date,
                },
            }
        )

    def _account_event(
        self, reason: str, now: int, symbols: list[FSymbol], change: Decimal = ZERO
    ) -> None:
        rows = []
        for fs in symbols:
            pos = self.positions[fs.symbol]
            mark = self.mark(fs)
            be = pos.entry + pos.fees / pos.qty if pos.qty else ZERO
            rows.append(
                {
                    "s": fs.symbol,
                    "pa": fmt(pos.qty),
                    "ep": fmt(pos.entry),
                    "bep": fmt(q8(be)),
                    "cr": "0",
                    "up": fmt(q8(self.upnl(pos, mark))),
                    "mt": "isolated" if fs.margin_type == "ISOLATED" else "cross",
                    "iw": fmt(pos.iw),
                    "ps": "BOTH",
                }
            )
        self.events.append(
            {
                "e": "ACCOUNT_UPDATE",
                "E": now,
                "T": now,
                "a": {
                    "m": reason,
                    "B": [
                        {
                            "a": "USDT",
                            "wb": fmt(self.wallet),
                            "cw": fmt(self.wallet - self.isolated_wallets()),
                            "bc": fmt(change),
                        }
                    ],
                    "P": rows,
                },
            }
        )

    def _check_margin_call(self, fs: FSymbol, now: int) -> None:
        """MARGIN_CALL once each time a position's maintenance margin reaches
        `MARGIN_CALL_RATIO` of its margin balance (isolated: its isolated wallet + P&L)."""
        pos = self.positions[fs.symbol]
        mark = self.mark(fs)
        mm = self.maint(fs, pos, mark)
        if pos.qty == 0 or mm == 0:
            self._margin_called.discard(fs.symbol)
            return
        isolated = fs.margin_type == "ISOLATED"
        if isolated:
            balance = pos.iw + self.upnl(pos, mark)
        else:
            upnl, _, mm = self._cross()
            balance = self.wallet - self.isolated_wallets() + upnl
        if balance > 0 and mm / balance < MARGIN_CALL_RATIO:
            self._margin_called.discard(fs.symbol)
            return
        if fs.symbol in self._margin_called:
            return
        self._margin_called.add(fs.symbol)
        event: dict[str, Any] = {
            "e": "MARGIN_CALL",
            "E": now,
            "p": [
                {
                    "s": fs.symbol,
                    "ps": "BOTH",
                    "pa": fmt(pos.qty),
                    "mt": fs.margin_type,
                    "iw": fmt(pos.iw),
                    "mp": fmt(mark),
                    "up": fmt(q8(self.upnl(pos, mark))),
                    "mm": fmt(q8(self.maint(fs, pos, mark))),
                }
            ],
        }
        if not isolated:
            event["cw"] = fmt(self.wallet - self.isolated_wallets())
        self.events.append(event)

    def _valid_key(self) -> str | None:
        base = self.server.clock.base_ms()
        for key, expires in list(self.listen_keys.items()):
            if expires <= base:
                del self.listen_keys[key]
        return next(iter(self.listen_keys), None)

    def _listen_key_new(self, ctx: FCtx) -> Any:
        key = self._valid_key() or secrets.token_urlsafe(48)[:64]
        self.listen_keys[key] = ctx.base + LISTEN_KEY_MS
        return {"listenKey": key}

    def _listen_key_keep(self, ctx: FCtx) -> Any:
        key = self._valid_key()
        if key is None or ctx.params.get("listenKey", key) != key:
            raise BinanceError(
                400,
                -1125,
                "This listenKey does not exist. Please use `POST /fapi/v1/listenKey` to recreate "
                "`listenKey`",
            )
        self.listen_keys[key] = ctx.base + LISTEN_KEY_MS
        return {"listenKey": key}

    def _listen_key_close(self, ctx: FCtx) -> Any:
        self.listen_keys.clear()
        return {}

    async def ws_stream(self, request: web.Request) -> web.StreamResponse:
        """``/fstream/private/ws?listenKey=K`` (python-binance's futures_user_socket) or
        ``/fstream/ws/K``: every user-data event from the connection on, as JSON text."""
        tail = request.match_info.get("tail", "")
        key = request.query.get("listenKey") or tail.removeprefix("ws/")
        srv = self.server
        with srv.lock:
            valid = key and key == self._valid_key()
            start = len(self.events)
        if not valid:
            return web.json_response({"code": -1125, "msg": "Invalid listenKey."}, status=400)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        reader = asyncio.ensure_future(_drain(ws))  # answers the client's close frame
        try:
            await self._pump(ws, key, start, reader, self.stream_generation)
        finally:
            reader.cancel()
        return ws

    async def _pump(
        self,
        ws: web.WebSocketResponse,
        key: str,
        sent: int,
        reader: asyncio.Future[None],
        generation: int,
    ) -> None:
        srv = self.server
        while not ws.closed and not reader.done():
            stopping = srv._stopping is not None and srv._stopping.is_set()
            stopping = stopping or generation != self.stream_generation
            with srv.lock:
                gone = stopping or srv.futures is not self
                if not gone:
                    self.sync(srv.clock.now_ms())
                    gone = key != self._valid_key()
                batch = self.events[sent:]
                sent += len(batch)
            for event in batch:
                with srv.lock:
                    times = self._fault_copies(event)
                for _ in range(times):
                    await ws.send_str(json.dumps(event, separators=(",", ":")))
            if gone:
                if not stopping:  # the key expired, was closed, or the fake was reset
                    # (stopping: the fake shuts down, or futures_stream_drop: no goodbye)
                    expired = {"e": "listenKeyExpired", "E": srv.clock.now_ms(), "listenKey": key}
                    await ws.send_str(json.dumps(expired, separators=(",", ":")))
                await ws.close()
                break
            await asyncio.sleep(0.02)

    def _fault_copies(self, event: dict[str, Any]) -> int:
        """How many times `event` goes out under `stream_fault` (1 without one)."""
        if self.stream_fault is None:
            return 1
        kind, left = self.stream_fault
        if kind == "lose" and not (
            event.get("e") == "ORDER_TRADE_UPDATE" and event["o"].get("x") == "TRADE"
        ):
            return 1
        if left is not None:
            self.stream_fault = (kind, left - 1) if left > 1 else None
        self.stream_faults_fired[kind] = self.stream_faults_fired.get(kind, 0) + 1
        return 2 if kind == "duplicate" else 0

    # ================================================================= control
    def control(self, name: str, p: dict[str, Any], now: int) -> Any:
        """A ``futures_*`` control command (the caller holds the server's lock)."""
        self.sync(now)
        cmd = name.removeprefix("futures_")
        if cmd == "mark_price":
            fs = self.spec(str(p["symbol"]))
            if p.get("price") is None:
                spot = self.server.exchange.symbols.get(fs.symbol)
                fs.own_mark = spot is None
                if spot is not None and spot.history:  # follow the spot price from now on
                    fs.seen_ms = spot.history[-1][0]
                    fs.seen_n = len(spot.history) - bisect.bisect_left(
                        spot.history, fs.seen_ms, key=_ms
                    )
                    self._on_mark(fs, spot.price, now)
                return {"symbol": fs.symbol, "markPrice": fmt(self.mark(fs)), "own": fs.own_mark}
            fs.own_mark, fs.path, fs.path_index = True, [], 0
            self._set_own_mark(fs, dec(p["price"]), now)
            return {"symbol": fs.symbol, "markPrice": fmt(fs.price), "own": True}
        if cmd == "mark_price_path":
            fs = self.spec(str(p["symbol"]))
            prices = [dec(x) for x in p["prices"]]
            if not prices:
                raise ValueError("a price path needs at least one price")
            fs.own_mark, fs.path, fs.path_index = True, prices, 0
            fs.path_loop = bool(p.get("loop", False))
            self._set_own_mark(fs, prices[0], now)
            return {"symbol": fs.symbol, "markPrice": fmt(fs.price)}
        if cmd == "step":
            n = int(p.get("n", 1))
            if n < 0:
                raise ValueError("n must be >= 0")
            for _ in range(n):
                for fs in self.symbols.values():
                    if not fs.own_mark or not fs.path:
                        continue
                    nxt = fs.path_index + 1
                    if nxt >= len(fs.path):
                        if not fs.path_loop:
                            continue
                        nxt = 0
                    fs.path_index = nxt
                    self._set_own_mark(fs, fs.path[nxt], now)
            return {s: fmt(self.mark(fs)) for s, fs in self.symbols.items()}
        if cmd == "funding_rate":
            names = [self.spec(str(p["symbol"])).symbol] if p.get("symbol") else list(self.symbols)
            for n in names:
                self.symbols[n].funding_rate = dec(p["rate"])
            return {n: fmt(self.symbols[n].funding_rate) for n in names}
        if cmd == "can_trade":
            self.can_trade = bool(p["can_trade"])
            return {"canTrade": self.can_trade}
        if cmd == "stream_drop":
            self.stream_generation += 1
            return {"ok": True}
        if cmd == "stream_faults_fired":
            return dict(self.stream_faults_fired)
        if cmd == "stream_fault":
            kind = str(p["kind"])
            if kind not in ("duplicate", "lose", "none"):
                raise ValueError("futures stream faults: duplicate, lose, none")
            count = p.get("count")
            self.stream_fault = None if kind == "none" else (kind, count)
            return {"fired": dict(self.stream_faults_fired)}
        if cmd == "funding_now":
            self._fund(now)
            return {"ok": True}
        if cmd == "next_funding":
            base = self.server.clock.base_ms()
            return {
                "nextFundingTime": self.next_funding_time(now),
                "in_ms": self.next_funding_base - base,
            }
        if cmd == "set_balance":
            change = dec(p["USDT"]) - self.wallet
            self.wallet = dec(p["USDT"])
            self._account_event("DEPOSIT" if change >= 0 else "WITHDRAW", now, [], change=change)
            return {"USDT": fmt(self.wallet)}
        if cmd == "symbol_config":
            fs = self.spec(str(p["symbol"]))
            if "leverage" in p:
                fs.leverage = int(p["leverage"])
            if "margin_type" in p:
                fs.margin_type = str(p["margin_type"]).upper()
            return self._symbol_config_row(fs)
        if cmd == "foreign_order":
            req = {
                "symbol": str(p["symbol"]),
                "side": str(p["side"]).upper(),
                "type": "MARKET",
                "quantity": format(dec(p["qty"]), "f"),
                "newClientOrderId": f"web_{random_client_id()[:20]}",
            }
            if p.get("price") is not None:  # a resting LIMIT order
                req.update(type="LIMIT", timeInForce="GTC", price=format(dec(p["price"]), "f"))
            try:
                order, _, _ = self.validate_and_place(req, now)
            except BinanceError as exc:
                raise ValueError(f"foreign order refused: {exc.code} {exc.msg}") from exc
            order.foreign = True
            return order.json()
        if cmd == "limits":
            for k, v in p.items():
                if k == "orders_1m_limit":
                    self.limiter.orders_1m_limit = int(v)
                elif hasattr(self.limits, k):
                    setattr(self.limits, k, int(v))
                else:
                    raise ValueError(f"unknown futures limit {k!r}")
            return {**vars(self.limits), "orders_1m_limit": self.limiter.orders_1m_limit}
        if cmd == "unban":
            self.limiter.lift_bans()
            return {"ok": True}
        if cmd == "positions":
            return [self.position_row(fs, v2=True) for fs in self.symbols.values()]
        if cmd == "orders":
            return [o.json() for o in self.orders.values()]
        if cmd == "open_orders":
            return [o.json() for o in self._open()]
        if cmd == "trades":
            return [{**t.json(), "liquidation": t.liquidation} for t in self.trades]
        if cmd == "income":
            return [i.json() for i in self.income]
        if cmd == "events":
            return [dict(e) for e in self.events]
        if cmd == "liquidations":
            return [dict(x) for x in self.liquidations]
        if cmd == "account":
            return self.account_json(v2=True)
        if cmd == "stats":
            base = self.server.clock.base_ms()
            return {
                "weight_used_1m": self.limiter.total_weight_used(base),
                "orders_10s": self.limiter.orders_10s.current(base),
                "orders_1m": self.limiter.orders_1m.current(base),
                "bans": self.limiter.bans_total,
            }
        raise KeyError(f"unknown control command {name!r}")

    def _set_own_mark(self, fs: FSymbol, price: Decimal, now: int) -> None:
        if price <= 0:
            raise ValueError("price must be positive")
        fs.price = price
        self._on_mark(fs, price, now)


def _ms(entry: tuple[int, Decimal]) -> int:
    return entry[0]


class FuturesFixtureMixin:
    """The futures helpers of `fixture.FakeBinance` (each is one ``futures_*`` control)."""

    def control(self, name: str, payload: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError  # provided by FakeBinance

    def futures_set_mark_price(self, symbol: str, price: float | None) -> None:
        """Give `symbol` its own mark price (None: follow the spot price again)."""
        self.control("futures_mark_price", {"symbol": symbol, "price": price})

    def futures_set_mark_price_path(
        self, symbol: str, prices: list[float], *, loop: bool = False
    ) -> None:
        """Its own mark price path: ``prices[0]`` at once, one entry per `futures_step`."""
        self.control("futures_mark_price_path", {"symbol": symbol, "prices": prices, "loop": loop})

    def futures_step(self, n: int = 1) -> dict[str, str]:
        """Advance the own mark price paths (a spot-following mark moves with `step`)."""
        return dict(self.control("futures_step", {"n": n}))

    def futures_set_funding_rate(self, rate: float, symbol: str | None = None) -> None:
        self.control("futures_funding_rate", {"rate": rate, "symbol": symbol})

    def futures_fund_now(self) -> None:
        """Book a funding event now (besides the 8-hourly ones)."""
        self.control("futures_funding_now")

    def futures_next_funding_in_s(self) -> float:
        """Seconds of the limits clock until the next funding (`advance_clock` past it)."""
        return float(self.control("futures_next_funding")["in_ms"]) / 1000

    def futures_set_balance(self, usdt: float) -> None:
        """The futures wallet balance (USDT)."""
        self.control("futures_set_balance", {"USDT": usdt})

    def futures_set_symbol_config(
        self, symbol: str, *, leverage: int | None = None, margin_type: str | None = None
    ) -> dict[str, Any]:
        """Set a symbol's leverage / margin type as if done elsewhere (no checks)."""
        p: dict[str, Any] = {"symbol": symbol}
        if leverage is not None:
            p["leverage"] = leverage
        if margin_type is not None:
            p["margin_type"] = margin_type
        return dict(self.control("futures_symbol_config", p))

    def futures_foreign_order(
        self, symbol: str, side: str, qty: float, price: float | None = None
    ) -> dict[str, Any]:
        """A MARKET order "by someone else" on this futures account (``web_...``); with
        `price` a resting LIMIT GTC order."""
        p = {"symbol": symbol, "side": side, "qty": qty, "price": price}
        return dict(self.control("futures_foreign_order", p))

    def futures_set_limits(self, **limits: int) -> None:
        """``weight_limit``, ``orders_10s_limit``, ``orders_1m_limit``, ``ban_after``..."""
        self.control("futures_limits", limits)

    def futures_unban(self) -> None:
        self.control("futures_unban")

    def futures_positions(self) -> list[dict[str, Any]]:
        """Every symbol's position, in the shape of ``GET /fapi/v2/positionRisk``."""
        return list(self.control("futures_positions"))

    def futures_orders(self) -> list[dict[str, Any]]:
        return list(self.control("futures_orders"))

    def futures_open_orders(self) -> list[dict[str, Any]]:
        return list(self.control("futures_open_orders"))

    def futures_trades(self) -> list[dict[str, Any]]:
        """Every fill (``GET /fapi/v1/userTrades`` shape plus ``liquidation``)."""
        return list(self.control("futures_trades"))

    def futures_income(self) -> list[dict[str, Any]]:
        return list(self.control("futures_income"))

    def futures_liquidations(self) -> list[dict[str, Any]]:
        """Every liquidation so far (a daemon's tests assert this stays empty)."""
        return list(self.control("futures_liquidations"))

    def futures_account(self) -> dict[str, Any]:
        """``GET /fapi/v2/account`` as it is now."""
        return dict(self.control("futures_account"))

    def futures_set_can_trade(self, can_trade: bool) -> None:
        """The futures account's ``canTrade`` (``GET /fapi/v2/account``) from now on."""
        self.control("futures_can_trade", {"can_trade": can_trade})

    def futures_stats(self) -> dict[str, Any]:
        return dict(self.control("futures_stats"))

    def futures_stream_drop(self) -> None:
        """Close every open user-data WebSocket without a word (the key stays valid)."""
        self.control("futures_stream_drop")

    def futures_stream_fault(self, kind: str, count: int | None = 1) -> dict[str, Any]:
        """A fault on the futures user data stream: "duplicate" (each event sent twice) or
        "lose" (a fill's ORDER_TRADE_UPDATE not sent) for `count` events (None: until
        "none" is set); returns how often each kind fired so far."""
        return dict(self.control("futures_stream_fault", {"kind": kind, "count": count}))

    def futures_stream_faults_fired(self) -> dict[str, int]:
        return dict(self.control("futures_stream_faults_fired"))

    def futures_events(self) -> list[dict[str, Any]]:
        """Every user-data-stream event so far (what ``/fstream`` sends)."""
        return list(self.control("futures_events"))

    def futures_stream_url(self) -> str:
        """Set python-binance's ``FSTREAM_URL`` to this (``ws://host:port/fstream/``)."""
        url: str = getattr(self, "url", "")
        return url.replace("http://", "ws://", 1) + "/fstream/"


async def _drain(ws: web.WebSocketResponse) -> None:
    async for _msg in ws:  # the client says nothing the fake needs
        pass


def futures_ws_handler(
    server: FakeBinanceServer,
) -> Callable[[web.Request], Any]:
    """The aiohttp handler of ``/fstream/...`` (whichever `FuturesExchange` is current)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return await server.futures.ws_stream(request)

    return handle


def _klines_weight(params: dict[str, str]) -> int:
    try:
        limit = int(params.get("limit") or 500)
    except ValueError:
        limit = 500
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
