"""Binance JSON (orders, trades, balances) to the daemon's models."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tradewarden.core.models import Fill, Order, OrderStatus, OrderType, Side
from tradewarden.exchange.filters import to_decimal

_STATUS = {
    "NEW": OrderStatus.NEW,
    "PENDING_NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "PENDING_CANCEL": OrderStatus.NEW,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}


def order_status(raw: str) -> OrderStatus:
    return _STATUS.get(raw, OrderStatus.UNKNOWN)


def executed_qty(js: Mapping[str, Any]) -> Decimal:
    return to_decimal(js.get("executedQty", "0"))


def order_from_json(js: Mapping[str, Any], bot: str = "") -> Order:
    """An order answer (new order RESULT/FULL, GET order, openOrders entry, cancel)."""
    executed = executed_qty(js)
    quote = to_decimal(js.get("cummulativeQuoteQty", "0"))
    avg = float(quote / executed) if executed > 0 else 0.0
    price = float(to_decimal(js.get("price", "0")))
    kind = str(js.get("type", "LIMIT"))
    order_type = OrderType.MARKET if kind == "MARKET" else OrderType.LIMIT
    ts = js.get("time") or js.get("transactTime") or 0
    updated = js.get("updateTime") or js.get("transactTime") or ts
    cid = str(js.get("origClientOrderId") or js.get("clientOrderId") or "")
    return Order(
        client_order_id=cid,
        bot=bot,
        symbol=str(js.get("symbol", "")),
        side=Side(str(js.get("side", "BUY"))),
        order_type=order_type,
        qty=float(to_decimal(js.get("origQty", "0"))),
        price=price if price > 0 else None,
        status=order_status(str(js.get("status", ""))),
        filled_qty=float(executed),
        avg_price=avg,
        exchange_order_id=str(js["orderId"]) if js.get("orderId") is not None else None,
        created_at=float(ts) / 1000.0,
        updated_at=float(updated) / 1000.0,
    )


def trade_id(symbol: str, raw_id: Any) -> str:
    """Binance trade ids are unique per symbol only; ours are unique in the store."""
    return f"{symbol}:{raw_id}"


def fill_from_trade(js: Mapping[str, Any], order: Order, base: str, quote: str) -> Fill:
    """A `myTrades` entry as a `Fill`. Binance takes the commission from the asset received
    unless BNB pays it (faqs_commission_faq.md). `fee` is it valued in the quote asset (a
    base-asset commission converted at the fill price; one paid in a third asset such as
    BNB has no price here and counts 0 in P&L); `fee_base` is what the base asset lost; the
    raw `commission` and its asset are kept for balance reconciliation."""
    price = to_decimal(js["price"])
    qty = to_decimal(js["qty"])
    commission = to_decimal(js.get("commission", "0"))
    asset = str(js.get("commissionAsset") or quote)
    fee_base = Decimal(0)
    if asset == quote:
        fee = commission
    elif asset == base:
        fee = commission * price
        fee_base = commission
    else:
        fee = Decimal(0)
    return Fill(
        trade_id=trade_id(str(js.get("symbol", order.symbol)), js["id"]),
        client_order_id=order.client_order_id,
        bot=order.bot,
        symbol=order.symbol,
        side=Side.BUY if js.get("isBuyer") else Side.SELL,
        qty=float(qty),
        price=float(price),
        fee=float(fee),
        ts=float(js.get("time", 0)) / 1000.0,
        fee_base=float(fee_base),
        commission=float(commission),
        commission_asset=asset,
    )


def balances_from_account(js: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """(free, total = free + locked) per asset with a non-zero total."""
    free: dict[str, float] = {}
    total: dict[str, float] = {}
    for row in js.get("balances", []):
        f = to_decimal(row.get("free", "0"))
        locked = to_decimal(row.get("locked", "0"))
        if f + locked == 0:
            continue
        free[str(row["asset"])] = float(f)
        total[str(row["asset"])] = float(f + locked)
    return free, total


def order_from_report(ev: Mapping[str, Any], bot: str = "") -> Order:
    """An ``executionReport`` event (user-data-stream.md "Order Update") as the remote view
    of its order, like `order_from_json` gives for a REST answer. The client order id is the
    ORIGINAL one (``C``) when the report is about a cancel, else ``c``; quantities are
    cumulative (``z``, ``Z``)."""
    filled = to_decimal(ev.get("z", "0"))
    quote = to_decimal(ev.get("Z", "0"))
    avg = float(quote / filled) if filled > 0 else 0.0
    price = float(to_decimal(ev.get("p", "0")))
    order_type = OrderType.MARKET if ev.get("o") == "MARKET" else OrderType.LIMIT
    updated = ev.get("T") or ev.get("E") or 0
    return Order(
        client_order_id=str(ev.get("C") or ev.get("c") or ""),
        bot=bot,
        symbol=str(ev["s"]),
        side=Side(str(ev["S"])),
        order_type=order_type,
        qty=float(to_decimal(ev.get("q", "0"))),
        price=price if price > 0 else None,
        status=order_status(str(ev.get("X", ""))),
        filled_qty=float(filled),
        avg_price=avg,
        exchange_order_id=str(ev["i"]),
        created_at=float(ev.get("O") or 0) / 1000.0,
        updated_at=float(updated) / 1000.0,
    )


def trade_from_report(ev: Mapping[str, Any]) -> dict[str, Any] | None:
    """The trade an ``executionReport`` with execution type TRADE reports, shaped like a
    GET /api/v3/myTrades row (so `fill_from_trade` books it exactly as a polled one, under
    the same trade id); None for every other execution type."""
    if ev.get("x") != "TRADE":
        return None
    raw_id = ev["t"]
    if isinstance(raw_id, bool) or not isinstance(raw_id, int) or raw_id < 0:
        raise ValueError("a TRADE execution report without a trade id")
    if to_decimal(ev["l"]) <= 0 or to_decimal(ev["L"]) <= 0:
        raise ValueError("a TRADE execution report without a quantity or price")
    return {
        "symbol": str(ev["s"]),
        "id": raw_id,
        "orderId": ev["i"],
        "price": ev["L"],
        "qty": ev["l"],
        "quoteQty": ev.get("Y", "0"),
        "commission": ev.get("n") or "0",
        "commissionAsset": ev.get("N"),
        "time": ev["T"],
        "isBuyer": ev["S"] == "BUY",
        "isMaker": bool(ev.get("m")),
    }
