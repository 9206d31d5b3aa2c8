"""The daemon's warnings about what it trades: large position, unusual activity, low balance.

`ActivityWatch` hangs on the trader's events (fills, order submissions) and on the daemon's
housekeeping (balances), and raises the catalogue's warnings through the notifier:

- **large position opened** (`on_fill`): a buy fill makes a bot's position worth more than
  TRADEWARDEN_LARGE_POSITION_USD, or more than TRADEWARDEN_LARGE_POSITION_PCT of the
  portfolio equity, when it was not before (once per crossing, at the fill's price);
- **unusual activity** (`on_order`): within TRADEWARDEN_UNUSUAL_WINDOW_SECONDS,
  TRADEWARDEN_UNUSUAL_FAILED_ORDERS order attempts that failed (the gate let them through,
  then a local filter, the exchange or the network did not take them), or
  TRADEWARDEN_UNUSUAL_REJECTED_ORDERS orders refused by the exchange itself (an error code
  in its answer). Refusals by our own risk engine are not counted: they are the limits
  working, and a halted bot would otherwise warn at every signal. An order on the account
  that we did not place is a critical ``foreign_order`` raised by reconciliation
  (`exchange_loop.ExchangeLoop._on_finding`), not a warning here;
- **low balance** (`check_balances`): the free balance of a quote asset falls below what
  the bots' next entry needs (order fraction x equity of each flat bot trading in it) or,
  for a USD-stable quote, below TRADEWARDEN_LOW_BALANCE_USD (once per fall; armed again
  when it is back above).

"A key used from an unexpected IP": Binance does not report where a spot API key was used
from. ``GET /sapi/v1/account/apiRestrictions`` only says whether the key is IP-restricted
(``ipRestrict``, a boolean, no address list), and there is no access log endpoint for spot
keys. What is observable is watched: the key losing its IP restriction is the critical
``key_permissions_changed`` (permissions.py, checked at start and every
TRADEWARDEN_PERMISSION_CHECK_SECONDS in live mode), and requests from an address outside
the key's whitelist are answered -2015 (an `AuthError`, refreshed and reported by the
gateway; an order refused so counts as refused by the exchange here).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from tradewarden.core.models import Fill, Side
from tradewarden.risk.checks import split_symbol

if TYPE_CHECKING:
    from tradewarden.core.config import Settings
    from tradewarden.strategy import Signal
    from tradewarden.trading.order_gate import Submission
    from tradewarden.trading.trader import Bot, Notifier, Trader

log = logging.getLogger(__name__)

USD_QUOTES = frozenset({"USDT", "USDC", "FDUSD", "TUSD", "BUSD", "USD", "DAI"})


def large_position_mark(
    before: float, after: float, equity: float, *, usd: float, pct: float
) -> str | None:
    """Which large-position mark a position crossed from `before` to `after` (notional in
    quote currency): "usd", "pct" or None. Only an increase past a mark counts; a bad
    number (NaN, a negative equity) never hides one: the notional mark still applies."""
    if not math.isfinite(after) or after <= before:
        return None
    if after > usd >= before:
        return "usd"
    if equity > 0 and math.isfinite(equity) and after / equity > pct >= before / equity:
        return "pct"
    return None


def low_balance_threshold(floor: float, needs: list[float]) -> float:
    """The balance below which the quote is low: the largest next entry, or the floor."""
    return max([floor, *[n for n in needs if math.isfinite(n) and n > 0]])


class Burst:
    """Events in a sliding window; `add` returns the events once `threshold` are in it (and
    starts counting afresh, so a continuing storm warns again after another `threshold`)."""

    def __init__(self, threshold: int, window_s: float, clock: Callable[[], float]) -> None:
        self.threshold = threshold
        self.window_s = window_s
        self.clock = clock
        self._events: deque[tuple[float, str]] = deque()

    def add(self, label: str) -> list[str] | None:
        now = self.clock()
        self._events.append((now, label))
        while self._events and now - self._events[0][0] > self.window_s:
            self._events.popleft()
        if len(self._events) < self.threshold:
            return None
        out = [lbl for _, lbl in self._events]
        self._events.clear()
        return out


class ActivityWatch:
    def __init__(
        self,
        settings: Settings,
        trader: Trader,
        notifier: Notifier,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.s = settings
        self.trader = trader
        self.notifier = notifier
        window = settings.unusual_window_seconds
        self.failed = Burst(settings.unusual_failed_orders, window, clock)
        self.rejected = Burst(settings.unusual_rejected_orders, window, clock)
        self._low: set[str] = set()  # quote assets currently reported low

    def attach(self) -> None:
        self.trader.events.on_fill.append(self.on_fill)
        self.trader.events.on_order.append(self.on_order)

    # --- large position ---------------------------------------------------------------------
    def on_fill(self, fill: Fill) -> None:
        if fill.side is not Side.BUY:
            return
        ledger = self.trader.ledger
        book = ledger.books.get(fill.bot)
        if book is None:
            return
        after = book.qty * fill.price
        before = max(0.0, book.qty - fill.qty) * fill.price
        equity = ledger.portfolio_equity()
        mark = large_position_mark(
            before,
            after,
            equity,
            usd=self.s.large_position_usd,
            pct=self.s.large_position_pct,
        )
        if mark is None:
            return
        share = after / equity if equity > 0 else None
        self.notifier.notify(
            "large_position_opened",
            bot=fill.bot,
            symbol=fill.symbol,
            notional_usd=round(after, 2),
            threshold_usd=self.s.large_position_usd,
            share=share,
            threshold_share=self.s.large_position_pct if mark == "pct" else None,
        )

    # --- unusual activity -------------------------------------------------------------------
    def on_order(self, bot: Bot, signal: Signal, sub: Submission) -> None:
        if sub.denied is not None or not sub.error:
            return  # accepted, or refused by our own risk engine
        label = f"{bot.name} {getattr(signal, 'side', '')}: {sub.error}"[:160]
        if sub.exchange_code is not None:
            burst = self.rejected.add(label)
            if burst is not None:
                self._unusual("orders refused by the exchange", burst, self.rejected)
        burst = self.failed.add(label)
        if burst is not None:
            self._unusual("failed order attempts", burst, self.failed)

    def _unusual(self, what: str, events: list[str], counter: Burst) -> None:
        self.notifier.notify(
            "unusual_activity",
            what=what,
            count=len(events),
            threshold=counter.threshold,
            window_seconds=counter.window_s,
            examples=events,
        )

    # --- low balance ------------------------------------------------------------------------
    def check_balances(self) -> None:
        free = self.trader.risk.book.free
        if not free:
            return  # not known yet (the exchange not reached): nothing to judge
        needs: dict[str, list[float]] = {}
        factor = self.trader.ramp.factor if self.trader.ramp is not None else 1.0
        for b in self.trader.bots:
            quote = split_symbol(b.symbol)[1]
            needs.setdefault(quote, [])
            if self.trader.ledger.tradable(b.name) <= 0:  # flat: its next order is an entry
                equity = max(0.0, self.trader.ledger.equity(b.name))
                needs[quote].append(self.trader.order_fraction * factor * equity)
        for quote, want in sorted(needs.items()):
            floor = self.s.low_balance_usd if quote in USD_QUOTES else 0.0
            threshold = low_balance_threshold(floor, want)
            balance = float(free.get(quote, 0.0))
            if not math.isfinite(balance) or balance < threshold:
                if quote not in self._low:
                    self._low.add(quote)
                    self.notifier.notify(
                        "low_balance",
                        asset=quote,
                        balance=round(balance, 2) if math.isfinite(balance) else balance,
                        threshold=round(threshold, 2),
                    )
            else:
                self._low.discard(quote)
