"""`BinanceBroker`: the `Broker` protocol on Binance spot (testnet and live; the URL decides).

Submit path, in order: the intent must already be PENDING in SQLite (fail closed) ->
symbol filters (round, or refuse with a reason before any request) -> the shared rate
limiter -> POST /api/v3/order with our `newClientOrderId`. If no usable answer comes back
(timeout, dropped connection, 5xx) the order is never sent again: its outcome is resolved
by ``GET /api/v3/order?origClientOrderId=`` with back-off, within a bounded time:

- the exchange knows it -> that order (its state goes to the store);
- -2013 once ``timestamp + recvWindow + settings.order_expiry_margin_seconds`` has passed
  on the exchange's clock -> EXPIRED. The margin (default 60 s) is there because Binance
  checks recvWindow before the matching engine, not inside it, and reads are asynchronous:
  an order can become visible well after its window. A verdict is remembered
  (`OrderTracker.mark_expired`) and reconciliation keeps asking about it for a while,
  so an order that shows up after all is booked, not taken for a foreign one;
- the exchange cannot be asked, or the margin has not passed within `resolve_timeout_s`
  -> `OutcomeUnknownError`, row left UNKNOWN; reconciliation resolves it later.

"No usable answer" is every 5xx (a JSON error, a 503 HTML page, -1016 maintenance) and
-1006/-1007 (errors.md: execution status unknown): never REJECTED, never resent. -2026
(an archived order: canceled or expired with no executed quantity) is answered from
``myTrades`` instead of being left unknown.

Two keys (least privilege): given `read_credentials`, every read — prices, exchangeInfo,
account, open orders, order queries, trades — goes out with the read key and only order
placement and cancels with the trade key. Both clients share the process limiter (one IP,
one weight budget) and the server-time offset.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from tradewarden.core.config import Settings
from tradewarden.core.models import (
    CLIENT_ORDER_ID_RE,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
)
from tradewarden.exchange import endpoints as ep
from tradewarden.exchange.client import ExchangeClient
from tradewarden.exchange.errors import FilterReject, FilterRejectedError, IntentMissingError
from tradewarden.exchange.fillpoll import FillPoller
from tradewarden.exchange.filters import PreparedOrder, SymbolFilters, filters_from_exchange_info
from tradewarden.exchange.hooks import AuthErrorHook, CredentialProvider, ExchangeMetrics
from tradewarden.exchange.mapping import balances_from_account, order_from_json
from tradewarden.exchange.ratelimit import (
    RateLimiter,
    limits_from_exchange_info,
    process_limiter,
)
from tradewarden.exchange.timesync import TimeSync
from tradewarden.state.keys import StateKey
from tradewarden.state.store import Store
from tradewarden.trading.broker import BrokerError, OutcomeUnknownError
from tradewarden.trading.order_tracker import OrderTracker, tracker_for

log = logging.getLogger(__name__)

NO_SUCH_ORDER = -2013
CANCEL_REJECTED = -2011
ORDER_ARCHIVED = -2026  # errors.md: canceled/expired with no executed qty, archived
BAN_KEY = StateKey.EXCHANGE_BANNED_UNTIL


class BinanceBroker:
    """See the module docstring. Thread-safe; share one limiter per process.

    Subclasses (the USD-M futures gateway, `exchange.futures_gateway`) change the client
    class, the limiter's pool (another host has its own weight budget) and the hooks
    `_prepare`, `_order_params` and `_parse_filters`."""

    client_class: type[ExchangeClient] = ExchangeClient
    limiter_pool = "spot"

    def __init__(
        self,
        settings: Settings,
        store: Store,
        credentials: CredentialProvider,
        *,
        on_auth_error: AuthErrorHook | None = None,
        read_credentials: CredentialProvider | None = None,
        on_read_auth_error: AuthErrorHook | None = None,
        limiter: RateLimiter | None = None,
        metrics: ExchangeMetrics | None = None,
        timesync: TimeSync | None = None,
        base_url: str | None = None,
        request_timeout_s: float = 10.0,
        resolve_timeout_s: float | None = None,
        expiry_margin_s: float | None = None,
        max_queue_s: float | None = 65.0,
        info_ttl_s: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
        tracker: OrderTracker | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        # every order-row change goes through the store's order tracker
        self.tracker = tracker or tracker_for(store)
        url = self._base_url(settings, base_url)
        self.name = "binance-testnet" if "testnet" in url else "binance"
        self.limiter = limiter or process_limiter(self.limiter_pool)
        self.recv_window_ms = settings.recv_window_ms
        if expiry_margin_s is None:
            expiry_margin_s = settings.order_expiry_margin_seconds
        self.expiry_margin_ms = expiry_margin_s * 1000.0
        # asked about synchronously for at most this long (the trader waits); a longer
        # margin is left to reconciliation with the order's symbol blocked meanwhile
        self.resolve_timeout_s = (
            resolve_timeout_s
            if resolve_timeout_s is not None
            else self.recv_window_ms / 1000.0 + min(expiry_margin_s, 5.0) + 10.0
        )

        def client_for(
            creds: CredentialProvider, on_auth: AuthErrorHook | None, sync: TimeSync | None
        ) -> ExchangeClient:
            return self.client_class(
                url,
                creds,
                limiter=self.limiter,
                timesync=sync,
                recv_window_ms=self.recv_window_ms,
                timeout_s=request_timeout_s,
                on_auth_error=on_auth,
                metrics=metrics,
                max_queue_s=max_queue_s,
                on_ban=self._remember_ban,
            )

        self.client = client_for(credentials, on_auth_error, timesync)
        self.timesync = self.client.timesync
        # reads go out with the read key when there is one (see the module docstring)
        self.reader = self.client
        if read_credentials is not None:
            self.reader = client_for(read_credentials, on_read_auth_error, self.timesync)
        self._sleep = sleep
        # called while this broker waits on purpose (an order's outcome being resolved, a
        # request queued in the limiter): the daemon feeds the systemd watchdog from it
        self.on_wait: list[Callable[[], None]] = []
        self.client.on_wait = self.reader.on_wait = self._waiting
        # called when a request ends, answered or not (the daemon extends systemd's start
        # timeout from it while the first reconciliation makes slow progress)
        self.on_progress: list[Callable[[], None]] = []
        self.client.on_progress = self.reader.on_progress = self._progressed
        # called right before an order leaves (after any wait in the limiter); a BrokerError
        # refuses it unsent (the daemon's halt check: a halt sent while the order waited)
        self.before_send: list[Callable[[OrderRequest], None]] = []
        self._info_ttl_s = info_ttl_s
        self._filters: dict[str, SymbolFilters] = {}
        self._info_at = float("-inf")
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._sent_ms: dict[str, float] = {}
        self._fills = FillPoller(self)
        # where `poll_fills` takes fills from instead of REST (the stream's, while healthy)
        self.fill_source: Callable[[], list[Fill]] | None = None
        self._restore_ban()

    @staticmethod
    def _base_url(settings: Settings, base_url: str | None) -> str:
        return (base_url or settings.effective_binance_url).rstrip("/")

    # --- start ------------------------------------------------------------------------------
    def start(self) -> None:
        """Sync server time and load rate limits and symbol filters (exchangeInfo)."""
        self.reader.sync_time()
        self.load_exchange_info()

    def sync_time(self) -> int:
        """Measure the server-time offset again (GET /api/v3/time, weight 1); in ms."""
        return self.reader.sync_time()

    def load_exchange_info(self) -> None:
        info = self.reader.call(ep.EXCHANGE_INFO, "get_exchange_info")
        limits = limits_from_exchange_info(info.get("rateLimits", []))
        if limits:
            self.limiter.configure(limits)
        with self._lock:
            self._filters = self._parse_filters(info)
            self._info_at = time.monotonic()

    def _parse_filters(self, info: dict[str, Any]) -> dict[str, SymbolFilters]:
        return filters_from_exchange_info(info)

    def _reload_info_quietly(self) -> None:
        try:
            self.load_exchange_info()
        except BrokerError as exc:
            log.warning("exchangeInfo reload failed: %s", exc)

    def _ensure_started(self) -> None:
        if not self.timesync.synced:
            self.reader.sync_time()
        if time.monotonic() - self._info_at > self._info_ttl_s:
            self.load_exchange_info()

    def filters(self, symbol: str) -> SymbolFilters:
        self._ensure_started()
        with self._lock:
            f = self._filters.get(symbol)
        if f is None:
            raise FilterRejectedError(FilterReject.UNKNOWN_SYMBOL, f"{symbol} is not listed")
        return f

    def symbol_status(self, symbol: str) -> str | None:
        """The symbol's status as of the last exchangeInfo (TRADING, HALT, BREAK...), or None
        if not loaded; no request is made (reconciliation refreshes it)."""
        with self._lock:
            f = self._filters.get(symbol)
        return f.status if f is not None else None

    def in_flight(self) -> frozenset[str]:
        """Client order ids whose submit is running right now in this process."""
        with self._lock:
            return frozenset(self._in_flight)

    # --- bans survive a restart -------------------------------------------------------------
    def _remember_ban(self, seconds: float) -> None:
        try:
            self.store.put(BAN_KEY, time.time() + seconds)
        except Exception:  # noqa: BLE001 - the in-memory pause already holds
            log.exception("could not persist the exchange ban")

    def _restore_ban(self) -> None:
        until = self.store.get(BAN_KEY)
        if isinstance(until, int | float) and until > time.time():
            self.limiter.pause(until - time.time(), 418)

    # --- Broker: submit ---------------------------------------------------------------------
    def submit(self, req: OrderRequest) -> Order:
        cid = req.client_order_id
        if not CLIENT_ORDER_ID_RE.match(cid or ""):
            raise IntentMissingError(f"client order id {cid!r} is missing or malformed")
        with self._lock:
            self._in_flight.add(cid)
        try:
            return self._submit(req, cid)
        finally:
            with self._lock:
                self._in_flight.discard(cid)
                self._sent_ms[cid] = self.timesync.server_ms()
                self._prune_sent()

    def _submit(self, req: OrderRequest, cid: str) -> Order:
        intent = self.store.get_order(cid)
        if intent is None or intent.status is not OrderStatus.PENDING:
            raise IntentMissingError(
                f"no PENDING intent recorded for {cid}; refusing to send an unrecorded order"
            )
        if intent.symbol != req.symbol or intent.side != req.side:
            raise IntentMissingError(f"the recorded intent for {cid} is for another order")
        try:
            prepared = self._prepare(req, intent)
        except FilterRejectedError:
            self.tracker.mark_rejected(cid)
            raise
        params: dict[str, Any] = {
            "symbol": req.symbol,
            "side": str(req.side),
            "type": str(req.order_type),
            "quantity": prepared.qty_text,
            "newClientOrderId": cid,
            "newOrderRespType": "FULL",
        }
        if req.order_type is OrderType.LIMIT:
            params |= {"price": prepared.price_text, "timeInForce": "GTC"}
        params = self._order_params(req, params)
        try:
            answer = self.client.call(
                ep.NEW_ORDER, "create_order", before_send=lambda: self._before_send(req), **params
            )
        except OutcomeUnknownError as exc:
            sent = self.client.last_sent_ms() or self.timesync.server_ms()
            expected = Order(
                client_order_id=cid,
                bot=req.bot,
                symbol=req.symbol,
                side=req.side,
                order_type=req.order_type,
                qty=float(prepared.qty),
                price=float(prepared.price) if prepared.price is not None else None,
                status=OrderStatus.UNKNOWN,
                created_at=intent.created_at,
            )
            return self._resolve(expected, float(sent), str(exc))
        except BrokerError as exc:
            self.tracker.mark_rejected(cid)
            if "market is closed" in str(exc).lower():
                # the symbol left TRADING (enums.md: HALT, BREAK): learn it now, so the next
                # order is refused before any request and /readyz says why
                self._reload_info_quietly()
            raise
        order = order_from_json(answer, bot=req.bot)
        self.tracker.mark_accepted(order)
        return order

    def _prepare(self, req: OrderRequest, intent: Order) -> PreparedOrder:
        """The order on the symbol's grid, or `FilterRejectedError` (nothing sent)."""
        return self.filters(req.symbol).prepare(
            req.side,
            req.order_type,
            req.qty,
            req.price if req.order_type is OrderType.LIMIT else None,
            reference_price=req.price or intent.price,
        )

    def _order_params(self, req: OrderRequest, params: dict[str, Any]) -> dict[str, Any]:
        """The new-order parameters as sent (spot: as built)."""
        return params

    def sent_at_ms(self, client_order_id: str) -> float | None:
        """Exchange time by which this process's last request for that order was sent
        (an upper bound of its `timestamp`), or None if this process never sent it."""
        with self._lock:
            return self._sent_ms.get(client_order_id)

    def _prune_sent(self) -> None:
        if len(self._sent_ms) > 10_000:
            horizon = self.timesync.server_ms() - 600_000
            self._sent_ms = {c: t for c, t in self._sent_ms.items() if t > horizon}

    def _before_send(self, req: OrderRequest) -> None:
        for hook in self.before_send:
            hook(req)

    def _progressed(self) -> None:
        for hook in self.on_progress:
            try:
                hook()
            except Exception:  # a hook must never break a request
                log.exception("progress hook failed")

    def _waiting(self) -> None:
        for hook in self.on_wait:
            try:
                hook()
            except Exception:  # a hook must never break an order's resolution
                log.exception("wait hook failed")

    def _resolve(self, expected: Order, sent_ms: float, why: str) -> Order:
        """Find out what happened to a sent order by asking, never by resending."""
        cid, symbol = expected.client_order_id, expected.symbol
        self.tracker.mark_unknown(cid)
        log.warning("order outcome unknown; resolving by query", extra={"cid": cid, "why": why})
        expires_ms = sent_ms + self.recv_window_ms + self.expiry_margin_ms
        deadline = time.monotonic() + self.resolve_timeout_s
        delay, last = 0.2, why
        while True:
            self._waiting()
            outcome, found = self._ask(symbol, cid)
            if outcome == "found":
                order = order_from_json(found, bot=expected.bot)
                self.tracker.process_order_update(order)
                return order
            if outcome == "absent" and self.timesync.server_ms() > expires_ms:
                self.tracker.mark_expired(cid)  # and remembered as our verdict
                expected.status = OrderStatus.EXPIRED
                log.info("order never reached the exchange: EXPIRED", extra={"cid": cid})
                return expected
            if outcome == "failed":
                last = found
            left = deadline - time.monotonic()
            if left <= 0:
                break
            wait = min(delay, left)
            if outcome == "absent":  # ask again right after the request can no longer land
                until_expiry = (expires_ms - self.timesync.server_ms()) / 1000.0
                wait = min(wait, max(0.05, until_expiry + 0.01))
            self._sleep(wait)
            delay = min(delay * 2, 1.0)
        raise OutcomeUnknownError(
            f"order {cid} on {symbol}: outcome unknown after {self.resolve_timeout_s:.0f}s"
            f" ({last}); left UNKNOWN for reconciliation"
        )

    def _ask(self, symbol: str, cid: str) -> tuple[str, Any]:
        """GET order: ("found", json), ("absent", None) for -2013, ("failed", why)."""
        try:
            js = self.query_json(symbol, cid)
        except BrokerError as exc:
            return "failed", str(exc)
        return ("absent", None) if js is None else ("found", js)

    # --- Broker: queries and cancels --------------------------------------------------------
    def query_json(
        self, symbol: str, client_order_id: str, *, low_priority: bool = False
    ) -> dict[str, Any] | None:
        try:
            js: dict[str, Any] = self.reader.call(
                ep.GET_ORDER,
                "get_order",
                low_priority=low_priority,
                symbol=symbol,
                origClientOrderId=client_order_id,
            )
        except BrokerError as exc:
            if exc.code == NO_SUCH_ORDER:
                return None
            if exc.code == ORDER_ARCHIVED:
                return self._archived(symbol, client_order_id)
            raise
        return js

    def _archived(self, symbol: str, client_order_id: str) -> dict[str, Any]:
        """-2026: the order was canceled or expired with no executed quantity and archived
        (errors.md). Its answer is built from the local row and, when its exchange order
        id is known, what ``myTrades`` says was executed (nothing, per the docs)."""
        row = self.store.get_order(client_order_id)
        executed, quote = 0.0, 0.0
        order_id = row.exchange_order_id if row is not None else None
        if order_id is not None:
            trades = self.reader.call(
                ep.MY_TRADES_ORDER, "get_my_trades", symbol=symbol, orderId=int(order_id)
            )
            executed = sum(float(t["qty"]) for t in trades)
            quote = sum(float(t["qty"]) * float(t["price"]) for t in trades)
        log.info("order archived (-2026): settled from myTrades", extra={"cid": client_order_id})
        return {
            "symbol": symbol,
            "clientOrderId": client_order_id,
            "orderId": int(order_id) if order_id is not None else None,
            "side": str(row.side) if row is not None else "BUY",
            "type": str(row.order_type) if row is not None else "LIMIT",
            "origQty": repr(row.qty) if row is not None else "0",
            "price": repr(row.price or 0.0) if row is not None else "0",
            "executedQty": repr(executed),
            "cummulativeQuoteQty": repr(quote),
            "status": "FILLED" if row is not None and executed >= row.qty - 1e-12 else "EXPIRED",
        }

    def _bot_of(self, client_order_id: str) -> str:
        row = self.store.get_order(client_order_id)
        return row.bot if row is not None else ""

    def query(self, symbol: str, client_order_id: str) -> Order | None:
        js = self.query_json(symbol, client_order_id)
        if js is None:
            return None
        return order_from_json(js, bot=self._bot_of(client_order_id))

    def cancel(self, symbol: str, client_order_id: str) -> Order:
        try:
            js = self.client.call(
                ep.CANCEL_ORDER, "cancel_order", symbol=symbol, origClientOrderId=client_order_id
            )
        except OutcomeUnknownError:
            js = self.query_json(symbol, client_order_id)
            if js is None:
                raise BrokerError(f"{client_order_id}: no such order", NO_SUCH_ORDER) from None
        except BrokerError as exc:
            if exc.code != CANCEL_REJECTED:
                raise
            js = self.query_json(symbol, client_order_id)  # already closed: say how
            if js is None:
                raise
        order = order_from_json(js, bot=self._bot_of(client_order_id))
        self.tracker.mark_cancelled(order)
        return order

    def cancel_all(self, symbol: str) -> list[Order]:
        """Cancel every open order of the symbol; on a shared account only ours."""
        if self.settings.shared_account:
            ours = [o for o in self.open_orders(symbol) if o.bot]
            return [self.cancel(symbol, o.client_order_id) for o in ours]
        try:
            answer = self.client.call(
                ep.CANCEL_OPEN_ORDERS, "cancel_all_open_orders", symbol=symbol
            )
        except BrokerError as exc:
            if exc.code == CANCEL_REJECTED:
                return []  # nothing open
            raise
        out = []
        for js in answer:
            if "orderId" not in js:
                continue  # an order-list report; its orders are listed separately
            order = order_from_json(js, bot=self._bot_of(str(js.get("origClientOrderId", ""))))
            if order.bot:
                self.tracker.mark_cancelled(order)
            out.append(order)
        return out

    def open_orders(self, symbol: str | None = None, *, low_priority: bool = False) -> list[Order]:
        if symbol:
            answer = self.reader.call(
                ep.OPEN_ORDERS_SYMBOL, "get_open_orders", low_priority=low_priority, symbol=symbol
            )
        else:
            answer = self.reader.call(
                ep.OPEN_ORDERS_ALL, "get_open_orders", low_priority=low_priority
            )
        return [
            order_from_json(js, bot=self._bot_of(str(js.get("clientOrderId", "")))) for js in answer
        ]

    # --- balances ---------------------------------------------------------------------------
    def account_balances(
        self, *, low_priority: bool = False
    ) -> tuple[dict[str, float], dict[str, float]]:
        """(free, free + locked) per asset."""
        js = self.reader.call(ep.ACCOUNT, "get_account", low_priority=low_priority)
        return balances_from_account(js)

    def balances(self) -> dict[str, float]:
        return self.account_balances()[0]

    def total_balances(self) -> dict[str, float]:
        return self.account_balances(low_priority=True)[1]

    def poll_fills(self) -> list[Fill]:
        """Fills of our open orders not booked yet (each returned once per process): from
        `fill_source` while one is set (the user data stream, see
        `runtime.exchange_loop`), else polled over REST (`poll_fills_rest`)."""
        source = self.fill_source
        if source is not None:
            return source()
        return self._fills.poll()

    def poll_fills_rest(self) -> list[Fill]:
        """Fills of our open orders polled over REST whatever the fill source (the check
        run with every reconciliation in streams mode: a lost event is booked there)."""
        return self._fills.poll()

    def fill_from_trade(self, trade: dict[str, Any], local: Order) -> Fill:
        """A trade of our order `local` (a ``myTrades`` row or a streamed one) as a `Fill`,
        its third-asset commission valued as polled fills are (`FillPoller.fill_of`)."""
        return self._fills.fill_of(trade, local)

    # --- market data ------------------------------------------------------------------------
    def ticker_price(self, symbol: str) -> float:
        """Last price of `symbol` (GET /api/v3/ticker/price, weight 2)."""
        js = self.reader.call(ep.TICKER_PRICE, "get_symbol_ticker", symbol=symbol)
        try:
            price = float(js["price"])
        except (KeyError, TypeError, ValueError):
            raise BrokerError(f"ticker for {symbol}: malformed answer") from None
        if not math.isfinite(price) or price <= 0:
            raise BrokerError(f"ticker for {symbol}: unusable price {price!r}")
        return price

    def klines(
        self, symbol: str, interval: str, *, start_ms: int | None = None, limit: int = 500
    ) -> list[list[Any]]:
        """Klines of `symbol` (GET /api/v3/klines, weight 2), oldest first, from the open
        time `start_ms` (else the latest `limit`): [open ms, o, h, l, c, v, close ms, ...]."""
        params: dict[str, Any] = {"symbol": symbol, "interval": interval, "limit": limit}
        if start_ms is not None:
            params["startTime"] = start_ms
        rows = self.reader.call(ep.KLINES, "get_klines", **params)
        if not isinstance(rows, list):
            raise BrokerError(f"klines for {symbol}: malformed answer")
        return rows

    # --- key rights -------------------------------------------------------------------------
    @property
    def key_roles(self) -> tuple[str, ...]:
        """The keys this broker signs with: ``("trade",)``, or ``("trade", "read")``."""
        return ("trade",) if self.reader is self.client else ("trade", "read")

    def api_restrictions(self, key: str = "trade") -> dict[str, Any]:
        """GET /sapi/v1/account/apiRestrictions of the trade key, or of the read key with
        ``key="read"`` (the trade key's when there is no separate one)."""
        client = self.reader if key == "read" else self.client
        return dict(client.call(ep.API_RESTRICTIONS, "get_account_api_permissions"))
