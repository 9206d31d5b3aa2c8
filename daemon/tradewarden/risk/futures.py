"""USD-M futures position maths (one-way mode, isolated margin).

The same formulas as the fake exchange's futures side (tests/fakes/binance/futures.py,
`Fake.maint`, `liquidation_price`, `_check_liquidation`):

- maintenance margin = |qty| * mark * mmr - cum (the notional's bracket; never below 0);
- liquidation when isolated wallet + unrealised P&L <= maintenance margin;
- liquidation price = (wallet + cum - side * q * entry) / (q * mmr - side * q), with
  q = |qty|, side = +1 long / -1 short, wallet = the isolated wallet.

The brackets are the fake's (illustrative tiers, not Binance's live table): the first tier
is all a bot of this size reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

# (notionalCap, maintMarginRatio) per symbol, as the fake's first tiers (cum follows)
BRACKETS: dict[str, list[tuple[float, float]]] = {
    "BTCUSDT": [(50_000, 0.004), (600_000, 0.005), (3_000_000, 0.0065), (12_000_000, 0.01)],
    "ETHUSDT": [(50_000, 0.005), (600_000, 0.0065), (3_000_000, 0.01), (12_000_000, 0.02)],
}
DEFAULT_BRACKETS = [(50_000.0, 0.01), (600_000.0, 0.02), (3_000_000.0, 0.05)]


@dataclass(frozen=True, slots=True)
class Bracket:
    floor: float
    cap: float
    mmr: float
    cum: float


def brackets(symbol: str) -> list[Bracket]:
    """The symbol's maintenance brackets with their `cum` (maintenance amount), built as
    the fake builds them: cum_i = cum_(i-1) + floor_i * (mmr_i - mmr_(i-1))."""
    out: list[Bracket] = []
    floor = cum = prev = 0.0
    for cap, mmr in BRACKETS.get(symbol, DEFAULT_BRACKETS):
        cum += floor * (mmr - prev)
        out.append(Bracket(floor, float(cap), mmr, cum))
        floor, prev = float(cap), mmr
    return out


def bracket(symbol: str, notional: float) -> Bracket:
    table = brackets(symbol)
    for b in table:
        if notional <= b.cap:
            return b
    return table[-1]


@dataclass(slots=True)
class FuturesPosition:
    """One isolated position: `qty` signed (> 0 long, < 0 short), `entry` its average
    entry price, `margin` its isolated wallet (entry margin + funding)."""

    symbol: str
    leverage: int
    qty: float = 0.0
    entry: float = 0.0
    margin: float = 0.0

    @property
    def side(self) -> int:
        return 1 if self.qty > 0 else -1

    def unrealized(self, mark: float) -> float:
        return (mark - self.entry) * self.qty if self.qty else 0.0

    def maintenance(self, mark: float) -> float:
        notional = abs(self.qty) * mark
        b = bracket(self.symbol, notional)
        return max(notional * b.mmr - b.cum, 0.0)

    def liquidated_at(self, mark: float) -> bool:
        """The fake's isolated rule: wallet + unrealised P&L <= maintenance margin."""
        if not self.qty:
            return False
        return self.margin + self.unrealized(mark) <= self.maintenance(mark)

    def liquidation_price(self, mark: float) -> float:
        """0 when flat (or when no price liquidates it: a long whose margin covers it all)."""
        if not self.qty:
            return 0.0
        q, side = abs(self.qty), self.side
        b = bracket(self.symbol, q * mark)
        price = (self.margin + b.cum - side * q * self.entry) / (q * b.mmr - side * q)
        return max(price, 0.0)


def liquidation_distance_pct(mark: float, liquidation: float) -> float | None:
    """How far the mark is from the liquidation price, in % of the mark (None: flat or
    nothing liquidates)."""
    if liquidation <= 0 or mark <= 0:
        return None
    return abs(mark - liquidation) / mark * 100.0
