"""Drawdown from the peak of an equity curve: the shared arithmetic of both drawdown breakers."""

from __future__ import annotations

from typing import Any

from tradewarden.risk.breakers.base import EQUITY, Breaker, Reading

PEAK_PERSIST_STEP = 0.001  # persist equity peaks when they rise by 0.1% (and on every trip)


class PeakDrawdown(Breaker):
    """Tracks peak equity per key and reports (peak - equity) / peak."""

    observes = frozenset({EQUITY})

    def __init__(self, threshold: float) -> None:
        super().__init__(threshold)
        self.peaks: dict[str, float] = {}
        self.drawdowns: dict[str, float] = {}
        self._persisted: dict[str, float] = {}  # the peaks as last marked for persisting

    def _update(self, key: str, equity: float) -> Reading:
        peak = self.peaks.get(key, 0.0)
        if equity > peak:
            self.peaks[key] = peak = equity
        if peak > self._persisted.get(key, 0.0) * (1 + PEAK_PERSIST_STEP):
            self._persisted[key] = peak
            self.dirty = True
        dd = (peak - equity) / peak if peak > 0 else 0.0
        self.drawdowns[key] = dd
        return Reading(self.name, key, dd, self.threshold)

    def readings(self) -> list[Reading]:
        return [Reading(self.name, k, v, self.threshold) for k, v in sorted(self.drawdowns.items())]

    def dump(self) -> dict[str, Any]:
        return {"peaks": self.peaks}

    def load(self, data: dict[str, Any]) -> None:
        self.peaks = {str(k): float(v) for k, v in data.get("peaks", {}).items()}
        self._persisted.update(self.peaks)

    def reset(self, key: str, *, rebase: bool) -> None:
        if rebase:  # the next mark is the new peak
            self.peaks.pop(key, None)
            self.drawdowns.pop(key, None)
            self._persisted.pop(key, None)

    def describe(self, r: Reading) -> str:
        return f"drawdown {r.value:.2%} from peak equity (limit {r.threshold:.2%})"
