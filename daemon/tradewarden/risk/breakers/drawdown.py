"""Drawdown from the peak of an equity curve: the shared arithmetic of both drawdown breakers."""

from __future__ import annotations

from typing import Any

from tradewarden.risk.breakers.base import Breaker, Reading


class PeakDrawdown(Breaker):
    """Tracks peak equity per key and reports (peak - equity) / peak."""

    def __init__(self, threshold: float) -> None:
        super().__init__(threshold)
        self.peaks: dict[str, float] = {}
        self.drawdowns: dict[str, float] = {}

    def _update(self, key: str, equity: float) -> Reading:
        peak = self.peaks.get(key, 0.0)
        if equity > peak:
            self.peaks[key] = peak = equity
        dd = (peak - equity) / peak if peak > 0 else 0.0
        self.drawdowns[key] = dd
        return Reading(self.name, key, dd, self.threshold)

    def readings(self) -> list[Reading]:
        return [Reading(self.name, k, v, self.threshold) for k, v in sorted(self.drawdowns.items())]

    def dump(self) -> dict[str, Any]:
        return {"peaks": self.peaks}

    def load(self, data: dict[str, Any]) -> None:
        self.peaks = {str(k): float(v) for k, v in data.get("peaks", {}).items()}

    def describe(self, r: Reading) -> str:
        return f"drawdown {r.value:.2%} from peak equity (limit {r.threshold:.2%})"
