"""Reconciliation: the exchange's open orders and balances against the local record.

Run at start and every `settings.reconcile_interval_seconds`. One run:

1. reads the account balances (free + locked) first, then the exchange's open orders:
   of the whole account (``GET openOrders`` without a symbol, weight 80) on a full run,
   else of each configured symbol and each symbol we have an open order on (weight 6
   each; the account-wide call when that is not cheaper). A partial run is what the
   event-driven loop does between full ones while the user data stream is healthy: the
   stream reports every order of the account as it happens (one not ours brings a full
   run forward, see `runtime.exchange_loop`), so an order on a symbol we do not trade
   is still found; the foreign-order rules below are the same for both;
2. an open order on the exchange is ours only if its client order id is one of ours
   (`client_ids.is_ours`), the store has that row, and symbol, side, type and exchange
   order id agree with it; and a row that is closed may not reappear open, unless it was
   closed by our own EXPIRED verdict (an order that became visible late). Anything else
   is *unknown on exchange* (someone else trades this account, or reuses one of our
   closed ids: clientOrderId is unique only among open orders); ours are written to rows;
2b. orders we judged EXPIRED ourselves (never seen past recvWindow + margin) are asked
   about again for `VERDICT_HORIZON_S`: one that shows up after all is written to its row
   and its fills are booked like any other (see `OrderTracker.mark_expired`);
3. every local open order the exchange does not list is asked for by client order id:
   known -> its state is written (a fill, a cancel: not a mismatch); unknown and the row is
   NEW/PARTIALLY_FILLED -> *missing on exchange*; unknown and the row is PENDING/UNKNOWN
   -> EXPIRED (a verdict remembered, see 2b); both only once the request can no longer
   land and reads had time to show it (timestamp + recvWindow + the expiry margin);
   resolved PENDING/UNKNOWN orders are listed in `resolved_unknowns`;
4. balances, only when every executed quantity is booked ("settled"): the expected
   balance of each asset of our symbols is the balance seen at the last settled run plus
   our fills booked since, each less its commission in the asset it was taken from
   (the received asset, or BNB; fills booked before commissions were recorded may have
   paid it from either asset of the fill); a difference
   beyond `settings.balance_tolerance` (relative) is checked once more with fresh
   balances, then reported. The first settled run only takes the baseline.

Any finding is a security event: `on_event(report)` with action "halt" (emergency stop +
critical alert), or "reduce" (REDUCING + warning) for foreign/missing orders when
`settings.shared_account` is set. Balance mismatches are always "halt".
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tradewarden.core.config import Settings
from tradewarden.core.models import Order, OrderStatus, Side
from tradewarden.exchange import endpoints as ep
from tradewarden.risk.checks import split_symbol
from tradewarden.state.keys import StateKey
from tradewarden.state.store import Store
from tradewarden.trading.broker import BrokerError, ExchangeBroker
from tradewarden.trading.client_ids import is_ours
from tradewarden.trading.order_tracker import (
    QTY_EPS,
    OrderTracker,
    expired_verdicts,
    forget_expired_verdicts,
    tracker_for,
)

log = logging.getLogger(__name__)

SNAPSHOT_KEY = StateKey.EXCHANGE_RECONCILE_BALANCES
UNRESOLVED = frozenset({OrderStatus.PENDING, OrderStatus.UNKNOWN})
FEE_ASSET = "BNB"
VERDICT_HORIZON_S = 3600.0  # how long an order we judged EXPIRED is still asked about


def same_order(local: Order, remote: Order) -> bool:
    """`remote` is the exchange's view of our row `local` (not another order reusing its
    client order id): symbol, side, type and, once known, the exchange order id agree."""
    return (
        is_ours(local.client_order_id)
        and local.symbol == remote.symbol
        and local.side is remote.side
        and local.order_type is remote.order_type
        and (local.exchange_order_id is None or local.exchange_order_id == remote.exchange_order_id)
    )


@dataclass(frozen=True, slots=True)
class BalanceMismatch:
    asset: str
    expected: float
    actual: float
    tolerance: float


@dataclass
class ReconcileReport:
    ok: bool
    action: str  # "none" | "reduce" | "halt"
    unknown_on_exchange: list[Order] = field(default_factory=list)
    missing_on_exchange: list[Order] = field(default_factory=list)
    balance_mismatches: list[BalanceMismatch] = field(default_factory=list)
    resolved_unknowns: list[Order] = field(default_factory=list)
    balances_checked: bool = False
    ts: float = 0.0

    def summary(self) -> str:
        if self.ok:
            return "reconciled: exchange and local record agree"
        parts = []
        if self.unknown_on_exchange:
            ids = ", ".join(f"{o.symbol}:{o.client_order_id}" for o in self.unknown_on_exchange)
            parts.append(f"{len(self.unknown_on_exchange)} open order(s) not ours ({ids})")
        if self.missing_on_exchange:
            ids = ", ".join(o.client_order_id for o in self.missing_on_exchange)
            parts.append(
                f"{len(self.missing_on_exchange)} local open order(s) the exchange does"
                f" not know ({ids})"
            )
        for m in self.balance_mismatches:
            parts.append(f"{m.asset} balance {m.actual:.8g} but expected {m.expected:.8g}")
        return f"reconciliation mismatch ({self.action}): " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        def ids(orders: list[Order]) -> list[dict[str, Any]]:
            return [
                {
                    "client_order_id": o.client_order_id,
                    "symbol": o.symbol,
                    "side": str(o.side),
                    "qty": o.qty,
                    "price": o.price,
                    "status": str(o.status),
                }
                for o in orders
            ]

        return {
            "ok": self.ok,
            "action": self.action,
            "unknown_on_exchange": ids(self.unknown_on_exchange),
            "missing_on_exchange": ids(self.missing_on_exchange),
            "balance_mismatches": [vars_of(m) for m in self.balance_mismatches],
            "resolved_unknowns": ids(self.resolved_unknowns),
            "balances_checked": self.balances_checked,
            "ts": self.ts,
        }


def vars_of(m: BalanceMismatch) -> dict[str, Any]:
    return {"asset": m.asset, "expected": m.expected, "actual": m.actual, "tolerance": m.tolerance}


class Reconciler:
    def __init__(
        self,
        broker: ExchangeBroker,
        store: Store,
        settings: Settings,
        on_event: Callable[[ReconcileReport], None],
        *,
        wall: Callable[[], float] = time.time,
        expiry_margin_s: float | None = None,
        tracker: OrderTracker | None = None,
    ) -> None:
        self.broker = broker
        self.store = store
        self.tracker = tracker or tracker_for(store)
        self.settings = settings
        self.on_event = on_event
        self._wall = wall
        if expiry_margin_s is None:
            expiry_margin_s = settings.order_expiry_margin_seconds
        self._margin_ms = expiry_margin_s * 1000.0
        self._started_ms = wall() * 1000.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._run_lock = threading.Lock()
        self.runs = 0

    # --- scheduling -------------------------------------------------------------------------
    def start(self) -> None:
        """Reconcile now (in the caller's thread), then every interval in a daemon thread."""
        self.run_once()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tw-reconcile", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.reconcile_interval_seconds):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - keep reconciling; the next run retries
                log.exception("reconciliation run failed")

    def accept_balances(self) -> None:
        """Drop the balance baseline (after a human checked a mismatch); the next settled
        run takes a new one."""
        self.store.put(SNAPSHOT_KEY, None)

    # --- one run ----------------------------------------------------------------------------
    def run_once(self, *, full: bool = True) -> ReconcileReport:
        """One run; `full=False` lists the open orders of our symbols only (module doc)."""
        with self._run_lock:
            report = self._run(full)
            self.runs += 1
        if not report.ok:
            log.error(report.summary(), extra={"reconcile": report.to_dict()})
            self.on_event(report)
        return report

    def _run(self, full: bool) -> ReconcileReport:
        totals = self._balances()
        busy = self.broker.in_flight()
        remote_open = self._remote_open(full)
        remote_by_cid = {o.client_order_id: o for o in remote_open}
        unknown: list[Order] = []
        resolved: list[Order] = []
        missing: list[Order] = []
        settled = True
        verdicts = expired_verdicts(self.store)
        late: set[str] = set()
        for r in remote_open:
            local = self.store.get_order(r.client_order_id)
            if local is None or not same_order(local, r):
                unknown.append(r)
                continue
            if r.client_order_id in busy:
                settled = False
                continue
            if not local.status.is_open:
                if r.client_order_id not in verdicts or local.exchange_order_id is not None:
                    unknown.append(r)  # a closed order of ours reappears open
                    continue
                late.add(r.client_order_id)  # shown late: ours after all
                settled = False
            self.tracker.process_order_update(r)
            if local.status in UNRESOLVED or r.client_order_id in late:
                resolved.append(r)
        for cid, at in verdicts.items():
            if cid in late or cid in busy:
                continue
            if self._wall() - at > VERDICT_HORIZON_S:
                late.add(cid)  # asked about long enough: forget it
                continue
            lo = self.store.get_order(cid)
            if lo is None or lo.status is not OrderStatus.EXPIRED:
                late.add(cid)
                continue
            try:
                remote = self.broker.query(lo.symbol, cid)
            except BrokerError as exc:
                log.warning("reconcile: cannot query %s: %s", cid, exc)
                settled = False
                continue
            if remote is None:
                continue
            late.add(cid)
            if not same_order(lo, remote):
                continue  # another order under that id; listed as foreign if it is open
            log.warning("order judged EXPIRED showed up after all", extra={"cid": cid})
            self.tracker.process_order_update(remote)
            resolved.append(remote)
            if remote.filled_qty > self._booked(cid) + QTY_EPS:
                settled = False
        forget_expired_verdicts(self.store, late)
        for lo in self.store.open_orders():
            cid = lo.client_order_id
            if cid in busy:
                settled = False
                continue
            remote = remote_by_cid.get(cid)
            if remote is None:
                try:
                    remote = self.broker.query(lo.symbol, cid)
                except BrokerError as exc:
                    log.warning("reconcile: cannot query %s: %s", cid, exc)
                    settled = False
                    continue
                if remote is not None:
                    self.tracker.process_order_update(remote)
                    if lo.status in UNRESOLVED:
                        resolved.append(remote)
            if remote is not None:
                if remote.filled_qty > self._booked(cid) + QTY_EPS:
                    settled = False
                continue
            if not self._can_no_longer_land(lo):
                # reads are asynchronous (an accepted order may not be visible yet): not
                # EXPIRED, and not missing, before recvWindow + the expiry margin
                settled = False
                continue
            if lo.status in UNRESOLVED:
                self.tracker.mark_expired(cid)  # and remembered as our verdict
                lo.status = OrderStatus.EXPIRED
                resolved.append(lo)
                continue
            missing.append(lo)
        mismatches: list[BalanceMismatch] = []
        checked = False
        if settled:
            mismatches = self._check_balances(totals)
            if mismatches:  # once more with fresh balances: a fill may have landed between
                mismatches = self._check_balances(self._balances())
            checked = True
        action = "none"
        if unknown or missing:
            action = "reduce" if self.settings.shared_account else "halt"
        if mismatches:
            action = "halt"
        return ReconcileReport(
            ok=action == "none",
            action=action,
            unknown_on_exchange=unknown,
            missing_on_exchange=missing,
            balance_mismatches=mismatches,
            resolved_unknowns=resolved,
            balances_checked=checked,
            ts=self._wall(),
        )

    # --- helpers ----------------------------------------------------------------------------
    def _remote_open(self, full: bool) -> list[Order]:
        """The exchange's open orders: the account's (full), else those of every configured
        symbol and every symbol of a local open order, one request each, unless the
        account-wide request weighs no more."""
        symbols = set(self.settings.symbols) | {o.symbol for o in self.store.open_orders()}
        per_symbol = len(symbols) * ep.OPEN_ORDERS_SYMBOL.weight
        if full or not symbols or per_symbol >= ep.OPEN_ORDERS_ALL.weight:
            return self.broker.open_orders()
        out: list[Order] = []
        for symbol in sorted(symbols):
            out += self.broker.open_orders(symbol)
        return out

    def _server_ms(self) -> float:
        return float(self.broker.timesync.server_ms())

    def _can_no_longer_land(self, lo: Order) -> bool:
        """True once the request for `lo` is past timestamp + recvWindow on the exchange.

        Upper bound of its timestamp: when this process last sent it, else the later of the
        row's last update and this reconciler's start (a crashed process sent it before)."""
        sent = self.broker.sent_at_ms(lo.client_order_id)
        if sent is None:
            sent = max(lo.updated_at * 1000.0, self._started_ms)
        return self._server_ms() > sent + self.settings.recv_window_ms + self._margin_ms

    def _booked(self, cid: str) -> float:
        return sum(float(r["qty"]) for r in self.store.fills_for(cid))

    def _balances(self) -> dict[str, float]:
        return dict(self.broker.total_balances())

    def _assets_of(self, symbol: str) -> tuple[str, str]:
        try:
            f = self.broker.filters(symbol)
            if f.base_asset and f.quote_asset:
                return f.base_asset, f.quote_asset
        except BrokerError:
            log.debug("no filters for %s", symbol)
        return split_symbol(symbol)

    def _fill_mark(self) -> int:
        return int(self.store.query("SELECT COALESCE(MAX(rowid), 0) FROM fills")[0][0])

    def _check_balances(self, actual: dict[str, float]) -> list[BalanceMismatch]:
        assets = {a for s in self.settings.symbols for a in self._assets_of(s)}
        if actual.get(FEE_ASSET):  # BNB held pays commissions (when enabled): watch it too
            assets.add(FEE_ASSET)
        mark = self._fill_mark()
        snap = self.store.get(SNAPSHOT_KEY)
        now_balances = {a: float(actual.get(a, 0.0)) for a in sorted(assets)}
        if not isinstance(snap, dict):
            self.store.put(
                SNAPSHOT_KEY, {"mark": mark, "balances": now_balances, "ts": self._wall()}
            )
            return []
        expected: dict[str, float] = defaultdict(float, snap.get("balances", {}))
        slack: dict[str, float] = defaultdict(float)
        rows = self.store.query(
            "SELECT symbol, side, qty, price, fee, commission, commission_asset FROM fills"
            " WHERE rowid > ? AND rowid <= ?",
            (int(snap.get("mark", 0)), mark),
        )
        for r in rows:
            base, quote = self._assets_of(r["symbol"])
            qty, price, fee = float(r["qty"]), float(r["price"]), float(r["fee"])
            sign = 1.0 if Side(r["side"]) is Side.BUY else -1.0
            expected[base] += sign * qty
            expected[quote] -= sign * qty * price
            if r["commission_asset"]:  # exactly what the exchange took, from that asset
                expected[r["commission_asset"]] -= float(r["commission"])
                assets.add(r["commission_asset"])
            else:  # booked before commissions were recorded: from either asset
                slack[base] += fee / price if price > 0 else 0.0
                slack[quote] += fee
        tol_rel = self.settings.balance_tolerance
        out = []
        for asset in sorted(assets | set(expected)):
            exp, act = expected.get(asset, 0.0), float(actual.get(asset, 0.0))
            tol = tol_rel * max(abs(exp), abs(act)) + 1e-8
            if act > exp + tol or act < exp - slack[asset] - tol:
                out.append(BalanceMismatch(asset, exp, act, tol))
        if not out:
            self.store.put(
                SNAPSHOT_KEY, {"mark": mark, "balances": now_balances, "ts": self._wall()}
            )
        return out
