"""Testnet/live main loop: poll prices, trade through the order gate, reconcile, fail closed.

One round every `TRADEWARDEN_POLL_INTERVAL_SECONDS`: the last price of each symbol
(``ticker/price``, weight 2 each) becomes a `Tick` for the trader, which books fills
(``FillPoller``, only while orders are open) and lets the bots decide. Reconciliation runs at
start (before READY) and every `TRADEWARDEN_RECONCILE_INTERVAL_SECONDS` in the same thread,
so it never races the order path.

Fail closed:
- no price this round (exchange unreachable, maintenance, rate-limit pause, the trade key
  past its secret TTL + grace) -> no tick, so no bot can decide anything; readiness says
  why; the loop backs off and retries;
- reconciliation finds an order we did not place, a local order the exchange does not know,
  or a balance mismatch -> a sticky HALT (REDUCING on a shared account for order findings),
  open orders cancelled, a critical alert (a compromised key places orders too);
- reconciliation not run successfully for 3 intervals -> not ready.

Before READY, `recover_interrupted` finishes what a crash (kill -9) cut short; see there.

Streams mode (``TRADEWARDEN_STREAMS=on``, issue 19; `attach_streams`): the loop waits on
the streams' inbox (housekeeping every 0.2 s as `_pause` does) instead of the poll interval
and applies, in order: order events -> the order tracker, their trades booked as fills
through the trader's one fill path (`Trader.book_fills`: once per trade id, breakers on
every fill before anything else is sent; a third-asset commission valued as polled fills);
balance events -> the risk engine's balances; prices -> `Trader.on_price` (marks, breakers,
owed exits and the emergency flatten; no decision); closed klines -> the strategies through
`CandleFeed` (each open time once, in order, gaps back-filled over REST first). REST stays
the check: reconciliation on its timer and after every user-stream (re)connect, each run
polling the fills once first (a lost event is booked there, once, and is no balance
mismatch). A user stream down or a market stream down or stale -> the polling fallback with
today's weights (ticker per symbol each poll interval, the fill poller on every price,
klines over REST when one closes) until both are healthy again; `/readyz` and
``tradewarden_stream_fallback_active`` say so (it is not a reason to be NOT READY).

REST weight while the streams are healthy (issue 19: < 1% of the 6000/min budget for two
symbols): with no order of ours open and the last run settled (`_quiet_extra`),
reconciliation waits `TRADEWARDEN_STREAM_RECONCILE_INTERVAL_SECONDS` (default 120 s)
instead of `TRADEWARDEN_RECONCILE_INTERVAL_SECONDS`; and it lists the open orders per
symbol (weight 6 each) instead of account-wide (80), except on its first run after each
user-stream (re)connect, at least every `FULL_SWEEP_S`, in the fallback, and when the
stream showed an order not ours or a deposit/withdrawal, which also brings that run
forward (at most one per `TRADEWARDEN_RECONCILE_INTERVAL_SECONDS`). An order of ours
open or not settled keeps the usual cadence (tests/bench/bench_streams.py measures both
modes).

Futures (issue 20; `FuturesStreams`: the futures user data stream only, kind "user"): the
mark prices are polled every poll interval as without streams (`round`'s ticks: the
strategies decide on them, the breakers see each mark), so there is no market stream and
no kline feed. The user stream takes the fill poller's place while it is connected, by the
same mechanics: ``ORDER_TRADE_UPDATE`` -> the order tracker and its trade booked through
`Trader.book_fills` (once per trade id), ``ACCOUNT_UPDATE`` -> the gateway's positions
(balances read again over REST: the event has no available balance), reconciliation after
every (re)connect and the fill poller as the fallback while it is down. ``MARGIN_CALL``
(`_margin_call`) fails closed: a sticky HALT, open orders cancelled, every position closed
with reduceOnly MARKET orders (what HALTED does to futures, `FuturesTrader.close_on_halt`),
audited, and a critical ``futures_margin_call`` alert (runbooks/futures-margin-call.md).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from tradewarden.alerts.catalogue import trip_dedup_key
from tradewarden.core.config import Streams as StreamsSetting
from tradewarden.core.models import Fill, Order, OrderStatus, Tick
from tradewarden.exchange import (
    BinanceBroker,
    ExchangeUnavailableError,
    RateLimitedError,
    Reconciler,
    ReconcileReport,
)
from tradewarden.exchange.futures_gateway import FuturesGateway
from tradewarden.exchange.futures_stream import (
    FuturesAccountEvent,
    FuturesMessage,
    FuturesOrderEvent,
    FuturesStreams,
    MarginCallEvent,
)
from tradewarden.exchange.streams import (
    BalanceEvent,
    CandleEvent,
    OrderEvent,
    PriceEvent,
    StreamEvent,
    StreamHealth,
    StreamMessage,
    Streams,
)
from tradewarden.risk.breakers import ConsecutiveLosses, Observation
from tradewarden.risk.engine import Trip
from tradewarden.runtime.candles import CandleFeed
from tradewarden.secrets.errors import SecretError
from tradewarden.state.store import fill_from_row
from tradewarden.trading.bot_ledger import ClosedTrade, Ledger
from tradewarden.trading.broker import BrokerError, ExchangeBroker
from tradewarden.trading.client_ids import is_ours

if TYPE_CHECKING:
    from tradewarden.alerts.outbox import Outbox
    from tradewarden.runtime.daemon import Daemon
    from tradewarden.runtime.metrics import Metrics

log = logging.getLogger(__name__)
ACTOR = "reconciliation"
MARGIN_CALL_ACTOR = "futures margin call"
MAX_BACKOFF_S = 30.0
HOUSEKEEPING_EVERY_S = 0.2  # controls, watchdog, snapshot while waiting between rounds
RESOLVE_MARGIN_S = 0.5  # past the reconciler's own expiry margin (the setting)
UNRESOLVED = (OrderStatus.PENDING, OrderStatus.UNKNOWN)
STREAM_IDLE_S = 1.0  # streams mode: health, metrics and timers looked at least this often
# streams mode: the first connects after `attach_streams` poll too, but are no fallback
# episode (no warning, tradewarden_stream_fallback_active 0) unless they take longer
STREAMS_START_GRACE_S = 30.0
FULL_SWEEP_S = 3600.0  # streams mode: the account-wide open orders at least this often


class ExchangeStartError(Exception):
    """The exchange could not be reached or reconciled at start: do not become READY.
    `cause`: the gateway's error (startup.heals_by_itself decides whether to wait)."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class MetricsBridge:
    """The gateway's `ExchangeMetrics` hooks onto the daemon's Prometheus metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def observe_latency(self, endpoint: str, seconds: float) -> None:
        self.m.api_latency.labels(endpoint).observe(seconds)

    def set_weight(self, used: int, limit: int) -> None:
        self.m.weight_used.set(used)
        self.m.weight_limit.set(limit)

    def count_response(self, code: int) -> None:
        self.m.exchange_responses.labels(str(code)).inc()

    def count_error(self, kind: str) -> None:
        self.m.errors.labels(kind).inc()


class ExchangeLoop:
    def __init__(self, daemon: Daemon, broker: ExchangeBroker) -> None:
        self.d = daemon
        self.broker = broker
        self.settings = daemon.settings
        self.reconciler = Reconciler(broker, daemon.store, daemon.settings, self._on_finding)
        self.problem: str | None = "starting"
        self.last_reconciled = 0.0  # monotonic time of the last successful run
        self._next_reconcile = 0.0
        self._backoff = self.settings.poll_interval_seconds
        self._balances_stale = False
        # the exchange's clock read every TRADEWARDEN_CLOCK_CHECK_SECONDS (weight 1): the
        # signing offset follows a drifting host clock before Binance answers -1021, and
        # tradewarden_clock_skew_seconds shows the drift (and its end once NTP is fixed)
        self._next_clock = time.monotonic() + self.settings.clock_check_seconds
        self._uncounted = True
        daemon.readiness_checks.append(self.readiness_reasons)
        # --- streams mode (attach_streams) ---
        self.streams: Streams | FuturesStreams | None = None
        self.binance: BinanceBroker | None = None
        self.feed: CandleFeed | None = None
        self.fallback: str | None = None  # why the loop polls although streams are on
        self._start_by: float | None = None  # starting until both streams are first healthy
        self._queue: deque[StreamMessage | FuturesMessage] = deque()
        self._reconcile_now = False
        self._next_poll = 0.0
        self._rest_after = 0.0  # REST work waits for the back-off after an error
        self._gap_reasons: list[str] = []
        self._reconnects_seen: dict[str, int] = {"user": 0, "market": 0}
        self._overflows_seen: dict[str, int] = {"user": 0, "market": 0}
        self._full_next = True  # the next streams-mode reconciliation lists every order
        self._next_full = 0.0
        self._outside = False  # the stream showed activity not ours: reconcile soon, fully
        self._checked_from = math.inf  # wall time the last settled reconciliation began
        self._quiet = (0.0, 0.0)  # (monotonic time it was judged, extra wait)
        daemon.streams_view = self.stream_status
        daemon.metrics.ready_details = lambda: {"streams": self.stream_status()}

    # --- start ------------------------------------------------------------------------------
    def start(self) -> ReconcileReport:
        """Time sync, exchangeInfo, then a first reconciliation; raise if any fails."""
        try:
            self.broker.start()
            report = self.reconcile()
        except BrokerError as exc:
            raise ExchangeStartError(
                f"exchange at {self.settings.effective_binance_url} not usable at start: {exc}",
                exc,
            ) from None
        self.d.trader.refresh_balances()
        for symbol in sorted(self.d.trader.by_symbol):
            self.d.trader.learn_dust(symbol)
        self.d.risk.set_open_orders(len(self.d.store.open_orders()))
        if self.d.risk.state.label == "halted" and self.d.risk.book.open_orders:
            self.d.gate.cancel_all(sorted(self.d.trader.by_symbol), reason="started HALTED")
        recover_interrupted(self.d)
        self.problem = None
        return report

    # --- one round --------------------------------------------------------------------------
    def reconcile(self, *, full: bool = True) -> ReconcileReport:
        # symbol status (TRADING / HALT / BREAK) and filters can change at any time
        began = time.time()
        self.broker.load_exchange_info()
        report = self.reconciler.run_once(full=full)
        self._checked_from = began if report.balances_checked else math.inf
        self.last_reconciled = time.monotonic()
        self._next_reconcile = self.last_reconciled + self.settings.reconcile_interval_seconds
        if self._unresolved_symbols():
            # an order whose outcome is unknown can only be settled once its request can no
            # longer land (timestamp + recvWindow): look again right after that, not a
            # whole interval later (its symbol is blocked until then)
            soon = self.last_reconciled + self._settle_delay()
            self._next_reconcile = min(self._next_reconcile, soon)
        self._unblock_resolved()
        self.d.metrics.reconciled_at.set(time.time())
        return report

    def _unresolved_symbols(self) -> set[str]:
        return {o.symbol for o in self.d.store.open_orders() if o.status in UNRESOLVED}

    def _unblock_resolved(self) -> None:
        """A symbol blocked by an order of unknown outcome trades again once no order of it
        is PENDING/UNKNOWN any more (resolved by query or reconciliation, never resent)."""
        blocked = self.d.risk.book.unknown_symbols
        if not blocked:
            return
        cleared = blocked - self._unresolved_symbols()
        if cleared:
            self.d.risk.unblock_symbols(cleared)
            log.info("order outcome resolved: trading again", extra={"symbols": sorted(cleared)})

    def round(self) -> None:
        """Prices -> ticks -> trader; reconcile when due. Raises BrokerError on trouble."""
        if self._balances_stale:
            # a failed round may have cut a fill's balance refresh short: the pre-trade
            # balance check would then refuse the exit of the position just bought
            self.d.trader.refresh_balances()
            self._balances_stale = False
        if time.monotonic() >= self._next_clock:
            self._next_clock = time.monotonic() + self.settings.clock_check_seconds
            self.broker.sync_time()
        now_s = self.broker.timesync.server_ms() / 1000.0
        ticks = []
        for symbol in sorted(self.d.trader.by_symbol):
            p = self.broker.ticker_price(symbol)
            ticks.append(Tick(now_s, symbol, p, p, p, p, 0.0))
        for t in ticks:  # only once every price of the round is in
            self.d.trader.on_tick(t)
        if self._reconcile_due():
            self.reconcile()
        else:
            self._unblock_resolved()  # the fill poller may have resolved one by query

    def _settle_delay(self) -> float:
        """How long after a request was sent it can no longer land (recvWindow + margin)."""
        return (
            self.settings.recv_window_ms / 1000.0
            + self.settings.order_expiry_margin_seconds
            + RESOLVE_MARGIN_S
        )

    def _reconcile_due(self) -> bool:
        now = time.monotonic()
        if now >= self._next_reconcile and (
            self._outside or now >= self._next_reconcile + self._quiet_extra()
        ):
            return True
        # an order the gateway gave up asking about blocks its symbol: settle it as soon as
        # reconciliation can (the request is long past recvWindow by now), not an interval on
        return bool(self.d.risk.book.unknown_symbols) and (
            now >= self.last_reconciled + self._settle_delay()
        )

    def _quiet_extra(self) -> float:
        """How much longer reconciliation waits: up to `stream_reconcile_interval_seconds`
        in all while the streams are healthy, no order of ours is open and the last run
        found everything settled (every executed quantity booked) and began after the last
        change of any order of ours (a fill whose event was lost is booked by the next
        run at the usual cadence); else not at all. Judged at most every 0.2 s."""
        if self.streams is None or self.fallback is not None:
            return 0.0
        now = time.monotonic()
        if now - self._quiet[0] < HOUSEKEEPING_EVERY_S:
            return self._quiet[1]
        extra = 0.0
        changed = self.d.store.query("SELECT MAX(updated_at) FROM orders")[0][0]
        if (changed is None or float(changed) < self._checked_from) and (
            not self.d.store.open_orders()
        ):
            s = self.settings
            extra = max(0.0, s.stream_reconcile_interval_seconds - s.reconcile_interval_seconds)
        self._quiet = (now, extra)
        return extra

    def _longest_interval(self) -> float:
        s = self.settings
        if self.streams is None:
            return s.reconcile_interval_seconds
        return max(s.reconcile_interval_seconds, s.stream_reconcile_interval_seconds)

    def run(self) -> None:
        if self.streams is not None:
            self._run_streams()
            return
        interval = self.settings.poll_interval_seconds
        while not self.d.stopping.is_set():
            wait = interval
            try:
                self.round()
                if self.problem is not None:
                    log.info("exchange usable again", extra={"was": self.problem})
                self.problem = None
                self._backoff = interval
            except BrokerError as exc:
                self._balances_stale = True
                wait = self._on_error(exc, interval)
            self.d.housekeeping()
            self._pause(wait)

    def _pause(self, seconds: float) -> None:
        """Wait before the next round without starving housekeeping: a back-off of up to
        30 s (a ban, maintenance) still applies halt/reset requests within ~0.2 s, feeds
        the systemd watchdog and refreshes the status snapshot and metrics."""
        deadline = time.monotonic() + seconds
        while not self.d.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.d._wake.wait(min(left, HOUSEKEEPING_EVERY_S))
            self.d.housekeeping()

    def _on_error(self, exc: BrokerError, interval: float) -> float:
        """Say why there is no trading; how long to wait before the next round. The error
        is counted where its request failed (`ExchangeClient.call`), once per request; one
        that did not come from a request is counted here."""
        self._uncounted = not getattr(exc, "counted", False)
        if isinstance(exc, RateLimitedError):
            self._trouble("rate_limited", f"rate limited, all requests paused: {exc}")
            return max(interval, min(exc.retry_after, MAX_BACKOFF_S))
        if isinstance(exc, SecretError):  # past TTL + grace without a fresh read: no key
            self._trouble("secrets", f"trade key unavailable from the secret source: {exc}")
            return self._next_backoff()
        if isinstance(exc, ExchangeUnavailableError):
            self._trouble("maintenance", f"exchange unavailable (maintenance): {exc}")
            return self._next_backoff()
        self._trouble("exchange", f"exchange unreachable or erroring: {exc}")
        return self._next_backoff()

    def _next_backoff(self) -> float:
        self._backoff = min(MAX_BACKOFF_S, self._backoff * 2)
        return self._backoff

    def _trouble(self, kind: str, message: str) -> None:
        if self.problem != message:
            log.warning("no trading this round", extra={"reason": message})
        self.problem = message
        if self._uncounted:
            self.d.metrics.errors.labels(kind).inc()

    # --- streams mode -----------------------------------------------------------------------
    def attach_streams(self, streams: Streams | FuturesStreams, broker: BinanceBroker) -> None:
        """Run event-driven on `streams` (opened by `wiring.open_exchange_streams`, after
        `start`): the strategies' indicators start from the latest closed klines (REST).
        Futures streams (no market stream): the prices stay polled (module docstring)."""
        self.streams = streams
        self.binance = broker
        self.fallback = "streams starting"  # polling until both streams are healthy
        self._start_by = time.monotonic() + STREAMS_START_GRACE_S
        if isinstance(streams, FuturesStreams):
            self._set_fallback(self._fallback_why())
            self._export_stream_metrics()
            return
        symbols = sorted(self.d.trader.by_symbol)
        interval = self.settings.kline_interval.value
        self.feed = CandleFeed(
            symbols,
            interval,
            fetch=lambda symbol, start, limit: broker.klines(
                symbol, interval, start_ms=start, limit=limit
            ),
            decide=self.d.trader.on_tick,
            warm=self.d.trader.warm,
            now_ms=lambda: int(broker.timesync.server_ms()),
        )
        for symbol in symbols:
            self.feed.warm(symbol)
        self._gap_reasons = self.feed.reasons()
        self._set_fallback(self._fallback_why())
        self._export_stream_metrics()

    def _run_streams(self) -> None:
        interval = self.settings.poll_interval_seconds
        try:
            while not self.d.stopping.is_set():
                rested = time.monotonic() >= self._rest_after
                try:
                    self.stream_round()
                    if rested:
                        if self.problem is not None:
                            log.info("exchange usable again", extra={"was": self.problem})
                        self.problem = None
                        self._backoff = interval
                except BrokerError as exc:
                    self._balances_stale = True
                    wait = self._on_error(exc, interval)
                    self._rest_after = time.monotonic() + wait
                    self._reconcile_now = True  # the check when the back-off ends
                self.d.housekeeping()
                polling = self.fallback is not None or self.feed is None  # futures: marks
                self._await(interval if polling else STREAM_IDLE_S)
        finally:
            if self.streams is not None:
                self.streams.stop()

    def _await(self, seconds: float) -> None:
        """Wait for a stream message (or `seconds`), with housekeeping every 0.2 s."""
        deadline = time.monotonic() + seconds
        while not self.d.stopping.is_set():
            if self._take():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.d._wake.wait(min(left, HOUSEKEEPING_EVERY_S))
            if self._take():
                return
            self.d.housekeeping()

    def _take(self) -> bool:
        """The inbox into the loop's queue; True when something is queued."""
        assert self.streams is not None
        # cleared before the drain: a message put after it sets the wake again. A control
        # request's wake may be cleared here: housekeeping applies those every 0.2 s anyway
        self.d._wake.clear()
        self._queue.extend(self.streams.inbox.drain())
        return bool(self._queue)

    def stream_round(self) -> None:
        """Stream messages applied; the polling fallback's round while a stream is down;
        back-fills, reconciliation and the clock when due. Raises BrokerError on trouble.
        Futures (no kline feed): the mark prices polled every poll interval."""
        rest = time.monotonic() >= self._rest_after
        if rest and self._balances_stale:
            self.d.trader.refresh_balances()
            self._balances_stale = False
        if rest and time.monotonic() >= self._next_clock:
            self._next_clock = time.monotonic() + self.settings.clock_check_seconds
            self.broker.sync_time()
        self._apply_stream()
        self._set_fallback(self._fallback_why())
        if rest and (self.fallback is not None or self.feed is None):
            if time.monotonic() >= self._next_poll:
                self._next_poll = time.monotonic() + self.settings.poll_interval_seconds
                self._poll_round()
        elif rest and self.feed is not None:
            for symbol in self.feed.pending():
                self.feed.catch_up(symbol)
        if self.feed is not None:
            self._gap_reasons = self.feed.reasons()
        if rest and (self._reconcile_now or self._reconcile_due()):
            self._reconcile_now = False
            self.reconcile_checked()
        else:
            self._unblock_resolved()
        self._export_stream_metrics()

    def _poll_round(self) -> None:
        """The fallback: today's polling (ticker per symbol; the fill poller on each price,
        `fill_source` being unset), klines over REST when one closes. Futures: `round`'s
        ticks (the strategies decide on each mark price; the fill source is the stream's
        while it is connected)."""
        now_s = self.broker.timesync.server_ms() / 1000.0
        symbols = sorted(self.d.trader.by_symbol)
        prices = [(symbol, self.broker.ticker_price(symbol)) for symbol in symbols]
        if self.feed is None:
            for symbol, p in prices:
                self.d.trader.on_tick(Tick(now_s, symbol, p, p, p, p, 0.0))
            return
        for symbol, price in prices:  # only once every price of the round is in
            self.d.trader.on_price(symbol, price, now_s)
        for symbol in symbols:
            self.feed.poll(symbol)

    def reconcile_checked(self) -> ReconcileReport:
        """Streams mode: the fills polled over REST once (what a lost event left unbooked is
        booked here, once), then reconciliation, then the balances read again."""
        assert self.binance is not None
        fills = self.binance.poll_fills_rest()
        if fills:
            log.info("fills found by the REST check", extra={"count": len(fills)})
            self.d.trader.book_fills(fills)
        now = time.monotonic()
        full = self._full_next or self._outside or self.fallback is not None
        full = full or now >= self._next_full
        report = self.reconcile(full=full)
        if full:
            self._full_next = self._outside = False
            self._next_full = now + FULL_SWEEP_S
        self.d.trader.refresh_balances()
        return report

    def _apply_stream(self) -> None:
        """Everything queued, in order: order and balance events first (`_stream_fills`),
        then connection events, prices (the latest per symbol) and closed klines; a futures
        margin call (`_margin_call`) after the fills."""
        self._take()
        fills = self._stream_fills()
        if fills:
            self.d.trader.book_fills(fills)
        batch = list(self._queue)
        self._queue.clear()
        latest = {m.symbol: i for i, m in enumerate(batch) if isinstance(m, PriceEvent)}
        traded = self.d.trader.by_symbol
        for i, m in enumerate(batch):
            if isinstance(m, StreamEvent):
                self._stream_event(m)
            elif isinstance(m, PriceEvent):
                # while polling, prices come from the ticker (the fill poller runs on each)
                if latest[m.symbol] == i and m.symbol in traded and self.fallback is None:
                    now_s = self.broker.timesync.server_ms() / 1000.0
                    self.d.trader.on_price(m.symbol, m.price, now_s)
            elif isinstance(m, CandleEvent):
                if m.closed and m.tick.symbol in traded and self.feed is not None:
                    self.feed.closed(m.tick.symbol, m.open_ms, m.tick)
            elif isinstance(m, MarginCallEvent):
                self._margin_call(m)
            elif isinstance(m, OrderEvent | BalanceEvent | FuturesOrderEvent | FuturesAccountEvent):
                self._queue.append(m)  # queued while booking: next time

    def _stream_fills(self) -> list[Fill]:
        """The broker's fill source while the streams are healthy (and the loop's own
        first step): the order events queued, applied to the order tracker in order, their
        trades as fills (booked by the caller); balance events applied. Other messages stay
        queued for `_apply_stream`."""
        self._take()
        fills: list[Fill] = []
        keep: deque[StreamMessage | FuturesMessage] = deque()
        for m in self._queue:
            if isinstance(m, OrderEvent):
                fills += self._order_event(m)
            elif isinstance(m, FuturesOrderEvent):
                fills += self._futures_order_event(m)
            elif isinstance(m, BalanceEvent):
                self._balance_event(m)
            elif isinstance(m, FuturesAccountEvent):
                self._futures_account_event(m)
            else:
                keep.append(m)
        self._queue = keep
        return fills

    def _order_event(self, m: OrderEvent) -> list[Fill]:
        assert self.binance is not None
        cid = m.order.client_order_id
        if not is_ours(cid):
            self._outside = True  # someone else's order: reconciliation judges it, soon
            return []
        tracker = self.d.gate.tracker
        local = self.d.store.get_order(cid)
        if local is None:
            self._outside = True
            tracker.process_order_update(m.order)  # a finding (audited), never booked
            return []
        if m.order.symbol != local.symbol or (
            local.exchange_order_id and m.order.exchange_order_id != local.exchange_order_id
        ):
            # our client order id on another order: Binance frees a clientOrderId once its
            # order is closed, so a leaked key can reuse one of ours. Never booked as ours,
            # never our order's status; the full check finds that order
            log.warning(
                "stream: an order under our client order id is not ours",
                extra={"client_order_id": cid, "symbol": m.order.symbol},
            )
            self._outside = True
            return []
        fills = [] if m.trade is None else [self.binance.fill_from_trade(m.trade, local)]
        # the status waits for the fills: an executed quantity above what is booked keeps
        # the row open (`status_to_store`) until the fill is booked, here or by the check
        tracker.process_order_update(m.order)
        return fills

    def _futures_order_event(self, m: FuturesOrderEvent) -> list[Fill]:
        """An ``ORDER_TRADE_UPDATE`` as `_order_event` (someone else's order, or a
        liquidation's, is reconciliation's and the liquidation poll's)."""
        broker = self.binance
        assert isinstance(broker, FuturesGateway)
        if not is_ours(m.client_order_id):
            return []
        tracker = self.d.gate.tracker
        local = self.d.store.get_order(m.client_order_id)
        if local is None:
            tracker.process_order_update(broker.order_from_event(m))  # a finding, never booked
            return []
        fills = [] if m.trade is None else [broker.fill_from_trade(m.trade, local)]
        tracker.process_order_update(broker.order_from_event(m, local.bot))
        return fills

    def _futures_account_event(self, m: FuturesAccountEvent) -> None:
        """``ACCOUNT_UPDATE``: the positions it names; the balances read again over REST
        (the event carries the wallet balance, not the available one the checks use)."""
        broker = self.binance
        assert isinstance(broker, FuturesGateway)
        broker.apply_account_update(m)
        if m.balances:
            self._balances_stale = True

    def _margin_call(self, m: MarginCallEvent) -> None:
        """A futures ``MARGIN_CALL``: the liquidation-distance breaker did not act in time.
        Fail closed as its flatten level does: a sticky HALT, open orders cancelled, every
        position closed with reduceOnly MARKET orders, audited; a critical alert."""
        kind, fields = m.alert()
        symbols = sorted({p.symbol for p in m.positions}) or ["?"]
        reason = f"futures MARGIN_CALL on {', '.join(symbols)}"
        self.d.risk.halt(reason, MARGIN_CALL_ACTOR)
        cancelled: list[Order] = []
        closed: list[str] = []
        failed: BrokerError | None = None
        try:  # the alert goes out whatever the exchange answers (raised again after it)
            cancelled = self.d.gate.cancel_all(sorted(self.d.trader.by_symbol), reason=reason)
            close = getattr(self.d.trader, "close_on_halt", None)
            closed = close(reason) if close is not None else []
        except BrokerError as exc:
            failed = exc
            log.error("margin call: cancel / flatten failed", extra={"error": str(exc)})
        self.d.audit.append(
            "futures_margin_call",
            {
                **fields,
                "cancelled": len(cancelled),
                "positions_closed": closed,
                "error": str(failed) if failed is not None else None,
            },
            actor=MARGIN_CALL_ACTOR,
            sync=True,
        )
        self.d.notifier.notify(
            kind,
            positions=fields["positions"],
            unreadable_positions=fields["unreadable_positions"],
            state=self.d.risk.state.label.upper(),
            orders_cancelled=[o.client_order_id for o in cancelled],
            positions_closed=closed,
        )
        self.d.metrics.errors.labels("futures_margin_call").inc()
        self.d.write_snapshot()
        if failed is not None:
            raise failed

    def _balance_event(self, m: BalanceEvent) -> None:
        if m.balances:
            self.d.trader.update_balances(m.balances, m.event_ms)
        elif m.delta is not None:
            self._balances_stale = True  # a deposit or withdrawal: read them all again
            self._outside = True  # and checked against our fills soon

    def _stream_event(self, m: StreamEvent) -> None:
        if m.what == "connected":
            log.info("stream connected", extra={"stream": m.kind, "reason": m.reason})
            if m.kind == "user":
                self._reconcile_now = True  # what happened while it was down, checked
                self._full_next = True  # on every symbol: the stream saw none of it
            elif self.feed is not None:
                self.feed.suspect()  # klines missed meanwhile back-filled before a decision
        else:
            log.warning("stream disconnected", extra={"stream": m.kind, "reason": m.reason})

    def _fallback_why(self) -> str | None:
        assert self.streams is not None
        health = self.streams.health()
        user, market = health["user"], health.get("market")
        stale = self.settings.stream_stale_seconds
        why = []
        if not user.connected:
            why.append("user data stream disconnected" + _error_of(user))
        if market is None:  # futures: no market stream (the mark prices are polled)
            pass
        elif not market.connected:
            why.append("market stream disconnected" + _error_of(market))
        else:
            age = market.age()
            if age is None or age > stale:
                why.append(f"market stream stale (no message for {stale:g}s)")
        return "; ".join(why) or None

    def _set_fallback(self, why: str | None) -> None:
        """Poll while `why`. Starting (until both streams are first healthy, at most
        STREAMS_START_GRACE_S) polls as well, but is no fallback episode: no warning, the
        metric stays 0, and the first health is no recovery."""
        assert self.binance is not None
        was = self.fallback
        first = self._start_by is not None
        if self._start_by is not None:
            if why is not None and time.monotonic() < self._start_by:
                self.fallback = f"streams starting: {why}"
                return
            self._start_by = None
            was = None  # grace over: the first episode starts here
        self.fallback = why
        if not first and (was is None) == (why is None):
            return
        if why is not None:
            log.warning("streams unhealthy: polling the exchange", extra={"reason": why})
            self._next_poll = 0.0
            self._balances_stale = True  # balance events may have been lost
        elif first:
            log.info("streams healthy: event-driven")
        else:
            log.info("streams healthy: event-driven again", extra={"was": was})
        self.binance.fill_source = None if why is not None else self._stream_fills
        # futures balances stay REST-read (ACCOUNT_UPDATE has no available balance)
        self.d.trader.balances_streamed = why is None and self.feed is not None
        self.d.metrics.stream_fallback.set(1.0 if why is not None else 0.0)

    def _export_stream_metrics(self) -> None:
        assert self.streams is not None
        m = self.d.metrics
        for kind, h in self.streams.health().items():
            m.stream_connected.labels(kind).set(1.0 if h.connected else 0.0)
            age = h.age()
            m.stream_age.labels(kind).set(-1.0 if age is None else age)
            reconnects = max(0, h.connects - 1)
            seen = self._reconnects_seen.get(kind, 0)
            if reconnects > seen:
                m.stream_reconnects.labels(kind).inc(reconnects - seen)
                self._reconnects_seen[kind] = reconnects
            else:
                m.stream_reconnects.labels(kind)  # the series exists from the start
            refused = self.streams.inbox.overflows[kind] - self._overflows_seen[kind]
            m.stream_inbox_overflows.labels(kind).inc(max(0, refused))
            self._overflows_seen[kind] += max(0, refused)
        episode = self.fallback is not None and self._start_by is None
        m.stream_fallback.set(1.0 if episode else 0.0)

    def stream_status(self) -> dict[str, Any]:
        """For status, diagnose and /readyz (any thread: only copies and cached values)."""
        if self.settings.streams is StreamsSetting.OFF:
            return {"mode": "off"}
        streams = self.streams
        if streams is None:
            return {"mode": "on", "started": False}
        health = streams.health()
        return {
            "mode": "on",
            "started": True,
            "kline_interval": self.settings.kline_interval.value if self.feed else None,
            "fallback": self.fallback is not None,
            "fallback_reason": self.fallback,
            "user": _health_view(health["user"]),
            "market": _health_view(health["market"]) if "market" in health else None,
            "candle_gaps": list(self._gap_reasons),
            "klines_backfilled": self.feed.backfilled if self.feed is not None else 0,
        }

    # --- readiness --------------------------------------------------------------------------
    def readiness_reasons(self) -> list[str]:
        reasons = []
        if self.problem:
            reasons.append(self.problem)
        reasons.extend(self._gap_reasons)
        for symbol in sorted(self.d.trader.by_symbol):
            state = self.broker.symbol_status(symbol)
            if state is not None and state != "TRADING":
                reasons.append(f"{symbol} is {state} on the exchange, not TRADING: no orders on it")
        limit = 3 * self._longest_interval()
        if self.last_reconciled and time.monotonic() - self.last_reconciled > limit:
            reasons.append(f"reconciliation older than {limit:.0f}s")
        return reasons

    # --- findings ---------------------------------------------------------------------------
    def _on_finding(self, report: ReconcileReport) -> None:
        """A security event: stop (sticky), cancel ours, tell a human."""
        reducing = report.action == "reduce"
        reason = report.summary()
        cancelled = self.d.security_halt(
            reason, ACTOR, {"reconcile": report.to_dict()}, reducing=reducing
        )
        state = self.d.risk.state.label.upper()
        ids = [o.client_order_id for o in cancelled]
        self.d.alert_foreign_orders(report.unknown_on_exchange, cancelled)
        if report.missing_on_exchange or report.balance_mismatches:
            self.d.notifier.notify(
                "system_error",
                component="reconciliation",
                error=f"{report.summary()}",
                state=state,
                actions=[f"cancelled {len(ids)} open orders"] if ids else [],
            )
        self.d.metrics.errors.labels("reconciliation_mismatch").inc()
        self.d.write_snapshot()


def _error_of(h: StreamHealth) -> str:
    return f" ({h.last_error})" if h.last_error else ""


def _health_view(h: StreamHealth) -> dict[str, Any]:
    view = h.as_dict()
    view["reconnects"] = max(0, h.connects - 1)
    return view


# --- crash recovery -------------------------------------------------------------------------
def recover_interrupted(d: Daemon) -> list[str]:
    """Finish what a crash cut short, before READY. Returns what was done (also audited).

    Each step is committed in its own transaction in the live path, so a kill -9 can fall
    between two of them (the crash chaos test kills at each of these points):

    1. a closing fill booked, its round trip not recorded or not yet seen by the
       consecutive-losses breaker -> record it and let the breaker see it now (it trips
       here if the streak reached the limit);
    2. a breaker trip committed, but its cancel-all, audit entry and alert not done ->
       run the trip actions now (cancel, audit, alert), once;
    3. an alert claimed for delivery by the dead process (leased for a minute) -> due
       again at once. The one that was being sent at the kill may reach its channel twice
       (same outbox id: Slack metadata, email Message-ID); never zero times.

    Paper mode has the same windows; this function only needs a started `Daemon`.
    """
    done = _catch_up_round_trips(d)
    done += _alert_unalerted_trips(d)
    done += _release_alert_leases(d)
    if done:
        d.audit.append("start_recovery", {"done": done}, sync=True)
        log.warning("finished at start what the last run left undone", extra={"done": done})
    return done


def _closed_trades(d: Daemon) -> dict[str, list[ClosedTrade]]:
    """Every round trip the booked fills close, per bot (the daemon's ledger, replayed)."""
    ledger = Ledger([(b.name, b.symbol) for b in d.bots], d.settings.starting_balance_usdt)
    ledger.dust = dict(d.trader.ledger.dust)  # round trips end where the live ledger's do
    out: dict[str, list[ClosedTrade]] = {b.name: [] for b in d.bots}
    for r in d.store.fills():
        closed = ledger.apply(fill_from_row(r))
        if closed is not None and closed.bot in out:
            out[closed.bot].append(closed)
    return out


def _catch_up_round_trips(d: Daemon) -> list[str]:
    breaker = next((b for b in d.risk.breakers if isinstance(b, ConsecutiveLosses)), None)
    closed = _closed_trades(d)
    resets = d.store.resets()
    done: list[str] = []
    for bot, trades in closed.items():
        last_reset = _last_count_reset(resets, bot)
        recorded = len(d.store.trades(bot))
        for t in trades[recorded:]:  # booked fills whose round trip was never recorded
            d.store.record_trade(t.bot, t.symbol, t.pnl, t.ts)
            if d.trader.ramp is not None:
                d.trader.ramp.on_trade(t.pnl)
            done.append(f"round trip of {bot} at {t.ts:.3f} recorded")
        if breaker is None:
            continue
        # the breaker's count is a function of the round trips since the last reset
        since = [t for t in trades if t.ts > last_reset]
        streak = 0
        for t in reversed(since):
            if t.pnl >= 0:
                break
            streak += 1
        seen = breaker.losses.get(bot, 0)
        unseen: list[ClosedTrade] = []
        if streak > seen:
            unseen = since[len(since) - (streak - seen) :]
        elif streak == 0 and seen > 0 and since:
            unseen = since[-1:]  # the closing win was not seen: the count restarts
        for t in unseen:
            d.risk.observe(Observation("trade", bot, t.ts, pnl=t.pnl))
            done.append(f"round trip of {bot} at {t.ts:.3f} shown to the breakers")
    return done


def _last_count_reset(resets: list[Any], bot: str) -> float:
    """When `bot`'s consecutive-loss count last restarted: a scoped reset that cleared its
    trip, or any reset from before scoped resets (those cleared every counter)."""
    key = f"consecutive_losses:{bot}"
    times = [
        float(r["ts"])
        for r in resets
        if not r["scope"] or r["scope"] == "{}" or key in json.loads(r["cleared"] or "[]")
    ]
    return max(times, default=-math.inf)


def _outbox(d: Daemon) -> Outbox | None:
    outbox: Outbox | None = getattr(d.notifier, "outbox", None)  # the dispatcher's
    return outbox


def _alerted_since(d: Daemon, dedup_key: str, since: float) -> bool:
    """An alert under `dedup_key` was enqueued at/after `since` (outbox row, or its dedup
    record once delivered rows are pruned)."""
    rows = d.store.query(
        "SELECT 1 FROM alert_outbox WHERE dedup_key=? AND created_at>=? UNION ALL"
        " SELECT 1 FROM alert_dedup WHERE dedup_key=? AND sent_at>=?",
        (dedup_key, since, dedup_key, since),
    )
    return bool(rows)


def _alert_unalerted_trips(d: Daemon) -> list[str]:
    if _outbox(d) is None:
        return []  # no persisted outbox (tests with a plain notifier): nothing to compare
    by_name = {b.name: b for b in d.risk.breakers}
    done: list[str] = []
    for row in d.store.tripped():
        breaker = by_name.get(row["breaker"])
        if breaker is None:
            continue
        scope_all = d.risk.trip_halts_all(breaker, row["bot"])
        key = trip_dedup_key(breaker.name, row["bot"], emergency=breaker.emergency)
        tripped_at = float(row["tripped_at"] or 0.0)
        if _alerted_since(d, key, tripped_at - 1.0):
            continue
        trip = Trip(
            breaker.name,
            row["bot"],
            float(row["value"] or 0.0),
            float(row["threshold"] or breaker.threshold),
            row["reason"] or f"{breaker.name} tripped",
            breaker.emergency,
            scope_all,
            tripped_at,
        )
        for hook in d.risk.hooks.on_trip:  # cancel, audit, alert: what the crash cut short
            hook(trip)
        done.append(f"trip {breaker.name}:{row['bot']} alerted")
    return done


def _release_alert_leases(d: Daemon) -> list[str]:
    outbox = _outbox(d)
    if outbox is None:
        return []
    now = outbox.clock()
    late = [r for r in outbox.rows(pending_only=True) if r.next_attempt_at > now]
    for r in late:
        outbox.release(r.id, now)
    return [f"{len(late)} pending alert(s) due now"] if late else []
