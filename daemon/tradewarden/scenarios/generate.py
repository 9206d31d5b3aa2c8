"""Generate the deterministic demo scenario: 1-minute candles for BTCUSDT and ETHUSDT.

Phases (UTC, starting 2026-01-05): a trending day, a choppy morning that whipsaws a
moving-average strategy, then a crash leg (about -45% over six hours, wide candles that
put the market in volatility zone Z5), and a slow recovery. Same seed, same file.

    python -m tradewarden.scenarios.generate [--out PATH] [--days N]
"""

from __future__ import annotations

import argparse
import csv
import math
import random
from datetime import UTC, datetime
from pathlib import Path

START = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())
SYMBOLS = {"BTCUSDT": 42_000.0, "ETHUSDT": 2_300.0}


def _drift_and_vol(minute: int) -> tuple[float, float]:
    """Per-minute drift and volatility by phase."""
    hour = minute / 60
    if hour < 20:  # trend up with pullbacks
        return 0.00012 * math.sin(minute / 90) + 0.00006, 0.0008
    if hour < 30:  # chop: mean-reverting whipsaw
        return 0.0025 * math.sin(minute / 11), 0.0012
    if hour < 36:  # crash leg: ~-45% over six hours
        return -0.0017, 0.009
    return 0.00008, 0.0015  # recovery


def generate(
    days: int = 2, seed: int = 20260105
) -> list[tuple[int, str, float, float, float, float, float]]:
    rng = random.Random(seed)  # deterministic on purpose: this is a fixture, not crypto
    rows = []
    prices = dict(SYMBOLS)
    minutes = days * 1440
    for m in range(minutes):
        ts = START + 60 * m
        drift, vol = _drift_and_vol(m)
        for sym in SYMBOLS:
            beta = 1.0 if sym == "BTCUSDT" else 1.15
            o = prices[sym]
            c = o * math.exp(beta * drift + rng.gauss(0, vol * beta))
            wick = abs(rng.gauss(0, vol * beta * 0.6))
            h = max(o, c) * (1 + wick)
            lo = min(o, c) * (1 - wick)
            v = round(abs(rng.gauss(50, 15)) * (3 if vol > 0.005 else 1), 4)
            rows.append((ts, sym, round(o, 2), round(h, 2), round(lo, 2), round(c, 2), v))
            prices[sym] = c
    return rows


def write(path: Path, rows: list[tuple[int, str, float, float, float, float, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "symbol", "open", "high", "low", "close", "volume"])
        w.writerows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("default.csv"))
    ap.add_argument("--days", type=int, default=2)
    args = ap.parse_args()
    rows = generate(args.days)
    write(args.out, rows)
    print(f"wrote {len(rows)} candles to {args.out}")


if __name__ == "__main__":
    main()
