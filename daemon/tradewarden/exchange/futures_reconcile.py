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

Each configured symbol's set-up (isolated margin at TRADEWARDEN_FUTURES_LEVERAGE, set and
verified at start) is read again (``positionRisk`` v2): a symbol someone switched to cross
margin or whose leverage was changed is a mismatch (asset ``"<SYMBOL> margin type"`` /
``"<SYMBOL> leverage"``): HALT, before the next entry opens at that leverage.

The wallet (USDT, ``walletBalance``) is checked as spot checks balances: at each settled
run without findings the baseline is taken; the next run expects the wallet to have moved
by what our fills explain (their cash flow, less commissions, plus the change of each
position's cost at the exchange's entry price: the realized P&L) and by the FUNDING_FEE
income since (asked only when the rest does not explain the change). Money moved any other
way (a transfer out of the futures wallet, a trade not ours) beyond
`settings.balance_tolerance` is a mismatch of asset ``"USDT wallet"``: HALT.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from tradewarden.core.models import Side
from tradewarden.exchange.futures_gateway import FuturesGateway
from tradewarden.exchange.reconcile import BalanceMismatch, Reconciler
from tradewarden.state.keys import StateKey
from tradewarden.trading.broker import BrokerError

log = logging.getLogger(__name__)
WALLET_KEY = StateKey.EXCHANGE_FUTURES_WALLET
MARGIN_ASSET = "USDT"
FUNDING_SLACK_MS = 5000


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

    def _fills_value(self, positions: dict[str, dict[str, Any]]) -> float:
        """Cash flow of every booked fill (less its commission) plus each open position's
        cost at the exchange's entry price: the realized P&L less fees, to an offset."""
        value = 0.0
        for r in self.store.query("SELECT side, qty, price, fee FROM fills"):
            sign = 1.0 if Side(r["side"]) is Side.BUY else -1.0
            value -= sign * float(r["qty"]) * float(r["price"]) + float(r["fee"])
        for row in positions.values():
            value += float(row.get("positionAmt") or 0.0) * float(row.get("entryPrice") or 0.0)
        return value

    def _check_wallet(self, actual: dict[str, float]) -> list[BalanceMismatch]:
        positions = self.futures.refresh_positions()
        wallet = float(actual.get(MARGIN_ASSET, 0.0))
        value = self._fills_value(positions)
        now_ms = int(self._server_ms())
        snap = self.store.get(WALLET_KEY)
        if not isinstance(snap, dict):
            self.store.put(WALLET_KEY, {"wallet": wallet, "value": value, "ts_ms": now_ms})
            return []
        expected = float(snap["wallet"]) + value - float(snap["value"])
        tol = self.settings.balance_tolerance * max(abs(expected), abs(wallet)) + 1e-6
        if abs(wallet - expected) > tol:
            expected = self._with_funding(wallet, expected, tol, int(snap["ts_ms"]))
        if abs(wallet - expected) > tol:
            return [BalanceMismatch(f"{MARGIN_ASSET} wallet", expected, wallet, tol)]
        self.store.put(WALLET_KEY, {"wallet": wallet, "value": value, "ts_ms": now_ms})
        return []

    def _with_funding(self, wallet: float, expected: float, tol: float, since_ms: int) -> float:
        """`expected` plus the funding paid since the baseline, when that explains the
        wallet. The baseline's wallet was read shortly before its time was taken: funding of
        the last `FUNDING_SLACK_MS` before it may or may not be in it (each cut is tried)."""
        try:
            rows = self.futures.funding_income_since(since_ms - FUNDING_SLACK_MS)
        except BrokerError as exc:
            log.warning("funding income not read for the wallet check: %s", exc)
            return expected
        late = sum(a for t, a in rows if t >= since_ms)
        candidates = [expected + late]
        for cut in sorted({t for t, _ in rows if t < since_ms}):
            candidates.append(expected + sum(a for t, a in rows if t >= cut))
        return min(candidates, key=lambda e: abs(wallet - e))

    def accept_balances(self) -> None:
        super().accept_balances()
        self.store.put(WALLET_KEY, None)

    def _check_balances(self, actual: dict[str, float]) -> list[BalanceMismatch]:
        return self._check_setup() + self._check_positions() + self._check_wallet(actual)

    def _check_setup(self) -> list[BalanceMismatch]:
        """A configured symbol no longer isolated at TRADEWARDEN_FUTURES_LEVERAGE (changed
        on the account after start: the next entry would open at that leverage, or put
        the whole wallet behind the position): a mismatch, HALT. Reported as asset
        ``"<SYMBOL> leverage"`` (expected / actual: the leverage) or ``"<SYMBOL> margin
        type"`` (expected 1 isolated, actual 0)."""
        out = []
        want = self.settings.futures_leverage
        for symbol, (margin_type, leverage) in sorted(self.futures.symbol_setups().items()):
            if margin_type != "isolated":
                out.append(BalanceMismatch(f"{symbol} margin type", 1.0, 0.0, 0.0))
            if leverage != want:
                out.append(BalanceMismatch(f"{symbol} leverage", want, leverage, 0.0))
            if margin_type != "isolated" or leverage != want:
                log.error(
                    "futures symbol set-up changed after start",
                    extra={"symbol": symbol, "margin_type": margin_type, "leverage": leverage},
                )
        return out

    def _check_positions(self) -> list[BalanceMismatch]:
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
