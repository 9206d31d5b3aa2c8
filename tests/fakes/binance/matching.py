"""The fake exchange's book-keeping: symbols and filters, balances, orders, fills.

Pure state, no HTTP and no locking (the server holds one lock around every call).
Every number is a `Decimal`; JSON shows them as Binance does, strings with 8 decimals.
Documented Binance behaviour is cited from its spot API docs (``binance-spot-api-docs``:
``faqs/market_orders_faq.md``, ``faqs/commission_faq.md``, ``faqs/stp_faq.md``,
``filters.md``, ``errors.md``, ``enums.md``).

Price model: each symbol has a *current price* (the last trade price) and an optional
scripted *price path*. ``set_price_path(symbol, [p0, p1, ...])`` makes p0 current at once;
each ``step()`` moves to the next entry (the last one stays current, or the path wraps if
``loop``). After every price change and every step the book refills and the open LIMIT
orders of that symbol are matched.

The book (``book_levels`` levels a side; ``None`` = the kind world: one level at the
current price, infinitely deep): asks at ``price + gap*i``, bids at ``price - gap*(i+1)``
(``gap`` = ``book_gap_ticks`` ticks), each ``depth_qty`` deep. Consumed liquidity stays
consumed until the next price change/step.

- a MARKET order walks the book (one ``fills`` entry per level); when the book runs out it
  ends EXPIRED with ``executedQty < origQty`` (``market_orders_faq.md``);
- a LIMIT order that is marketable when placed walks the book up to its limit price; the
  rest rests (GTC, PARTIALLY_FILLED), expires (IOC) - a FOK that cannot fill in full
  expires with no fill;
- a resting LIMIT BUY fills at its own price when the price reaches it or goes below (a
  SELL: reaches it or goes above), at most ``depth_qty`` per price change/step (maker), so
  a large order fills over several steps;
- our own resting orders sit in the book at their price: a taker reaching one applies its
  ``selfTradePreventionMode`` (``stp_faq.md``): EXPIRE_TAKER/EXPIRE_MAKER/EXPIRE_BOTH
  expire the order(s) with status EXPIRED_IN_MATCH, NONE trades with itself;
- a symbol not TRADING refuses new orders (-2010 "Market is closed.") and matches nothing.

Commission (``commission_faq.md``): ``fee_rate`` of what is received, in the received
asset (BUY: base; SELL: quote). With ``bnb_fees`` it is paid in BNB at a 25% discount
while the free BNB balance covers it (price: the ``BNB<quote>`` symbol if there is one,
else ``bnb_price``), else in full from the received asset.
"""

from __future__ import annotations

import bisect
import re
import secrets
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

# Quote assets tried, longest first, when a symbol does not say its base/quote.
KNOWN_QUOTES = (
    "FDUSD",
    "USDT",
    "USDC",
    "BUSD",
    "TUSD",
    "EUR",
    "TRY",
    "BTC",
    "ETH",
    "BNB",
)

CLIENT_ORDER_ID_RE = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
NUMBER_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
KLINE_INTERVALS_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
ZERO = Decimal(0)
# enums.md "Symbol status"; stp_faq.md (DECREMENT/TRANSFER are not modelled)
SYMBOL_STATUSES = ("TRADING", "END_OF_DAY", "HALT", "BREAK", "CANCEL_ONLY")
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
CLOSED_UNFILLED = {"CANCELED", "EXPIRED", "EXPIRED_IN_MATCH"}
# rest-api.md "Query Commission Rates": the standard commission is multiplied by `discount`
# when BNB pays it (0.75 = 25% off)
BNB_DISCOUNT = Decimal("0.75")
ARCHIVE_AFTER_MS = 90 * 86_400_000  # errors.md -2026: "... over 90 days ago ..."


class BinanceError(Exception):
    """An error answer: HTTP ``status`` with the JSON body ``{"code": code, "msg": msg}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def check_all_read(known: frozenset[str] | set[str] | None, params: dict[str, str]) -> None:
    """errors.md -1104 UNREAD_PARAMETERS: a request with a parameter the endpoint does not
    read (`known` None: the endpoint reads whatever it is sent)."""
    if known is None:
        return
    read = [k for k in params if k in known]
    if len(read) != len(params):
        raise BinanceError(
            400,
            -1104,
            "Not all sent parameters were read; read "
            f"'{len(read)}' parameter(s) but was sent '{len(params)}'.",
        )


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        400,
        -1102,
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
    )


def illegal(name: str, legal: str) -> BinanceError:
    return BinanceError(
        400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def filter_failure(name: str) -> BinanceError:
    return BinanceError(400, -1013, f"Filter failure: {name}")


def dec(value: Any) -> Decimal:
    """A float/int/str from configuration as an exact Decimal (floats via their repr)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def fmt(value: Decimal | None, places: int = 8) -> str:
    """Binance's number format: a string with 8 decimals (``"0.00100000"``)."""
    if value is None:
        value = ZERO
    return f"{value:.{places}f}"


def parse_number(name: str, raw: str | None, *, required: bool = True) -> Decimal | None:
    """A decimal request parameter; ``1e-05`` is refused like Binance does (-1100)."""
    if raw is None or raw == "":
        if required:
            raise mandatory(name)
        return None
    if not NUMBER_RE.match(raw):
        raise illegal(name, r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
    try:
        return Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise illegal(name, r"^([0-9]{1,20})(\.[0-9]{1,20})?$") from exc


def parse_int(name: str, raw: str | None, *, required: bool = False) -> int | None:
    if raw is None or raw == "":
        if required:
            raise mandatory(name)
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise illegal(name, r"^-?[0-9]{1,20}$") from exc


@dataclass
class SymbolSpec:
    """One symbol: assets, filters, current price and scripted path."""

    symbol: str
    base: str
    quote: str
    price: Decimal
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_price: Decimal
    max_price: Decimal
    min_notional: Decimal
    max_notional: Decimal
    notional_filter: str  # "NOTIONAL" | "MIN_NOTIONAL" | "BOTH"
    depth_qty: Decimal
    kline_volume: Decimal
    book_gap: Decimal = ZERO  # price distance between book levels (0: one tick)
    avg_price_mins: int = 5
    market_min_qty: Decimal = ZERO
    market_max_qty: Decimal = Decimal(100)
    market_step: Decimal = ZERO
    bid_up: Decimal = Decimal(5)
    bid_down: Decimal = Decimal("0.2")
    ask_up: Decimal = Decimal(5)
    ask_down: Decimal = Decimal("0.2")
    max_num_orders: int = 200
    status: str = "TRADING"
    used_asks: dict[int, Decimal] = field(default_factory=dict)  # level -> qty taken
    used_bids: dict[int, Decimal] = field(default_factory=dict)
    path: list[Decimal] = field(default_factory=list)
    path_index: int = 0
    path_loop: bool = False
    history: list[tuple[int, Decimal]] = field(default_factory=list)  # (ms, price) sorted

    @classmethod
    def from_config(cls, symbol: str, cfg: dict[str, Any]) -> SymbolSpec:
        base, quote = cfg.get("base"), cfg.get("quote")
        if not base or not quote:
            for q in KNOWN_QUOTES:
                if symbol.endswith(q) and len(symbol) > len(q):
                    base, quote = symbol[: -len(q)], q
                    break
            else:
                raise ValueError(f"cannot split {symbol!r} into base/quote; give base= and quote=")
        tick = dec(cfg.get("tick", 0.01))
        step = dec(cfg.get("step", 0.00001))
        kind = str(cfg.get("notional_filter", "NOTIONAL")).upper()
        if kind not in {"NOTIONAL", "MIN_NOTIONAL", "BOTH"}:
            raise ValueError(f"notional_filter must be NOTIONAL, MIN_NOTIONAL or BOTH, not {kind}")
        return cls(
            symbol=symbol,
            base=str(base),
            quote=str(quote),
            price=dec(cfg.get("price", 100.0)),
            tick=tick,
            step=step,
            min_qty=dec(cfg.get("min_qty", step)),
            max_qty=dec(cfg.get("max_qty", 9_000_000)),
            min_price=dec(cfg.get("min_price", tick)),
            max_price=dec(cfg.get("max_price", 1_000_000)),
            min_notional=dec(cfg.get("min_notional", 5.0)),
            max_notional=dec(cfg.get("max_notional", 9_000_000)),
            notional_filter=kind,
            depth_qty=dec(cfg.get("depth_qty", 1.0)),
            kline_volume=dec(cfg.get("kline_volume", 1.0)),
            book_gap=tick * int(cfg.get("book_gap_ticks", 1)),
            avg_price_mins=int(cfg.get("avg_price_mins", 5)),
            market_min_qty=dec(cfg.get("market_min_qty", cfg.get("min_qty", step))),
            market_max_qty=dec(cfg.get("market_max_qty", 100)),
            market_step=dec(cfg.get("market_step", step)),
            bid_up=dec(cfg.get("bid_multiplier_up", 5)),
            bid_down=dec(cfg.get("bid_multiplier_down", 0.2)),
            ask_up=dec(cfg.get("ask_multiplier_up", 5)),
            ask_down=dec(cfg.get("ask_multiplier_down", 0.2)),
            max_num_orders=int(cfg.get("max_num_orders", 200)),
            status=_symbol_status(str(cfg.get("status", "TRADING"))),
        )

    def filters(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(self.min_price),
                "maxPrice": fmt(self.max_price),
                "tickSize": fmt(self.tick),
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": str(self.bid_up),
                "bidMultiplierDown": str(self.bid_down),
                "askMultiplierUp": str(self.ask_up),
                "askMultiplierDown": str(self.ask_down),
                "avgPriceMins": self.avg_price_mins,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(self.min_qty),
                "maxQty": fmt(self.max_qty),
                "stepSize": fmt(self.step),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": fmt(self.market_min_qty),
                "maxQty": fmt(self.market_max_qty),
                "stepSize": fmt(self.market_step),
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": self.max_num_orders},
        ]
        if self.notional_filter in {"MIN_NOTIONAL", "BOTH"}:
            out.append(
                {
                    "filterType": "MIN_NOTIONAL",
                    "minNotional": fmt(self.min_notional),
                    "applyToMarket": True,
                    "avgPriceMins": self.avg_price_mins,
                }
            )
        if self.notional_filter in {"NOTIONAL", "BOTH"}:
            out.append(
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fmt(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": fmt(self.max_notional),
                    "applyMaxToMarket": False,
                    "avgPriceMins": self.avg_price_mins,
                }
            )
        return out

    def info(self) -> dict[str, Any]:
        """The symbol's entry in ``exchangeInfo.symbols``."""
        return {
            "symbol": self.symbol,
            "status": self.status,
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "MARKET"],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": self.filters(),
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": list(STP_MODES),
        }

    def avg_price(self, now: int) -> Decimal:
        """The average price over the last ``avg_price_mins`` minutes (0: the last price),
        time-weighted over the price history (the fake has no market trades to weigh)."""
        if self.avg_price_mins <= 0 or not self.history:
            return self.price
        start = now - self.avg_price_mins * 60_000
        i = bisect.bisect_right(self.history, start, key=lambda h: h[0])
        # before the history starts the first known price held (the fake's "forever")
        points = [(start, self.price_at(start))]
        points += [h for h in self.history[i:] if h[0] <= now]
        total = ZERO
        weight = 0
        for (t0, p0), (t1, _) in zip(points, [*points[1:], (now, self.price)], strict=True):
            span = max(t1 - t0, 0)
            total += p0 * span
            weight += span
        if weight == 0:
            return self.price
        return (total / weight).quantize(Decimal("0.00000001"))

    def asks(self, levels: int | None) -> list[tuple[int, Decimal, Decimal | None]]:
        """(level, price, qty left; None = unlimited) from the best ask up."""
        if levels is None:
            return [(0, self.price, None)]
        gap = self.book_gap or self.tick
        return [
            (i, self.price + gap * i, self.depth_qty - self.used_asks.get(i, ZERO))
            for i in range(levels)
        ]

    def bids(self, levels: int | None) -> list[tuple[int, Decimal, Decimal | None]]:
        """(level, price, qty left; None = unlimited) from the best bid down."""
        if levels is None:
            return [(0, self.price, None)]
        gap = self.book_gap or self.tick
        out = []
        for i in range(levels):
            price = self.price - gap * (i + 1)
            if price > 0:
                out.append((i, price, self.depth_qty - self.used_bids.get(i, ZERO)))
        return out

    def price_at(self, ms: int) -> Decimal:
        """The price in effect at server time `ms` (the first known price before history)."""
        if not self.history:
            return self.price
        i = bisect.bisect_right(self.history, ms, key=lambda h: h[0])
        return self.history[max(i - 1, 0)][1]


@dataclass
class Fill:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_maker: bool

    def fill_json(self) -> dict[str, Any]:
        return {
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "tradeId": self.trade_id,
        }

    def trade_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "id": self.trade_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.price * self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time,
            "isBuyer": self.side == "BUY",
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }


@dataclass
class Order:
    order_id: int
    symbol: str
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    price: Decimal  # 0 for MARKET
    orig_qty: Decimal
    time: int
    orig_quote_qty: Decimal = ZERO
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    locked: Decimal = ZERO  # what is still locked for this order, in the spent asset
    fills: list[Fill] = field(default_factory=list)
    foreign: bool = False
    stp_mode: str = "EXPIRE_MAKER"
    prevented_qty: Decimal = ZERO
    visible_at: int = 0  # limits-clock ms before which reads do not show it (late_visible)
    archived: bool = False  # forced by the control API (see Exchange.is_archived)

    @property
    def is_open(self) -> bool:
        return self.status in {"NEW", "PARTIALLY_FILLED"}

    def base_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
        }

    def result_json(self) -> dict[str, Any]:
        """The ``newOrderRespType=RESULT`` shape (FULL adds ``fills``)."""
        return {
            **self.base_json(),
            "transactTime": self.time,
            "price": fmt(self.price),
            "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "origQuoteOrderQty": fmt(self.orig_quote_qty),
            "cummulativeQuoteQty": fmt(self.cum_quote),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            "workingTime": self.time,
            **self._stp_json(),
        }

    def _stp_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"selfTradePreventionMode": self.stp_mode}
        if self.prevented_qty:
            out["preventedQuantity"] = fmt(self.prevented_qty)
        return out

    def query_json(self) -> dict[str, Any]:
        """The shape of ``GET /api/v3/order`` and ``openOrders`` entries."""
        return {
            **self.base_json(),
            "price": fmt(self.price),
            "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "cummulativeQuoteQty": fmt(self.cum_quote),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            "stopPrice": fmt(ZERO),
            "icebergQty": fmt(ZERO),
            "time": self.time,
            "updateTime": self.update_time or self.time,
            "isWorking": True,
            "workingTime": self.time,
            "origQuoteOrderQty": fmt(self.orig_quote_qty),
            **self._stp_json(),
        }

    def execution_report(
        self,
        x: str,
        now: int,
        execution_id: int,
        *,
        fill: Fill | None = None,
        cancel_id: str | None = None,
        expiry_reason: str | None = None,
        prevented: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The user data stream's ``executionReport`` for this order as it is now
        (user-data-stream.md "Order Update"); `x` is the execution type."""
        out: dict[str, Any] = {
            "e": "executionReport",
            "E": now,
            "s": self.symbol,
            # a cancel: ``c`` is the cancel request's id, ``C`` the order's own
            "c": cancel_id if cancel_id is not None else self.client_order_id,
            "S": self.side,
            "o": self.type,
            "f": self.time_in_force,
            "q": fmt(self.orig_qty),
            "p": fmt(self.price),
            "P": fmt(ZERO),
            "F": fmt(ZERO),
            "g": -1,
            "C": self.client_order_id if cancel_id is not None else "",
            "x": x,
            "X": self.status,
            "r": "NONE",
            "i": self.order_id,
            "l": fmt(fill.qty if fill else ZERO),
            "z": fmt(self.executed_qty),
            "L": fmt(fill.price if fill else ZERO),
            "n": fmt(fill.commission) if fill else "0",
            "N": fill.commission_asset if fill else None,
            "T": fill.time if fill else now,
            "t": fill.trade_id if fill else -1,
            "I": execution_id,
            "w": self.is_open and self.type == "LIMIT",
            "m": fill.is_maker if fill else False,
            "M": False,
            "O": self.time,
            "Z": fmt(self.cum_quote),
            "Y": fmt(fill.qty * fill.price if fill else ZERO),
            "Q": fmt(self.orig_quote_qty),
            "V": self.stp_mode,
        }
        if self.type == "LIMIT" and (self.is_open or self.executed_qty or x == "CANCELED"):
            out["W"] = self.time  # it has been working on the book
        if expiry_reason is not None:
            out["eR"] = expiry_reason
        if prevented is not None:
            out.update(prevented)
        return out

    def cancel_json(self, cancel_client_id: str, now: int) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "origClientOrderId": self.client_order_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": cancel_client_id,
            "transactTime": now,
            "price": fmt(self.price),
            "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "origQuoteOrderQty": fmt(self.orig_quote_qty),
            "cummulativeQuoteQty": fmt(self.cum_quote),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            **self._stp_json(),
        }


def _symbol_status(status: str) -> str:
    if status not in SYMBOL_STATUSES:
        raise ValueError(f"symbol status must be one of {', '.join(SYMBOL_STATUSES)}, not {status}")
    return status


def random_client_id(prefix: str = "") -> str:
    return prefix + secrets.token_hex(11)


class Exchange:
    """Symbols, balances, orders and fills of the one account the fake serves."""

    def __init__(
        self,
        symbols: dict[str, dict[str, Any]],
        balances: dict[str, float],
        *,
        fee_rate: float = 0.0,
        bnb_fees: bool = False,
        bnb_price: float = 600.0,
        book_levels: int | None = None,
        archive_after_ms: int = ARCHIVE_AFTER_MS,
        start_ms: int = 0,
    ) -> None:
        self.symbols: dict[str, SymbolSpec] = {}
        for name, cfg in symbols.items():
            spec = SymbolSpec.from_config(name, cfg)
            spec.history.append((start_ms, spec.price))
            self.symbols[name] = spec
        self.fee_rate = dec(fee_rate)
        self.bnb_fees = bnb_fees
        self.bnb_price = dec(bnb_price)
        if book_levels is not None and book_levels < 1:
            raise ValueError("book_levels must be >= 1 (or None: an infinite book)")
        self.book_levels = book_levels
        self.archive_after_ms = archive_after_ms
        self.free: dict[str, Decimal] = {}
        self.locked: dict[str, Decimal] = {}
        for spec in self.symbols.values():
            for asset in (spec.base, spec.quote):
                self.free.setdefault(asset, ZERO)
                self.locked.setdefault(asset, ZERO)
        for asset, amount in balances.items():
            self.free[asset] = dec(amount)
            self.locked.setdefault(asset, ZERO)
        self.orders: dict[int, Order] = {}
        self.fills: list[Fill] = []
        self._next_order_id = 1_000_001
        self._next_trade_id = 5_000_001
        self.update_time = start_ms
        # executionReport payloads in booking order, for the user data stream; the server
        # takes them (`take_events`) after every operation
        self.events: list[dict[str, Any]] = []
        self._next_execution_id = 1
        self._next_prevented_id = 1

    def _report(self, order: Order, x: str, now: int, **kw: Any) -> None:
        self.events.append(order.execution_report(x, now, self._next_execution_id, **kw))
        self._next_execution_id += 1

    def take_events(self) -> list[dict[str, Any]]:
        """The executionReports booked since the last call (oldest first)."""
        out, self.events = self.events, []
        return out

    # ------------------------------------------------------------------ lookups
    def spec(self, symbol: str | None) -> SymbolSpec:
        if not symbol:
            raise mandatory("symbol")
        spec = self.symbols.get(symbol)
        if spec is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return spec

    def find_order(
        self, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> Order | None:
        if order_id is not None:
            order = self.orders.get(order_id)
            if order is None or order.symbol != symbol:
                return None
            if client_order_id and order.client_order_id != client_order_id:
                return None
            return order
        # clientOrderId is unique among open orders only: prefer the open one, then
        # the most recent closed one (what Binance answers for a reused id).
        matches = [
            o
            for o in self.orders.values()
            if o.symbol == symbol and o.client_order_id == client_order_id
        ]
        if not matches:
            return None
        open_ = [o for o in matches if o.is_open]
        return open_[-1] if open_ else matches[-1]

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [
            o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)
        ]

    def is_archived(self, order: Order, now: int) -> bool:
        """errors.md -2026: canceled or expired with no executed qty, closed longer than the
        archive window ago (90 days on Binance) - or archived by the control API."""
        if order.archived:
            return True
        return (
            order.status in CLOSED_UNFILLED
            and order.executed_qty == 0
            and now - order.update_time > self.archive_after_ms
        )

    # ------------------------------------------------------------------ balances
    def balance_rows(self, omit_zero: bool = False) -> list[dict[str, str]]:
        rows = []
        for asset in sorted(self.free):
            free, locked = self.free[asset], self.locked.get(asset, ZERO)
            if omit_zero and free == 0 and locked == 0:
                continue
            rows.append({"asset": asset, "free": fmt(free), "locked": fmt(locked)})
        return rows

    def set_balance(self, asset: str, free: float) -> None:
        self.free[asset] = dec(free)
        self.locked.setdefault(asset, ZERO)

    def set_status(self, symbol: str, status: str) -> None:
        self.spec(symbol).status = _symbol_status(status)

    # ------------------------------------------------------------------ orders
    def validate_order(self, p: dict[str, str], now: int) -> dict[str, Any]:
        """Check a new-order request like Binance does; returns the normalised fields."""
        spec = self.spec(p.get("symbol"))
        side = p.get("side")
        if not side:
            raise mandatory("side")
        if side not in {"BUY", "SELL"}:
            raise BinanceError(400, -1117, "Invalid side.")
        otype = p.get("type")
        if not otype:
            raise mandatory("type")
        if otype not in {"LIMIT", "MARKET"}:
            raise BinanceError(400, -1116, "Invalid orderType.")
        cid = p.get("newClientOrderId")
        if cid is not None and not CLIENT_ORDER_ID_RE.match(cid):
            raise illegal("newClientOrderId", "^[a-zA-Z0-9-_]{1,36}$")
        resp_type = p.get("newOrderRespType") or "FULL"
        if resp_type not in {"ACK", "RESULT", "FULL"}:
            raise BinanceError(
                400, -1100, "Illegal characters found in parameter 'newOrderRespType'."
            )
        stp = p.get("selfTradePreventionMode") or "EXPIRE_MAKER"
        if stp not in STP_MODES:
            raise BinanceError(
                400,
                -1100,
                "Illegal characters found in parameter 'selfTradePreventionMode'; "
                f"legal range is '{', '.join(STP_MODES)}'.",
            )
        tif = p.get("timeInForce")
        price = qty = quote_qty = None
        if otype == "LIMIT":
            if not tif:
                raise mandatory("timeInForce")
            if tif not in {"GTC", "IOC", "FOK"}:
                raise BinanceError(400, -1115, "Invalid timeInForce.")
            qty = parse_number("quantity", p.get("quantity"))
            price = parse_number("price", p.get("price"))
        else:
            if p.get("price"):
                raise BinanceError(400, -1106, "Parameter 'price' sent when not required.")
            if tif:
                raise BinanceError(400, -1106, "Parameter 'timeInForce' sent when not required.")
            qty = parse_number("quantity", p.get("quantity"), required=False)
            quote_qty = parse_number("quoteOrderQty", p.get("quoteOrderQty"), required=False)
            if qty is None and quote_qty is None:
                raise BinanceError(
                    400,
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
            if qty is not None and quote_qty is not None:
                raise BinanceError(400, -1106, "Parameter 'quoteOrderQty' sent when not required.")
        assert (qty is not None) or (quote_qty is not None)
        # errors.md "Market is closed." = the symbol is not trading (-2010 NEW_ORDER_REJECTED)
        if spec.status != "TRADING":
            raise BinanceError(400, -2010, "Market is closed.")
        avg = spec.avg_price(now)
        if price is not None:
            if price <= 0 or price < spec.min_price or price > spec.max_price:
                raise filter_failure("PRICE_FILTER")
            if (price - spec.min_price) % spec.tick != 0:
                raise filter_failure("PRICE_FILTER")
            if side == "BUY":
                up, down = spec.bid_up, spec.bid_down
            else:
                up, down = spec.ask_up, spec.ask_down
            if price > avg * up or price < avg * down:
                raise filter_failure("PERCENT_PRICE_BY_SIDE")
        # filters.md: MARKET orders have no price; the notional filters use the average
        # price over avgPriceMins (0: the last price)
        exec_price = price if price is not None else avg
        if qty is None:
            assert quote_qty is not None
            if quote_qty <= 0:
                raise filter_failure("NOTIONAL")
            qty = (quote_qty / spec.price / spec.step).to_integral_value(ROUND_DOWN) * spec.step
        if otype == "MARKET" and quote_qty is None:
            if qty <= 0 or qty < spec.market_min_qty or qty > spec.market_max_qty:
                raise filter_failure("MARKET_LOT_SIZE")
            if spec.market_step and (qty - spec.market_min_qty) % spec.market_step != 0:
                raise filter_failure("MARKET_LOT_SIZE")
        if qty <= 0 or qty < spec.min_qty or qty > spec.max_qty:
            raise filter_failure("LOT_SIZE")
        if (qty - spec.min_qty) % spec.step != 0:
            raise filter_failure("LOT_SIZE")
        notional = quote_qty if quote_qty is not None else qty * exec_price
        if spec.notional_filter in {"MIN_NOTIONAL", "BOTH"} and notional < spec.min_notional:
            raise filter_failure("MIN_NOTIONAL")
        if spec.notional_filter in {"NOTIONAL", "BOTH"}:
            if notional < spec.min_notional:
                raise filter_failure("NOTIONAL")
            if otype == "LIMIT" and notional > spec.max_notional:
                raise filter_failure("NOTIONAL")
        if len(self.open_orders(spec.symbol)) >= spec.max_num_orders:
            raise filter_failure("MAX_NUM_ORDERS")
        if cid is not None and any(o.client_order_id == cid for o in self.open_orders()):
            raise BinanceError(400, -2010, "Duplicate order sent.")
        # Balance (market_orders_faq.md: "If you do not have sufficient balance for the order
        # to be completely filled, the order will be rejected"): a LIMIT BUY needs quote at
        # its price, a MARKET BUY what walking the book costs, a SELL needs base.
        if side == "BUY":
            asset = spec.quote
            if otype == "LIMIT":
                need = qty * price  # type: ignore[operator]
            elif quote_qty is not None:
                need = quote_qty
            else:
                need = self._walk_cost(spec, qty)
        else:
            need, asset = qty, spec.base
        if self.free.get(asset, ZERO) < need:
            raise BinanceError(400, -2010, "Account has insufficient balance for requested action.")
        return {
            "spec": spec,
            "side": side,
            "type": otype,
            "tif": tif or "GTC",
            "price": price,
            "qty": qty,
            "quote_qty": quote_qty,
            "cid": cid,
            "resp_type": resp_type,
            "stp": stp,
        }

    def _walk_cost(self, spec: SymbolSpec, qty: Decimal) -> Decimal:
        """What buying `qty` from the asks costs (past the book: at its last price)."""
        cost, left, last = ZERO, qty, spec.price
        for _, price, avail in spec.asks(self.book_levels):
            take = left if avail is None else min(left, avail)
            cost += take * price
            left -= take
            last = price
            if left <= 0:
                break
        return cost + left * last

    def place(self, v: dict[str, Any], now: int, *, foreign: bool = False) -> Order:
        """Book a validated order (see `validate_order`) and match it at once if it can."""
        spec: SymbolSpec = v["spec"]
        order = Order(
            order_id=self._next_order_id,
            symbol=spec.symbol,
            client_order_id=v["cid"] or random_client_id("web_" if foreign else "x-fake"),
            side=v["side"],
            type=v["type"],
            time_in_force=v["tif"],
            price=v["price"] if v["price"] is not None else ZERO,
            orig_qty=v["qty"],
            orig_quote_qty=v["quote_qty"] or ZERO,
            time=now,
            update_time=now,
            foreign=foreign,
            stp_mode=v.get("stp", "EXPIRE_MAKER"),
        )
        self._next_order_id += 1
        self.orders[order.order_id] = order
        self.update_time = now
        self._report(order, "NEW", now)
        limit = order.price if order.type == "LIMIT" else None
        if order.type == "LIMIT" and order.time_in_force == "FOK":
            if self._available(spec, order.side, limit) < order.orig_qty:
                order.status = "EXPIRED"
                self._report(order, "EXPIRED", now, expiry_reason="UNFILLED_FOK_ORDER_EXPIRED")
                return order
        self._take(order, spec, limit, now)
        if order.status in {"FILLED", "EXPIRED_IN_MATCH"}:
            return order
        if order.type == "MARKET" or order.time_in_force in {"IOC", "FOK"}:
            if order.orig_quote_qty and order.type == "MARKET" and self._quote_done(order, spec):
                order.status = "FILLED"
                order.orig_qty = order.executed_qty
                # its last trade filled it: say so in that trade's report
                for event in reversed(self.events):
                    if event["i"] == order.order_id and event["x"] == "TRADE":
                        event["X"], event["q"] = "FILLED", fmt(order.orig_qty)
                        break
            else:
                order.status = "EXPIRED"  # market_orders_faq.md: the rest expires
                reason = {
                    "IOC": "UNFILLED_IOC_QUANTITY_EXPIRED",
                    "FOK": "UNFILLED_FOK_ORDER_EXPIRED",
                }.get(order.time_in_force, "INSUFFICIENT_LIQUIDITY")
                if order.type == "MARKET":
                    reason = "INSUFFICIENT_LIQUIDITY"
                self._report(order, "EXPIRED", now, expiry_reason=reason)
            return order
        self._lock(order, spec)
        return order

    def _quote_done(self, order: Order, spec: SymbolSpec) -> bool:
        """A quoteOrderQty order has spent its budget (less than one step's worth left)."""
        left = order.orig_quote_qty - order.cum_quote
        return left < spec.step * spec.price

    def _available(self, spec: SymbolSpec, side: str, limit: Decimal | None) -> Decimal:
        levels = spec.asks(self.book_levels) if side == "BUY" else spec.bids(self.book_levels)
        total = ZERO
        for _, price, avail in levels:
            if limit is not None and (price > limit if side == "BUY" else price < limit):
                break
            if avail is None:
                return Decimal(10) ** 20
            total += avail
        return total

    def _take(self, order: Order, spec: SymbolSpec, limit: Decimal | None, now: int) -> None:
        """Match a new (taker) order against the book and our own resting orders."""
        buy = order.side == "BUY"
        book = spec.asks(self.book_levels) if buy else spec.bids(self.book_levels)
        # (price, priority, level, qty left, own order); own orders rest ahead of the book
        entries: list[tuple[Decimal, int, int, Decimal | None, Order | None]] = [
            (price, 1, level, avail, None) for level, price, avail in book
        ]
        for o in self.open_orders(spec.symbol):
            if o.side != order.side:
                entries.append((o.price, 0, 0, o.orig_qty - o.executed_qty, o))
        entries.sort(key=lambda e: ((e[0] if buy else -e[0]), e[1]))
        for price, _, level, avail, own in entries:
            if limit is not None and (price > limit if buy else price < limit):
                break
            if order.orig_quote_qty and order.type == "MARKET":
                budget = order.orig_quote_qty - order.cum_quote
                want = (budget / price / spec.step).to_integral_value(ROUND_DOWN) * spec.step
                if not buy:  # never sell more than the account holds
                    want = min(want, self.free.get(spec.base, ZERO))
            else:
                want = order.orig_qty - order.executed_qty
            if want <= 0:
                break
            if own is not None:
                mode = order.stp_mode
                match_id = self._next_prevented_id
                if mode != "NONE":
                    self._next_prevented_id += 1
                blocked = min(want, own.orig_qty - own.executed_qty)
                if mode in {"EXPIRE_MAKER", "EXPIRE_BOTH"}:
                    self._expire_in_match(own, spec, now, order, blocked, match_id)
                if mode in {"EXPIRE_TAKER", "EXPIRE_BOTH"}:
                    order.prevented_qty = order.orig_qty - order.executed_qty
                    order.status = "EXPIRED_IN_MATCH"
                    order.update_time = now
                    self._report_prevented(order, own, blocked, match_id, now)
                    return
                if mode == "NONE":  # a self-trade: both sides fill at the maker's price
                    qty = min(want, own.orig_qty - own.executed_qty)
                    self._fill(own, spec, own.price, qty, now, is_maker=True)
                    self._fill(order, spec, own.price, qty, now, is_maker=False)
                continue
            qty = want if avail is None else min(want, avail)
            if qty <= 0:
                continue
            if avail is not None:
                used = spec.used_asks if buy else spec.used_bids
                used[level] = used.get(level, ZERO) + qty
            self._fill(order, spec, price, qty, now, is_maker=False)

    def _expire_in_match(
        self,
        order: Order,
        spec: SymbolSpec,
        now: int,
        counter: Order,
        blocked: Decimal,
        match_id: int,
    ) -> None:
        if order.locked:
            self._unlock(order, spec)
        order.prevented_qty = order.orig_qty - order.executed_qty
        order.status = "EXPIRED_IN_MATCH"
        order.update_time = now
        self.update_time = now
        self._report_prevented(order, counter, blocked, match_id, now)

    def _report_prevented(
        self, order: Order, counter: Order, blocked: Decimal, match_id: int, now: int
    ) -> None:
        """The EXPIRED_IN_MATCH executionReport with its STP fields (user-data-stream.md
        "Conditional Fields in Execution Report"); the prevented match is at the maker's
        price."""
        price = counter.price if counter.time < order.time else order.price
        self._report(
            order,
            "EXPIRED_IN_MATCH",
            now,
            prevented={
                "v": match_id,
                "A": fmt(order.prevented_qty),
                "B": fmt(order.prevented_qty),
                "u": match_id,
                "U": counter.order_id,
                "Cs": counter.symbol,
                "pl": fmt(blocked),
                "pL": fmt(price),
                "pY": fmt(blocked * price),
            },
        )

    def _lock(self, order: Order, spec: SymbolSpec) -> None:
        left = order.orig_qty - order.executed_qty
        if order.side == "BUY":
            asset, amount = spec.quote, left * order.price
        else:
            asset, amount = spec.base, left
        self.free[asset] -= amount
        self.locked[asset] = self.locked.get(asset, ZERO) + amount
        order.locked = amount

    def _unlock(self, order: Order, spec: SymbolSpec) -> None:
        asset = spec.quote if order.side == "BUY" else spec.base
        self.locked[asset] -= order.locked
        self.free[asset] += order.locked
        order.locked = ZERO

    def _bnb_rate(self, quote: str) -> Decimal:
        """BNB's price in `quote`: the BNB<quote> symbol when configured, else bnb_price."""
        spec = self.symbols.get("BNB" + quote)
        return spec.price if spec is not None else self.bnb_price

    def _fill(
        self,
        order: Order,
        spec: SymbolSpec,
        price: Decimal,
        qty: Decimal,
        now: int,
        *,
        is_maker: bool,
    ) -> None:
        """One trade of `qty` at `price`: balances, commission, the order's state."""
        quote = qty * price
        # what is spent comes out of the order's lock if it rests, else out of free
        spent_asset, spent = (spec.quote, quote) if order.side == "BUY" else (spec.base, qty)
        if order.locked:
            from_lock = min(order.locked, spent if order.side == "SELL" else qty * order.price)
            self.locked[spent_asset] -= from_lock
            order.locked -= from_lock
            self.free[spent_asset] += from_lock
        self.free[spent_asset] = self.free.get(spent_asset, ZERO) - spent
        # commission_faq.md: from the received asset unless BNB pays (25% off) and suffices
        recv_asset, received = (spec.base, qty) if order.side == "BUY" else (spec.quote, quote)
        fee, fee_asset = received * self.fee_rate, recv_asset
        if self.bnb_fees and fee > 0:
            fee_quote = quote * self.fee_rate
            bnb_fee = (fee_quote * BNB_DISCOUNT / self._bnb_rate(spec.quote)).quantize(
                Decimal("0.00000001")
            )
            if self.free.get("BNB", ZERO) >= bnb_fee:
                self.free["BNB"] -= bnb_fee
                self.locked.setdefault("BNB", ZERO)
                fee, fee_asset = bnb_fee, "BNB"
        fee = fee.quantize(Decimal("0.00000001"))
        net = received - fee if fee_asset == recv_asset else received
        self.free[recv_asset] = self.free.get(recv_asset, ZERO) + net
        fill = Fill(
            trade_id=self._next_trade_id,
            order_id=order.order_id,
            symbol=spec.symbol,
            side=order.side,
            price=price,
            qty=qty,
            commission=fee,
            commission_asset=fee_asset,
            time=now,
            is_maker=is_maker,
        )
        self._next_trade_id += 1
        order.fills.append(fill)
        self.fills.append(fill)
        order.executed_qty += qty
        order.cum_quote += quote
        done = order.executed_qty >= order.orig_qty
        order.status = "FILLED" if done else "PARTIALLY_FILLED"
        if done and order.locked:
            self._unlock(order, spec)
        order.update_time = now
        self.update_time = now
        self._report(order, "TRADE", now, fill=fill)

    def cancel(self, order: Order, now: int, cancel_id: str | None = None) -> None:
        """Cancel an open order; `cancel_id` is the cancel request's client id (the
        executionReport's ``c``; a random one when not given)."""
        if not order.is_open:
            raise BinanceError(400, -2011, "Unknown order sent.")
        self._unlock(order, self.symbols[order.symbol])
        order.status = "CANCELED"
        order.update_time = now
        self.update_time = now
        self._report(order, "CANCELED", now, cancel_id=cancel_id or random_client_id())

    # ------------------------------------------------------------------ prices
    def set_price(self, symbol: str, price: Any, now: int) -> list[Order]:
        spec = self.spec(symbol)
        spec.path, spec.path_index = [], 0
        return self._move(spec, dec(price), now)

    def set_price_path(
        self, symbol: str, prices: list[Any], now: int, loop: bool = False
    ) -> list[Order]:
        spec = self.spec(symbol)
        if not prices:
            raise ValueError("a price path needs at least one price")
        spec.path = [dec(p) for p in prices]
        spec.path_index = 0
        spec.path_loop = loop
        return self._move(spec, spec.path[0], now)

    def step(self, n: int, now: int) -> list[Order]:
        """Advance every symbol's price path by `n` entries, matching after each; a symbol
        without a path (or at its end) keeps its price, its book refills and matches again."""
        filled: list[Order] = []
        for _ in range(n):
            for spec in self.symbols.values():
                nxt = spec.path_index + 1
                if not spec.path or nxt >= len(spec.path):
                    if spec.path and spec.path_loop:
                        nxt = 0
                    else:
                        filled += self._match(spec, now)
                        continue
                spec.path_index = nxt
                filled += self._move(spec, spec.path[nxt], now)
        return filled

    def _move(self, spec: SymbolSpec, price: Decimal, now: int) -> list[Order]:
        if price <= 0:
            raise ValueError("price must be positive")
        spec.price = price
        if spec.history and spec.history[-1][0] > now:
            now = spec.history[-1][0]  # the clock went back (skew): keep history sorted
        spec.history.append((now, price))
        if len(spec.history) > 100_000:
            del spec.history[: len(spec.history) - 100_000]
        return self._match(spec, now)

    def _match(self, spec: SymbolSpec, now: int) -> list[Order]:
        """Refill the book, then fill the resting orders the price has crossed (maker): in
        full in the kind world, at most ``depth_qty`` each with a finite book."""
        spec.used_asks.clear()
        spec.used_bids.clear()
        if spec.status != "TRADING":
            return []
        price = spec.price
        filled = []
        for order in self.open_orders(spec.symbol):
            crossed = (order.side == "BUY" and price <= order.price) or (
                order.side == "SELL" and price >= order.price
            )
            if crossed:
                qty = order.orig_qty - order.executed_qty
                if self.book_levels is not None:
                    qty = min(qty, spec.depth_qty)
                self._fill(order, spec, order.price, qty, now, is_maker=True)
                filled.append(order)
        return filled

    # ------------------------------------------------------------------ market data
    def depth(self, spec: SymbolSpec, limit: int) -> dict[str, Any]:
        """The book as it is (a finite book shows what is left; the kind world shows
        `limit` levels a tick apart, each ``depth_qty`` deep, as before)."""
        if self.book_levels is None:
            bids, asks = [], []
            for i in range(limit):
                ask = spec.price + spec.tick * i
                bid = spec.price - spec.tick * (i + 1)
                asks.append([fmt(ask), fmt(spec.depth_qty)])
                if bid > 0:
                    bids.append([fmt(bid), fmt(spec.depth_qty)])
        else:
            asks = [[fmt(p), fmt(q)] for _, p, q in spec.asks(self.book_levels) if q][:limit]
            bids = [[fmt(p), fmt(q)] for _, p, q in spec.bids(self.book_levels) if q][:limit]
        return {"lastUpdateId": len(spec.history) + len(self.fills), "bids": bids, "asks": asks}

    def klines(
        self,
        spec: SymbolSpec,
        interval: str,
        start: int | None,
        end: int | None,
        limit: int,
        now: int,
    ) -> list[list[Any]]:
        iv = KLINE_INTERVALS_MS.get(interval)
        if iv is None:
            raise BinanceError(400, -1120, "Invalid interval.")
        last_open = (min(end, now) if end is not None else now) // iv * iv
        if start is not None:
            first = -(-start // iv) * iv
            opens = []
            t = first
            while t <= last_open and len(opens) < limit:
                opens.append(t)
                t += iv
        else:
            opens = [last_open - iv * k for k in range(limit - 1, -1, -1)]
        out = []
        for t in opens:
            close_t = t + iv - 1
            o = spec.price_at(t)
            lo = bisect.bisect_left(spec.history, t, key=lambda h: h[0])
            hi = bisect.bisect_right(spec.history, min(close_t, now), key=lambda h: h[0])
            inside = [p for _, p in spec.history[lo:hi]]
            prices = [o, *inside]
            c = spec.price_at(min(close_t, now))
            vol = spec.kline_volume + sum(
                (f.qty for f in self.fills if f.symbol == spec.symbol and t <= f.time <= close_t),
                ZERO,
            )
            quote_vol = vol * c
            out.append(
                [
                    t,
                    fmt(o),
                    fmt(max(prices)),
                    fmt(min(prices)),
                    fmt(c),
                    fmt(vol),
                    close_t,
                    fmt(quote_vol),
                    len(inside) + 1,
                    fmt(vol / 2),
                    fmt(quote_vol / 2),
                    "0",
                ]
            )
        return out
