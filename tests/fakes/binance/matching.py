"""The fake exchange's book-keeping: symbols and filters, balances, orders, fills.

Pure state, no HTTP and no locking (the server holds one lock around every call).
Every number is a `Decimal`; JSON shows them as Binance does, strings with 8 decimals.

Price model: each symbol has a *current price* and an optional scripted *price path*.
``set_price_path(symbol, [p0, p1, ...])`` makes p0 current at once; each ``step()`` moves
to the next entry (the last one stays current, or the path wraps if ``loop``). After every
price change the open LIMIT orders of that symbol are matched:

- a MARKET order fills in full at the current price (taker);
- a LIMIT order whose price is marketable when placed (BUY at or above the current price,
  SELL at or below) fills at once at the current price (taker); an IOC/FOK order that is
  not marketable is EXPIRED instead of resting;
- a resting LIMIT BUY fills at its own price as soon as the price reaches it or goes below
  (the path crossed it); a SELL when the price reaches it or goes above (maker).

Fills are always complete (no partial fills). Commission is ``fee_rate`` of what is
received, in the received asset (0 by default).
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


class BinanceError(Exception):
    """An error answer: HTTP ``status`` with the JSON body ``{"code": code, "msg": msg}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


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
    status: str = "TRADING"
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
            status=str(cfg.get("status", "TRADING")),
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
                "filterType": "LOT_SIZE",
                "minQty": fmt(self.min_qty),
                "maxQty": fmt(self.max_qty),
                "stepSize": fmt(self.step),
            },
        ]
        if self.notional_filter in {"MIN_NOTIONAL", "BOTH"}:
            out.append(
                {
                    "filterType": "MIN_NOTIONAL",
                    "minNotional": fmt(self.min_notional),
                    "applyToMarket": True,
                    "avgPriceMins": 5,
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
                    "avgPriceMins": 5,
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
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER"],
        }

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
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

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
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

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
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }


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
        start_ms: int = 0,
    ) -> None:
        self.symbols: dict[str, SymbolSpec] = {}
        for name, cfg in symbols.items():
            spec = SymbolSpec.from_config(name, cfg)
            spec.history.append((start_ms, spec.price))
            self.symbols[name] = spec
        self.fee_rate = dec(fee_rate)
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
        if spec.status != "TRADING":
            raise BinanceError(400, -1013, "Market is closed.")
        cid = p.get("newClientOrderId")
        if cid is not None and not CLIENT_ORDER_ID_RE.match(cid):
            raise illegal("newClientOrderId", "^[a-zA-Z0-9-_]{1,36}$")
        resp_type = p.get("newOrderRespType") or "FULL"
        if resp_type not in {"ACK", "RESULT", "FULL"}:
            raise BinanceError(
                400, -1100, "Illegal characters found in parameter 'newOrderRespType'."
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
        if price is not None:
            if price <= 0 or price < spec.min_price or price > spec.max_price:
                raise filter_failure("PRICE_FILTER")
            if (price - spec.min_price) % spec.tick != 0:
                raise filter_failure("PRICE_FILTER")
        exec_price = price if price is not None else spec.price
        if qty is None:
            assert quote_qty is not None
            if quote_qty <= 0:
                raise filter_failure("NOTIONAL")
            qty = (quote_qty / exec_price / spec.step).to_integral_value(ROUND_DOWN) * spec.step
        if qty <= 0 or qty < spec.min_qty or qty > spec.max_qty:
            raise filter_failure("LOT_SIZE")
        if (qty - spec.min_qty) % spec.step != 0:
            raise filter_failure("LOT_SIZE")
        notional = qty * exec_price
        if spec.notional_filter in {"MIN_NOTIONAL", "BOTH"} and notional < spec.min_notional:
            raise filter_failure("MIN_NOTIONAL")
        if spec.notional_filter in {"NOTIONAL", "BOTH"}:
            if notional < spec.min_notional:
                raise filter_failure("NOTIONAL")
            if otype == "LIMIT" and notional > spec.max_notional:
                raise filter_failure("NOTIONAL")
        if cid is not None and any(o.client_order_id == cid for o in self.open_orders()):
            raise BinanceError(400, -2010, "Duplicate order sent.")
        # Balance: a BUY needs quote (at the limit price, or the current price for a
        # MARKET), a SELL needs base.
        if side == "BUY":
            need, asset = notional, spec.quote
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
        }

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
        )
        self._next_order_id += 1
        self.orders[order.order_id] = order
        self.update_time = now
        if order.type == "MARKET":
            self._fill(order, spec, spec.price, now, is_maker=False)
            return order
        marketable = (order.side == "BUY" and order.price >= spec.price) or (
            order.side == "SELL" and order.price <= spec.price
        )
        if marketable:
            self._fill(order, spec, spec.price, now, is_maker=False)
        elif order.time_in_force in {"IOC", "FOK"}:
            order.status = "EXPIRED"
        else:
            self._lock(order, spec)
        return order

    def _lock(self, order: Order, spec: SymbolSpec) -> None:
        if order.side == "BUY":
            asset, amount = spec.quote, order.orig_qty * order.price
        else:
            asset, amount = spec.base, order.orig_qty
        self.free[asset] -= amount
        self.locked[asset] = self.locked.get(asset, ZERO) + amount
        order.locked = amount

    def _unlock(self, order: Order, spec: SymbolSpec) -> None:
        asset = spec.quote if order.side == "BUY" else spec.base
        self.locked[asset] -= order.locked
        self.free[asset] += order.locked
        order.locked = ZERO

    def _fill(
        self, order: Order, spec: SymbolSpec, price: Decimal, now: int, *, is_maker: bool
    ) -> None:
        if order.locked:
            self._unlock(order, spec)
        qty = order.orig_qty
        quote = qty * price
        if order.side == "BUY":
            fee = qty * self.fee_rate
            self.free[spec.quote] = self.free.get(spec.quote, ZERO) - quote
            self.free[spec.base] = self.free.get(spec.base, ZERO) + qty - fee
            fee_asset = spec.base
        else:
            fee = quote * self.fee_rate
            self.free[spec.base] = self.free.get(spec.base, ZERO) - qty
            self.free[spec.quote] = self.free.get(spec.quote, ZERO) + quote - fee
            fee_asset = spec.quote
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
        order.executed_qty = qty
        order.cum_quote = quote
        order.status = "FILLED"
        order.update_time = now
        self.update_time = now

    def cancel(self, order: Order, now: int) -> None:
        if not order.is_open:
            raise BinanceError(400, -2011, "Unknown order sent.")
        self._unlock(order, self.symbols[order.symbol])
        order.status = "CANCELED"
        order.update_time = now
        self.update_time = now

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
        """Advance every symbol's price path by `n` entries, matching after each."""
        filled: list[Order] = []
        for _ in range(n):
            for spec in self.symbols.values():
                if not spec.path:
                    continue
                nxt = spec.path_index + 1
                if nxt >= len(spec.path):
                    if not spec.path_loop:
                        continue
                    nxt = 0
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
        filled = []
        for order in self.open_orders(spec.symbol):
            crossed = (order.side == "BUY" and price <= order.price) or (
                order.side == "SELL" and price >= order.price
            )
            if crossed:
                self._fill(order, spec, order.price, now, is_maker=True)
                filled.append(order)
        return filled

    # ------------------------------------------------------------------ market data
    def depth(self, spec: SymbolSpec, limit: int) -> dict[str, Any]:
        bids, asks = [], []
        for i in range(limit):
            ask = spec.price + spec.tick * i
            bid = spec.price - spec.tick * (i + 1)
            asks.append([fmt(ask), fmt(spec.depth_qty)])
            if bid > 0:
                bids.append([fmt(bid), fmt(spec.depth_qty)])
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
