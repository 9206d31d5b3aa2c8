"""Per-bot accounting: virtual cash, positions, round-trip P&L and equity.

Each bot trades a virtual slice of the account (the starting balance split evenly). A
round trip closes when a bot's position returns to zero; its P&L (fees included) is what
the consecutive-losses breaker and the paper report see. The ledger is rebuilt from the
recorded fills at start, so it needs no state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tradewarden.core.models import Fill, Side
from tradewarden.state.keys import KeyName, StateKey

EPS = 1e-12
DUST_KEY = StateKey.LEDGER_DUST


class _KV(Protocol):
    def get(self, key: KeyName, default: Any = None) -> Any: ...


def load_dust(store: _KV) -> dict[str, float]:
    """The dust thresholds the trader learned (``ledger.dust`` in the store)."""
    got = store.get(DUST_KEY)
    return {str(k): float(v) for k, v in got.items()} if isinstance(got, dict) else {}


@dataclass(slots=True)
class BotBook:
    bot: str
    symbol: str
    cash: float
    qty: float = 0.0
    avg_price: float = 0.0
    realized: float = 0.0
    trip_pnl: float = 0.0  # P&L of the round trip in progress (fees included)
    fees: float = 0.0  # every commission paid, valued in the quote asset
    trades: int = 0
    wins: int = 0
    gross_profit: float = 0.0
    gross_loss: float = 0.0
    last_price: float = 0.0
    funding: float = 0.0  # futures funding received (> 0) or paid (< 0), in P&L

    def equity(self, price: float | None = None) -> float:
        px = self.last_price if price is None else price
        return self.cash + self.qty * px

    def unrealized(self) -> float:
        return self.qty * (self.last_price - self.avg_price) if self.qty else 0.0


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    bot: str
    symbol: str
    pnl: float
    ts: float


class Ledger:
    """`dust[symbol]`: a position below this (the lot step or the minimum quantity: what an
    exit rounded down to the lot step leaves) is flat for round trips; it stays in `qty`,
    so the position always equals what the exchange holds for the bot, and is sold with
    the next exit that can include it. A fixed number per symbol, so that replaying the
    fills (crash recovery, chaos checks) ends round trips where the live ledger did."""

    def __init__(self, bots: list[tuple[str, str]], starting_balance: float) -> None:
        share = starting_balance / max(1, len(bots))
        self.books = {name: BotBook(name, symbol, share) for name, symbol in bots}
        self.dust: dict[str, float] = {}
        # the NOTIONAL / MIN_NOTIONAL minimum of a MARKET order per symbol (learned by the
        # trader): a position worth less cannot be sold either (strategy view only; round
        # trips end at `dust`, so that replays do not depend on prices)
        self.min_notional: dict[str, float] = {}

    def tradable(self, bot: str) -> float:
        """The position a strategy should see: 0 when only unsellable dust is left (below
        the lot step, or worth less than the minimum notional at the last price), so that
        the strategy can enter again (the next exit sells the leftover with it)."""
        b = self.books[bot]
        if abs(b.qty) <= self.dust.get(b.symbol, 0.0) + EPS:
            return 0.0
        floor = self.min_notional.get(b.symbol, 0.0)
        if floor and b.last_price > 0 and abs(b.qty) * b.last_price < floor:
            return 0.0
        return b.qty

    def apply(self, fill: Fill) -> ClosedTrade | None:
        """Book one fill. The commission counts against P&L (`fee`, valued in the quote
        asset) and, when taken from the base asset, against the position (`fee_base`);
        the quote asset pays the rest of it."""
        b = self.books.get(fill.bot)
        if b is None:
            return None
        b.last_price = fill.price
        signed = fill.qty if fill.side is Side.BUY else -fill.qty
        change = fill.position_change
        b.cash -= signed * fill.price + (fill.fee - fill.fee_base * fill.price)
        b.trip_pnl -= fill.fee
        b.realized -= fill.fee
        b.fees += fill.fee
        dust = self.dust.get(b.symbol, 0.0)
        if b.qty * signed >= 0 or abs(b.qty) <= EPS:  # opening or adding
            new_qty = b.qty + change
            if abs(new_qty) > EPS:
                b.avg_price = (b.avg_price * abs(b.qty) + fill.price * abs(change)) / (
                    abs(b.qty) + abs(change)
                )
            b.qty = new_qty
            return None
        closing = min(abs(signed), abs(b.qty))
        pnl = closing * (fill.price - b.avg_price) * (1 if b.qty > 0 else -1)
        b.realized += pnl
        b.trip_pnl += pnl
        b.qty += change
        if abs(b.qty) <= dust + EPS:  # flat, or only dust that cannot be sold is left
            if abs(b.qty) <= EPS:
                b.qty, b.avg_price = 0.0, 0.0
            return self._close(b, fill.ts)
        if b.qty * signed > 0:  # flipped through zero: the remainder opens a new trip
            b.avg_price = fill.price
            return self._close(b, fill.ts)
        return None

    def book_funding(self, bot: str, amount: float) -> None:
        """A futures funding payment (received > 0, paid < 0): cash and P&L, so the bot's
        and the portfolio's equity (and the breakers reading them) include it."""
        b = self.books.get(bot)
        if b is None:
            return
        b.cash += amount
        b.realized += amount
        b.trip_pnl += amount
        b.funding += amount

    def restore_funding(self, bot: str, amount: float) -> None:
        """Funding booked before a restart (the exchange's, kept in the store): cash and
        P&L as `book_funding`, not the round trip it fell in (that trip's P&L is recorded)."""
        b = self.books.get(bot)
        if b is None:
            return
        b.cash += amount
        b.realized += amount
        b.funding += amount

    def _close(self, b: BotBook, ts: float) -> ClosedTrade:
        pnl, b.trip_pnl = b.trip_pnl, 0.0
        b.trades += 1
        if pnl > 0:
            b.wins += 1
            b.gross_profit += pnl
        else:
            b.gross_loss += -pnl
        return ClosedTrade(b.bot, b.symbol, pnl, ts)

    def mark(self, symbol: str, price: float) -> None:
        for b in self.books.values():
            if b.symbol == symbol:
                b.last_price = price

    def equity(self, bot: str) -> float:
        return self.books[bot].equity()

    def portfolio_equity(self) -> float:
        return sum(b.equity() for b in self.books.values())

    def summary(self) -> dict[str, Any]:
        out = {}
        for b in self.books.values():
            out[b.bot] = {
                "symbol": b.symbol,
                "equity": round(b.equity(), 2),
                "cash": b.cash,
                "position": b.qty,
                "fees": b.fees,
                "funding": b.funding,
                "realized_pnl": round(b.realized, 2),
                "unrealized_pnl": round(b.unrealized(), 2),
                "trades": b.trades,
                "win_rate": round(b.wins / b.trades, 4) if b.trades else None,
                "profit_factor": round(b.gross_profit / b.gross_loss, 4) if b.gross_loss else None,
            }
        return out
