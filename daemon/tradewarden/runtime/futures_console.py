"""The console lines of a paper futures run (`tradewarden run --scenario futures`): the
futures envelope at start, each funding payment, the liquidation-distance breaker's
reduce, any liquidation, and at the end whether a liquidation happened (audited too)."""

from __future__ import annotations

from tradewarden.core.config import Settings
from tradewarden.risk.breakers import Reading
from tradewarden.runtime.summary import RunPrinter, utc
from tradewarden.trading.futures_trader import FuturesTrader
from tradewarden.trading.paper_futures import Funding, Liquidation


class FuturesConsole:
    def __init__(self, printer: RunPrinter | None, trader: FuturesTrader) -> None:
        self.printer = printer
        self.trader = trader
        if printer is not None:
            ev = trader.futures_events
            ev.on_reduce.append(self.on_reduce)
            ev.on_funding.append(self.on_funding)
            ev.on_liquidation.append(self.on_liquidation)

    def _p(self, text: str = "") -> None:
        if self.printer is not None:
            self.printer.p(text)

    def header(self, settings: Settings) -> None:
        self._p(
            f"Futures (paper, USD-M, one-way, isolated): leverage {settings.futures_leverage}x"
            f" (max {settings.futures_max_leverage}x); liquidation-distance breaker: reduce at"
            f" {settings.liq_distance_reduce_pct:.0%}, emergency flatten at"
            f" {settings.liq_distance_flatten_pct:.0%} from the liquidation price; funding"
            f" {settings.paper_funding_rate:.4%} every 8 h"
        )

    def on_funding(self, f: Funding) -> None:
        verb = "received" if f.amount >= 0 else "paid"
        self._p(
            f"[{utc(f.ts)}]   FUNDING {f.bot} {verb} {abs(f.amount):,.4f} USDT"
            f" (rate {f.rate:.4%}, mark {f.mark:,.2f})"
        )

    def on_reduce(self, reading: Reading) -> None:
        when = utc(self.trader.now)
        self._p("")
        self._p(
            f"!! [{when}] REDUCING: {reading.breaker} on {reading.bot} — mark price"
            f" {reading.value:.2%} from the liquidation price; reduceOnly orders only"
        )
        bot = next((b for b in self.trader.bots if b.name == reading.bot), None)
        if bot is not None:
            mark = self.trader.prices.get(bot.symbol, 0.0)
            pos = self.trader.futures.position(bot.name, bot.symbol)
            self._p(
                f"!!   {pos.qty:g} {bot.symbol} entered at {pos.entry:,.2f}: mark {mark:,.2f},"
                f" liquidation price {pos.liquidation_price(mark):,.2f}"
            )
        self._p("!!   closing half the position with a reduceOnly MARKET order")

    def on_liquidation(self, liq: Liquidation) -> None:
        self._p(
            f"!! [{utc(liq.ts)}] LIQUIDATED: {liq.bot} {liq.qty:g} {liq.symbol} at"
            f" {liq.mark:,.2f}; isolated margin {liq.margin_lost:,.2f} USDT lost"
        )

    def finish(self) -> None:
        """Audit and print how the run ended: liquidations (none, when the breaker did its
        job), funding booked, positions left."""
        record = self.trader.summary_record()
        self.trader.audit.append("futures_run_summary", record, sync=True)
        liqs = record["liquidations"]
        if liqs:
            self._p(f"Futures: {len(liqs)} LIQUIDATION(S): {liqs}")
        else:
            self._p(
                "Futures: no liquidation — the paper model never reached the maintenance margin"
            )
        self._p(
            f"Futures: funding booked into P&L {record['funding_total']:+,.4f} USDT;"
            f" positions left {record['positions']}"
        )
