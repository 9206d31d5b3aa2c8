"""Futures reconciliation: the spot rules (`exchange.reconcile.Reconciler`) on ``/fapi``,
with positions in place of spot balances.

Open orders are judged exactly as on spot (an open order that is not ours -> a security
event). Once every executed quantity is booked ("settled"), each position the exchange holds
(``positionRisk``) is compared with the net quantity of our booked fills of that symbol: a
position on a symbol no bot trades, or one that differs from ours by more than half a lot
step, is a position the daemon did not open (someone else traded the account, a
liquidation): a security event, a HALT (as every balance mismatch, shared account or not)
and a critical alert. The mismatch is reported as a `BalanceMismatch` whose asset reads
``"<SYMBOL> position"``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from tradewarden.core.models import Side
from tradewarden.exchange.futures_gateway import FuturesGateway
from tradewarden.exchange.reconcile import BalanceMismatch, Reconciler
from tradewarden.trading.broker import BrokerError

log = logging.getLogger(__name__)


class FuturesReconciler(Reconciler):
    def __init__(self, broker: FuturesGateway, *args: Any, **kwargs: Any) -> None:
        super().__init__(broker, *args, **kwargs)
        self.futures = broker

    def booked_positions(self) -> dict[str, float]:
        """Net signed quantity of our booked fills per symbol."""
        out: dict[str, float] = defaultdict(float)
        for r in self.store.query("SELECT symbol, side, qty FROM fills"):
            sign = 1.0 if Side(r["side"]) is Side.BUY else -1.0
            out[str(r["symbol"])] += sign * float(r["qty"])
        return dict(out)

    def _half_step(self, symbol: str) -> float:
        try:
            f = self.futures.filters(symbol)
            step = float(f.market_step or f.step)
        except BrokerError:
            step = 0.0
        return max(step / 2.0, 1e-9)

    def _check_balances(self, actual: dict[str, float]) -> list[BalanceMismatch]:
        remote = self.futures.exchange_positions()
        ours = self.booked_positions()
        out = []
        for symbol in sorted(set(remote) | {s for s, q in ours.items() if abs(q) > 1e-12}):
            exp, act = ours.get(symbol, 0.0), remote.get(symbol, 0.0)
            tol = self._half_step(symbol)
            if abs(act - exp) > tol:
                out.append(BalanceMismatch(f"{symbol} position", exp, act, tol))
        if out:
            log.error(
                "futures position the daemon did not open",
                extra={"positions": {m.asset: [m.expected, m.actual] for m in out}},
            )
        return out
