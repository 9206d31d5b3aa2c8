"""Market data: load and validate a scenario file of candles.

CSV columns: ts (unix seconds, UTC), symbol, open, high, low, close, volume. The whole
file is validated before the first event is replayed, so a malformed row stops the run
with its line number and no order is ever placed from it.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from tradewarden.core.models import Tick

COLUMNS = ["ts", "symbol", "open", "high", "low", "close", "volume"]


class ScenarioError(Exception):
    """The scenario file is missing or malformed."""


def _num(text: str, col: str, line: int) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise ScenarioError(f"line {line}: {col}={text!r} is not a number") from None
    if not math.isfinite(v):
        raise ScenarioError(f"line {line}: {col}={text!r} is not finite")
    return v


def load_scenario(path: Path | str, symbols: tuple[str, ...] | None = None) -> list[Tick]:
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"scenario file {p} does not exist (TRADEWARDEN_SCENARIO)")
    ticks: list[Tick] = []
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header != COLUMNS:
                raise ScenarioError(f"line 1: header must be {','.join(COLUMNS)}, got {header}")
            last_ts = -math.inf
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(COLUMNS):
                    raise ScenarioError(
                        f"line {line}: expected {len(COLUMNS)} fields, got {len(row)}"
                    )
                ts = _num(row[0], "ts", line)
                sym = row[1].strip().upper()
                if not sym.isalnum():
                    raise ScenarioError(f"line {line}: symbol {row[1]!r} is not a symbol")
                if symbols is not None and sym not in symbols:
                    continue
                o, h, lo, c, v = (_num(row[i], COLUMNS[i], line) for i in range(2, 7))
                if min(o, h, lo, c) <= 0 or v < 0:
                    raise ScenarioError(f"line {line}: prices must be > 0 and volume >= 0")
                if h < max(o, c) or lo > min(o, c):
                    raise ScenarioError(f"line {line}: high/low do not contain open/close")
                if ts < last_ts:
                    raise ScenarioError(f"line {line}: ts goes backwards")
                last_ts = ts
                ticks.append(Tick(ts, sym, o, h, lo, c, v))
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"scenario file {p} is not UTF-8 text: {exc}") from None
    if not ticks:
        raise ScenarioError(f"scenario file {p} holds no candles for the configured symbols")
    return ticks
