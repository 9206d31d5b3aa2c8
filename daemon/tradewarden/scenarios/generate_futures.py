"""Generate the futures demo scenario (`tradewarden run --demo --scenario futures`).

BTCUSDT 1-minute candles, UTC from 2026-01-05 00:00, smooth on purpose (no noise, so the
moving-average signals fall where the story needs them):

1. a slow climb (the strategy stays flat: no cross yet);
2. a turn down: SMA5 crosses below SMA20 and the futures bot goes short (3x, isolated);
3. a long slow bleed through the 08:00 UTC funding (the short receives funding);
4. the squeeze: a few wide candles up by more than 20% in minutes. The mark price comes
   within 30% of the short's liquidation price (the breaker halves the position with a
   reduceOnly order, REDUCING), then within 15% (emergency flatten: HALTED, the rest closed
   with a reduceOnly MARKET order), while the paper model's liquidation price (about
   +33% from the entry) is never reached;
5. the squeeze fades.

    python -m tradewarden.scenarios.generate_futures [--out PATH]
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from tradewarden.scenarios.generate import write

START = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())
SYMBOL = "BTCUSDT"
# (minutes, per-minute change) phases; the squeeze as single candles
PHASES: list[tuple[int, float]] = [
    (60, 0.0004),  # 1. climb
    (30, -0.0006),  # 2. turn down: the short
    (450, -0.00003),  # 3. slow bleed through 08:00 UTC funding
    (10, -0.003),  # the last leg down before the squeeze
    (1, 0.085),  # 4. the squeeze: reduce ...
    (1, 0.13),  # ... and flatten
    (1, 0.05),
    (1, 0.03),
    (120, -0.0005),  # 5. fades
]
RANGE = 0.0006  # high/low around each candle's body


def generate() -> list[tuple[int, str, float, float, float, float, float]]:
    rows = []
    price = 42_000.0
    m = 0
    for minutes, step in PHASES:
        for _ in range(minutes):
            o, c = price, price * (1 + step)
            h = max(o, c) * (1 + RANGE)
            lo = min(o, c) * (1 - RANGE)
            vol = 40.0 if abs(step) < 0.01 else 400.0
            rows.append(
                (START + 60 * m, SYMBOL, round(o, 2), round(h, 2), round(lo, 2), round(c, 2), vol)
            )
            price, m = c, m + 1
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("futures_squeeze.csv"))
    args = ap.parse_args()
    rows = generate()
    write(args.out, rows)
    print(f"wrote {len(rows)} candles to {args.out}")


if __name__ == "__main__":
    main()
