"""Symbol filters from exchangeInfo, applied before anything is sent.

Quantities are rounded down to the LOT_SIZE step; limit prices to the tick, in the safe
direction (a BUY never pays more, a SELL never sells for less than asked). What still
breaks a filter is refused with a `FilterReject` reason: the exchange never rejects what we
could have known. All arithmetic is `Decimal`; numbers go out as plain decimal strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from tradewarden.core.models import OrderType, Side
from tradewarden.exchange.errors import FilterReject, FilterRejectedError

ZERO = Decimal(0)


def to_decimal(value: float | str | Decimal) -> Decimal:
    """Floats via their shortest repr (0.1 -> Decimal('0.1'), not its binary expansion)."""
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def plain(d: Decimal) -> str:
    """`Decimal` as Binance accepts it: no exponent, no trailing zeros after the point."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def round_to(value: Decimal, step: Decimal, rounding: str, origin: Decimal = ZERO) -> Decimal:
    """`value` onto the grid origin + k*step (Binance: (qty - minQty) % stepSize == 0)."""
    if step <= 0:
        return value
    return origin + ((value - origin) / step).to_integral_value(rounding=rounding) * step


@dataclass(frozen=True, slots=True)
class PreparedOrder:
    """The numbers that will be sent, already on the exchange's grid."""

    qty: Decimal
    price: Decimal | None  # None for MARKET
    notional: Decimal

    @property
    def qty_text(self) -> str:
        return plain(self.qty)

    @property
    def price_text(self) -> str | None:
        return None if self.price is None else plain(self.price)


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    tick: Decimal = ZERO
    min_price: Decimal = ZERO
    max_price: Decimal = ZERO
    step: Decimal = ZERO
    min_qty: Decimal = ZERO
    max_qty: Decimal = ZERO
    market_step: Decimal | None = None
    market_min_qty: Decimal | None = None
    market_max_qty: Decimal | None = None
    min_notional: Decimal = ZERO
    min_notional_market: bool = True
    max_notional: Decimal = ZERO  # 0 = no maximum
    max_notional_market: bool = False
    # USD-M futures: PERCENT_PRICE (a LIMIT price within the mark price * [down, up]) and
    # MIN_NOTIONAL, from which reduceOnly orders are exempt
    percent_up: Decimal = ZERO
    percent_down: Decimal = ZERO
    reduce_only_exempt: bool = False

    @classmethod
    def from_symbol_info(cls, info: Mapping[str, Any]) -> SymbolFilters:
        """One entry of exchangeInfo ``symbols``."""
        kw: dict[str, Any] = {}
        for f in info.get("filters", []):
            kind = f.get("filterType")
            if kind == "PRICE_FILTER":
                kw |= {
                    "tick": to_decimal(f.get("tickSize", 0)),
                    "min_price": to_decimal(f.get("minPrice", 0)),
                    "max_price": to_decimal(f.get("maxPrice", 0)),
                }
            elif kind == "LOT_SIZE":
                kw |= {
                    "step": to_decimal(f.get("stepSize", 0)),
                    "min_qty": to_decimal(f.get("minQty", 0)),
                    "max_qty": to_decimal(f.get("maxQty", 0)),
                }
            elif kind == "MARKET_LOT_SIZE":
                kw |= {
                    "market_step": to_decimal(f.get("stepSize", 0)),
                    "market_min_qty": to_decimal(f.get("minQty", 0)),
                    "market_max_qty": to_decimal(f.get("maxQty", 0)),
                }
            elif kind == "MIN_NOTIONAL":
                # spot: minNotional; USD-M futures: notional
                mn = to_decimal(f.get("minNotional", f.get("notional", 0)))
                if mn > kw.get("min_notional", ZERO):
                    kw["min_notional"] = mn
                    kw["min_notional_market"] = bool(f.get("applyToMarket", True))
            elif kind == "NOTIONAL":
                mn = to_decimal(f.get("minNotional", 0))
                if mn > kw.get("min_notional", ZERO):
                    kw["min_notional"] = mn
                    kw["min_notional_market"] = bool(f.get("applyMinToMarket", True))
                kw["max_notional"] = to_decimal(f.get("maxNotional", 0))
                kw["max_notional_market"] = bool(f.get("applyMaxToMarket", False))
            elif kind == "PERCENT_PRICE":
                kw |= {
                    "percent_up": to_decimal(f.get("multiplierUp", 0)),
                    "percent_down": to_decimal(f.get("multiplierDown", 0)),
                }
        return cls(
            symbol=str(info["symbol"]),
            status=str(info.get("status", "TRADING")),
            base_asset=str(info.get("baseAsset", "")),
            quote_asset=str(info.get("quoteAsset", "")),
            **kw,
        )

    def prepare(
        self,
        side: Side,
        order_type: OrderType,
        qty: float | Decimal,
        price: float | Decimal | None,
        reference_price: float | Decimal | None = None,
        *,
        reduce_only: bool = False,
    ) -> PreparedOrder:
        """Round onto the grid, then check every filter; raises `FilterRejectedError`.
        `reduce_only` (futures): exempt from MIN_NOTIONAL where the symbol says so."""
        if self.status != "TRADING":
            raise FilterRejectedError(
                FilterReject.NOT_TRADING, f"{self.symbol} status is {self.status}"
            )
        market = order_type is OrderType.MARKET
        step = self.market_step if market and self.market_step else self.step
        min_q = self.market_min_qty if market and self.market_min_qty else self.min_qty
        raw_q = to_decimal(qty)
        q = round_to(raw_q, step, ROUND_FLOOR, min_q if raw_q >= min_q else ZERO)
        max_q = self.market_max_qty if market and self.market_max_qty else self.max_qty
        if q <= 0 or q < min_q:
            raise FilterRejectedError(
                FilterReject.MIN_QTY,
                f"{self.symbol} qty {plain(raw_q)} rounds to {plain(q)}, below the"
                f" minimum {plain(min_q)} (step {plain(step)})",
            )
        if max_q and q > max_q:
            raise FilterRejectedError(
                FilterReject.MAX_QTY, f"{self.symbol} qty {plain(q)} above {plain(max_q)}"
            )
        p: Decimal | None = None
        if market:
            ref = price if price is not None else reference_price
            if ref is None or to_decimal(ref) <= 0:
                raise FilterRejectedError(
                    FilterReject.NO_REFERENCE_PRICE,
                    f"{self.symbol}: a MARKET order needs a reference price for its notional",
                )
            ref_d = to_decimal(ref)
        else:
            if price is None or to_decimal(price) <= 0:
                raise FilterRejectedError(
                    FilterReject.MIN_PRICE, f"{self.symbol}: a LIMIT order needs a price > 0"
                )
            rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
            raw_p = to_decimal(price)
            origin = self.min_price if raw_p >= self.min_price else ZERO
            p = round_to(raw_p, self.tick, rounding, origin)
            if p <= 0 or p < self.min_price:
                raise FilterRejectedError(
                    FilterReject.MIN_PRICE,
                    f"{self.symbol} price {plain(p)} below the minimum {plain(self.min_price)}",
                )
            if self.max_price and p > self.max_price:
                raise FilterRejectedError(
                    FilterReject.MAX_PRICE,
                    f"{self.symbol} price {plain(p)} above the maximum {plain(self.max_price)}",
                )
            ref_d = p
            self._check_percent_price(p, reference_price)
        notional = q * ref_d
        exempt = reduce_only and self.reduce_only_exempt
        if (not market or self.min_notional_market) and not exempt and notional < self.min_notional:
            raise FilterRejectedError(
                FilterReject.MIN_NOTIONAL,
                f"{self.symbol} notional {plain(notional)} below the minimum"
                f" {plain(self.min_notional)}",
            )
        if (
            self.max_notional
            and (not market or self.max_notional_market)
            and notional > self.max_notional
        ):
            raise FilterRejectedError(
                FilterReject.MAX_NOTIONAL,
                f"{self.symbol} notional {plain(notional)} above the maximum"
                f" {plain(self.max_notional)}",
            )
        return PreparedOrder(qty=q, price=p, notional=notional)

    def _check_percent_price(self, p: Decimal, reference: float | Decimal | None) -> None:
        """PERCENT_PRICE (futures): a LIMIT price within the reference (mark) price times
        [multiplierDown, multiplierUp]; not checked without a reference or the filter."""
        if reference is None or not (self.percent_up or self.percent_down):
            return
        ref = to_decimal(reference)
        if ref <= 0:
            return
        if self.percent_up and p > ref * self.percent_up:
            raise FilterRejectedError(
                FilterReject.PERCENT_PRICE,
                f"{self.symbol} price {plain(p)} above {plain(self.percent_up)} x the mark"
                f" price {plain(ref)}",
            )
        if self.percent_down and p < ref * self.percent_down:
            raise FilterRejectedError(
                FilterReject.PERCENT_PRICE,
                f"{self.symbol} price {plain(p)} below {plain(self.percent_down)} x the mark"
                f" price {plain(ref)}",
            )


def filters_from_exchange_info(info: Mapping[str, Any]) -> dict[str, SymbolFilters]:
    return {
        str(s["symbol"]): SymbolFilters.from_symbol_info(s)
        for s in info.get("symbols", [])
        if "symbol" in s
    }
