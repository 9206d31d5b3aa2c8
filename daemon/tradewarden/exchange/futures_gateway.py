"""`FuturesGateway`: the `Broker` on Binance USD-M futures (``/fapi``), testnet and the fake.

It is the spot gateway (`exchange.gateway.BinanceBroker`) on python-binance's ``futures_*``
methods: the same submit path (the intent PENDING in SQLite first, filters, the limiter,
``newClientOrderId``; no usable answer -> resolved by ``GET /fapi/v1/order?origClientOrderId=``,
never resent), the same fill poller (``openOrders`` + ``userTrades``) and the same order
tracker. What differs:

- `FuturesClient` routes each spot call to its ``/fapi`` counterpart and its own weight pool
  (`ratelimit.process_limiter("fapi")`: 2400 weight / minute, ORDERS 300 / 10 s and 1200 /
  minute until exchangeInfo says otherwise); answers are normalised to the spot shapes the
  mapping reads (``cumQuote`` -> ``cummulativeQuoteQty``, ``buyer`` -> ``isBuyer``). A spot
  call with no futures counterpart is refused, never sent to the spot host;
- filters: PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL (``notional``; reduceOnly
  orders exempt, as on Binance) and PERCENT_PRICE (a LIMIT price against the mark price);
- every order whose request says ``reduce_only`` goes out with ``reduceOnly=true`` (the
  futures trader marks every exposure-reducing order so); the exchange refuses one that
  would add to the position (-2022);
- at start (`start`), per symbol of TRADEWARDEN_SYMBOLS: one-way position mode is required;
  margin type set to ISOLATED and leverage to TRADEWARDEN_FUTURES_LEVERAGE, then read back.
  A symbol in cross margin with an open position or open orders, one whose leverage is above
  TRADEWARDEN_FUTURES_MAX_LEVERAGE and cannot be lowered, or one whose read-back differs, is
  refused (`FuturesSetupRefusedError`, naming the symbol and the setting: the daemon does
  not start);
- the prices the loop trades on are mark prices (``premiumIndex``): the liquidation-distance
  breaker is checked on every mark-price update;
- `position` (the exchange's position per symbol, ``positionRisk``), `poll_funding`
  (FUNDING_FEE income, each booked once across restarts) and `liquidations` are what the
  futures trader reads besides the `Broker` calls.

With ``TRADEWARDEN_STREAMS=on`` the futures user data stream (`exchange.futures_stream`)
is the fill source while it is connected (`runtime.exchange_loop`): `order_from_event`,
`fill_from_trade` and `apply_account_update` read its events in the shapes polling gives;
the fill poller stays the fallback and the check after every (re)connect.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from tradewarden.core.config import Settings
from tradewarden.core.models import Fill, Order, OrderRequest, OrderType
from tradewarden.exchange import endpoints as ep
from tradewarden.exchange.client import ExchangeClient
from tradewarden.exchange.endpoints import Endpoint
from tradewarden.exchange.filters import PreparedOrder, SymbolFilters, filters_from_exchange_info
from tradewarden.exchange.futures_stream import FuturesAccountEvent, FuturesOrderEvent
from tradewarden.exchange.gateway import CANCEL_REJECTED, BinanceBroker
from tradewarden.exchange.mapping import order_from_json
from tradewarden.risk.futures import FuturesPosition
from tradewarden.state.keys import StateKey
from tradewarden.trading.broker import BrokerError
from tradewarden.trading.paper_futures import Funding, Liquidation

log = logging.getLogger(__name__)

MARGIN_UNCHANGED = -4046  # "No need to change margin type."
FUNDING_KEY = StateKey.EXCHANGE_FUTURES_FUNDING
FUNDING_POLL_S = 10.0  # FUNDING_FEE income asked about at most this often (weight 30)
LIQUIDATION_POLL_S = 30.0  # forceOrders asked about at most this often (weight 50)
POSITIONS_MAX_AGE_S = 5.0  # positions read again at least this often while trading
KEEP_FUNDING_IDS = 500
FUNDING_BASELINE_SLACK_MS = 5000  # the first baseline's start, before the estimated now
# the spot host -> its USD-M futures twin (``/fapi``): the testnet's and the live one's
TESTNET_HOSTS = {"testnet.binance.vision": "https://testnet.binancefuture.com"}
LIVE_HOSTS = {"api.binance.com": "https://fapi.binance.com"}
FUTURES_HOSTS = {**TESTNET_HOSTS, **LIVE_HOSTS}
# the futures host -> the spot host its key's rights are asked on (``/sapi``)
SPOT_HOSTS = {urlsplit(f).hostname or "": f"https://{s}" for s, f in FUTURES_HOSTS.items()}


class FuturesSetupRefusedError(BrokerError):
    """A symbol's futures set-up (position mode, margin type, leverage) is not acceptable and
    cannot be made so: the daemon does not start. The message names symbol and setting."""


def futures_base_url(spot_url: str) -> str:
    """Where ``/fapi`` lives for a configured Binance URL (TRADEWARDEN_BINANCE_BASE_URL):
    the futures twin of the spot testnet or of ``api.binance.com`` (``fapi.binance.com``),
    else the same host (the fake exchange serves both)."""
    host = urlsplit(spot_url).hostname or ""
    return FUTURES_HOSTS.get(host, spot_url).rstrip("/")


def spot_base_url(futures_url: str) -> str:
    """Where ``/sapi`` (the key's rights) lives for a futures base URL: the spot host of a
    Binance futures host, else the same host."""
    host = urlsplit(futures_url).hostname or ""
    return SPOT_HOSTS.get(host, futures_url).rstrip("/")


def _normalised(answer: Any) -> Any:
    """Futures answers in the spot shapes `exchange.mapping` reads."""
    if isinstance(answer, list):
        return [_normalised(a) for a in answer]
    if isinstance(answer, dict):
        out = dict(answer)
        if "cumQuote" in out and "cummulativeQuoteQty" not in out:
            out["cummulativeQuoteQty"] = out["cumQuote"]
        if "buyer" in out and "isBuyer" not in out:
            out["isBuyer"] = bool(out["buyer"])
            out["isMaker"] = bool(out.get("maker"))
        return out
    return answer


# spot method -> (futures endpoint, futures method); open orders depend on `symbol`
_ROUTES: dict[str, tuple[Endpoint, str]] = {
    "ping": (ep.F_PING, "futures_ping"),
    "get_server_time": (ep.F_TIME, "futures_time"),
    "get_exchange_info": (ep.F_EXCHANGE_INFO, "futures_exchange_info"),
    "create_order": (ep.F_NEW_ORDER, "futures_create_order"),
    "get_order": (ep.F_GET_ORDER, "futures_get_order"),
    "cancel_order": (ep.F_CANCEL_ORDER, "futures_cancel_order"),
    "cancel_all_open_orders": (ep.F_CANCEL_ALL, "futures_cancel_all_open_orders"),
    "get_my_trades": (ep.F_USER_TRADES, "futures_account_trades"),
    "get_symbol_ticker": (ep.F_TICKER_PRICE, "futures_symbol_ticker"),
    "get_klines": (ep.F_KLINES, "futures_klines"),
}
# the key's rights are asked on the spot API (/sapi), as for a spot bot
_PASS_THROUGH = frozenset({"get_account_api_permissions"})


class FuturesClient(ExchangeClient):
    """`ExchangeClient` whose calls go to ``/fapi`` (see the module docstring)."""

    def _build(self, key: str, secret: str) -> Any:
        client = super()._build(key, secret)
        client.FUTURES_URL = self.base_url + "/fapi"
        # the key's rights (apiRestrictions) are a spot-API (/sapi) question
        client.MARGIN_API_URL = spot_base_url(self.base_url) + "/sapi"
        return client

    def call(
        self,
        endpoint: Endpoint,
        method: str,
        *,
        low_priority: bool = False,
        before_send: Callable[[], None] | None = None,
        **params: Any,
    ) -> Any:
        if not method.startswith("futures_") and method not in _PASS_THROUGH:
            if method == "get_open_orders":
                endpoint = ep.F_OPEN_ORDERS_SYMBOL if params.get("symbol") else ep.F_OPEN_ORDERS_ALL
                method = "futures_get_open_orders"
            elif method in _ROUTES:
                endpoint, method = _ROUTES[method]
            else:  # fail closed: never a spot request from the futures gateway
                raise BrokerError(f"{method}: no USD-M futures counterpart")
        answer = super().call(
            endpoint, method, low_priority=low_priority, before_send=before_send, **params
        )
        return _normalised(answer)


class FuturesGateway(BinanceBroker):
    """See the module docstring."""

    client_class = FuturesClient
    limiter_pool = "fapi"
    # a HALT cancels the open orders of every symbol of the account (`OrderGate.cancel_all`)
    sweeps_every_symbol = True

    def __init__(self, settings: Settings, *args: Any, **kwargs: Any) -> None:
        super().__init__(settings, *args, **kwargs)
        self.name = "binance-futures-testnet" if "testnet" in self.name else "binance-futures"
        self.liquidations: list[Liquidation] = []
        self._positions: dict[str, dict[str, Any]] = {}
        self._positions_at = float("-inf")
        self._next_funding_poll = 0.0
        self._next_liquidation_poll = 0.0
        self._liquidations_since: int | None = None
        self._liquidations_seen: set[str] = set()
        self._marks: dict[str, float] = {}
        self._bots = {symbol: bot for bot, symbol, _ in settings.bot_specs()}
        self._plock = threading.Lock()

    @staticmethod
    def _base_url(settings: Settings, base_url: str | None) -> str:
        return futures_base_url(base_url or settings.effective_binance_url)

    # --- start ------------------------------------------------------------------------------
    def start(self) -> None:
        """Time, exchangeInfo, then every symbol's set-up (see the module docstring)."""
        super().start()
        self.check_setup(list(self.settings.symbols))
        self.refresh_positions()
        if self._liquidations_since is None:
            self._liquidations_since = int(self.timesync.server_ms())

    def check_setup(self, symbols: list[str]) -> dict[str, dict[str, Any]]:
        """One-way mode; each symbol ISOLATED at TRADEWARDEN_FUTURES_LEVERAGE, read back.
        Raises `FuturesSetupRefusedError` naming the symbol and the setting."""
        mode = self.reader.call(ep.F_POSITION_MODE, "futures_get_position_mode")
        if str(mode.get("dualSidePosition")).lower() not in ("false", "0"):
            raise FuturesSetupRefusedError(
                "futures account in hedge mode (dualSidePosition=true): tradewarden trades"
                " one-way mode only (positionSide BOTH); switch the account to one-way mode"
            )
        want = self.settings.futures_leverage
        most = self.settings.futures_max_leverage
        seen: dict[str, dict[str, Any]] = {}
        for symbol in symbols:
            row = self._config_row(symbol)
            qty = float(row.get("positionAmt") or 0.0)
            if str(row.get("marginType", "")).lower() != "isolated":
                if qty or self.open_orders(symbol):
                    raise FuturesSetupRefusedError(
                        f"{symbol}: cross margin with an open position or open orders"
                        f" (positionAmt {row.get('positionAmt')}); tradewarden trades isolated"
                        " margin only (TRADEWARDEN_FUTURES_ENABLED): close it, set ISOLATED,"
                        " then start again"
                    )
                try:
                    self.client.call(
                        ep.F_MARGIN_TYPE,
                        "futures_change_margin_type",
                        symbol=symbol,
                        marginType="ISOLATED",
                    )
                except BrokerError as exc:
                    if exc.code != MARGIN_UNCHANGED:
                        raise FuturesSetupRefusedError(
                            f"{symbol}: margin type cannot be set to ISOLATED ({exc})"
                        ) from None
            leverage = int(float(row.get("leverage") or 0))
            if leverage != want:
                try:
                    self.client.call(
                        ep.F_LEVERAGE, "futures_change_leverage", symbol=symbol, leverage=want
                    )
                except BrokerError as exc:
                    if leverage > most:
                        raise FuturesSetupRefusedError(
                            f"{symbol}: leverage {leverage}x is above"
                            f" TRADEWARDEN_FUTURES_MAX_LEVERAGE={most} and cannot be set to"
                            f" TRADEWARDEN_FUTURES_LEVERAGE={want} ({exc})"
                        ) from None
                    raise FuturesSetupRefusedError(
                        f"{symbol}: leverage cannot be set to TRADEWARDEN_FUTURES_LEVERAGE={want}"
                        f" (now {leverage}x): {exc}"
                    ) from None
            row = self._config_row(symbol)
            got_type = str(row.get("marginType", "")).lower()
            got_lev = int(float(row.get("leverage") or 0))
            if got_type != "isolated" or got_lev != want or got_lev > most:
                raise FuturesSetupRefusedError(
                    f"{symbol}: read back margin type {got_type or '?'} at {got_lev}x, not"
                    f" isolated at TRADEWARDEN_FUTURES_LEVERAGE={want}"
                    f" (TRADEWARDEN_FUTURES_MAX_LEVERAGE={most})"
                )
            seen[symbol] = row
            log.info(
                "futures symbol set up",
                extra={"symbol": symbol, "margin_type": "ISOLATED", "leverage": got_lev},
            )
        return seen

    def symbol_setups(self) -> dict[str, tuple[str, int]]:
        """(margin type, leverage) of each configured symbol as the exchange says now
        (reconciliation: set at `start`, changed by someone since?). One
        ``GET /fapi/v2/positionRisk`` (every symbol, weight 5); a symbol missing from it or
        unreadable reads ("?", 0), which is no accepted set-up (fail closed)."""
        rows = self.reader.call(ep.F_POSITION_RISK_V2, "futures_position_information", version=2)
        now = {
            str(r.get("symbol")): r
            for r in (rows if isinstance(rows, list) else [])
            if isinstance(r, dict) and r.get("positionSide", "BOTH") == "BOTH"
        }
        out: dict[str, tuple[str, int]] = {}
        for symbol in self.settings.symbols:
            row = now.get(symbol, {})
            try:
                leverage = int(float(row.get("leverage") or 0))
            except (TypeError, ValueError):
                leverage = 0
            out[symbol] = (str(row.get("marginType") or "?").lower(), leverage)
        return out

    def _config_row(self, symbol: str) -> dict[str, Any]:
        """The symbol's ``GET /fapi/v2/positionRisk`` row (v2 carries leverage and
        marginType; v3 does not)."""
        rows = self.reader.call(
            ep.F_POSITION_RISK_V2, "futures_position_information", symbol=symbol, version=2
        )
        for row in rows if isinstance(rows, list) else []:
            if row.get("symbol") == symbol and row.get("positionSide", "BOTH") == "BOTH":
                return dict(row)
        raise BrokerError(f"{symbol}: no positionRisk row")

    # --- filters and orders -----------------------------------------------------------------
    def _parse_filters(self, info: dict[str, Any]) -> dict[str, SymbolFilters]:
        return {
            s: replace(f, reduce_only_exempt=True)
            for s, f in filters_from_exchange_info(info).items()
        }

    def _prepare(self, req: OrderRequest, intent: Order) -> PreparedOrder:
        mark = self._marks.get(req.symbol)
        return self.filters(req.symbol).prepare(
            req.side,
            req.order_type,
            req.qty,
            req.price if req.order_type is OrderType.LIMIT else None,
            reference_price=mark or req.price or intent.price,
            reduce_only=req.reduce_only,
        )

    def _order_params(self, req: OrderRequest, params: dict[str, Any]) -> dict[str, Any]:
        out = {**params, "newOrderRespType": "RESULT", "positionSide": "BOTH"}
        if req.reduce_only:
            out["reduceOnly"] = "true"
        return out

    def cancel_all(self, symbol: str) -> list[Order]:
        """Every open order of the symbol cancelled (``DELETE allOpenOrders`` answers no
        list: ours are read first and asked about after, so their rows are closed)."""
        listed = self.open_orders(symbol)
        if not listed:
            return []
        if self.settings.shared_account:
            return [self.cancel(symbol, o.client_order_id) for o in listed if o.bot]
        try:
            self.client.call(ep.F_CANCEL_ALL, "futures_cancel_all_open_orders", symbol=symbol)
        except BrokerError as exc:
            if exc.code != CANCEL_REJECTED:
                raise
        out = []
        for o in listed:
            js = self.query_json(symbol, o.client_order_id)
            order = order_from_json(js, bot=o.bot) if js is not None else o
            if order.bot:
                self.tracker.mark_cancelled(order)
            out.append(order)
        return out

    # --- the key's futures rights ----------------------------------------------------------
    def futures_account(self) -> dict[str, Any]:
        """The trade key's futures account (``GET /fapi/v2/account``, weight 5): the key
        check's ``canTrade`` (`live.key_permissions.check_trade_key`)."""
        js = self.client.call(ep.F_ACCOUNT, "futures_account")
        if not isinstance(js, dict):
            raise BrokerError("GET /fapi/v2/account: the answer is not an object")
        return dict(js)

    # --- balances and positions -------------------------------------------------------------
    def account_balances(
        self, *, low_priority: bool = False
    ) -> tuple[dict[str, float], dict[str, float]]:
        """(available, wallet balance) per margin asset (``GET /fapi/v2/account``)."""
        js = self.reader.call(ep.F_ACCOUNT, "futures_account", low_priority=low_priority)
        free: dict[str, float] = {}
        total: dict[str, float] = {}
        for row in js.get("assets", []):
            wallet = float(row.get("walletBalance") or 0.0)
            if not wallet:
                continue
            free[str(row["asset"])] = float(row.get("availableBalance") or 0.0)
            total[str(row["asset"])] = wallet
        return free, total

    def refresh_positions(self) -> dict[str, dict[str, Any]]:
        """Every position the exchange holds on this account (``positionRisk`` v3: symbols
        with a position or an open order), by symbol."""
        rows = self.reader.call(ep.F_POSITION_RISK, "futures_position_information")
        positions = {
            str(r["symbol"]): dict(r)
            for r in (rows if isinstance(rows, list) else [])
            if r.get("positionSide", "BOTH") == "BOTH"
        }
        with self._plock:
            self._positions = positions
            self._positions_at = time.monotonic()
        return positions

    def exchange_positions(self) -> dict[str, float]:
        """Signed position quantity per symbol as the exchange says now (non-zero only)."""
        out = {}
        for symbol, row in self.refresh_positions().items():
            qty = float(row.get("positionAmt") or 0.0)
            if qty:
                out[symbol] = qty
        return out

    def position(self, bot: str, symbol: str) -> FuturesPosition:
        """The exchange's position of `symbol` (one-way mode: one per symbol, one bot per
        symbol), as last read: quantity, entry price and isolated wallet."""
        with self._plock:
            row = self._positions.get(symbol, {})
        return FuturesPosition(
            symbol,
            self.settings.futures_leverage,
            qty=float(row.get("positionAmt") or 0.0),
            entry=float(row.get("entryPrice") or 0.0),
            margin=float(row.get("isolatedWallet") or 0.0),
        )

    def apply_account_update(self, ev: FuturesAccountEvent) -> None:
        """An ``ACCOUNT_UPDATE``'s positions over the last read (the rows it names; the
        others keep theirs until the next ``positionRisk`` read)."""
        with self._plock:
            for p in ev.positions:
                if p.position_side != "BOTH":
                    continue
                row = dict(self._positions.get(p.symbol, {"symbol": p.symbol}))
                row.update(
                    positionAmt=p.amount,
                    entryPrice=p.entry_price,
                    isolatedWallet=p.isolated_wallet,
                    unRealizedProfit=p.unrealized,
                    marginType=p.margin_type,
                )
                self._positions[p.symbol] = row

    def order_from_event(self, ev: FuturesOrderEvent, bot: str = "") -> Order:
        """An ``ORDER_TRADE_UPDATE`` as the remote view of the order (as `order_from_json`
        reads a ``GET /fapi/v1/order`` answer)."""
        return order_from_json(
            {
                "symbol": ev.symbol,
                "orderId": ev.order_id,
                "clientOrderId": ev.client_order_id,
                "side": ev.side,
                "type": ev.order_type,
                "status": ev.status,
                "origQty": repr(ev.orig_qty),
                "executedQty": repr(ev.cum_qty),
                "cummulativeQuoteQty": repr(ev.avg_price * ev.cum_qty),
                "price": repr(ev.price),
                "updateTime": ev.event_ms,
            },
            bot=bot,
        )

    def fill_from_trade(self, trade: dict[str, Any], local: Order) -> Fill:
        """A futures trade (``userTrades`` row or a streamed one) in the spot shape first."""
        return super().fill_from_trade(_normalised(trade), local)

    def poll_fills(self) -> list[Fill]:
        fills = super().poll_fills()
        if fills or time.monotonic() - self._positions_at > POSITIONS_MAX_AGE_S:
            self.refresh_positions()
        return fills

    # --- funding and liquidations -----------------------------------------------------------
    def poll_liquidations(self) -> list[Liquidation]:
        """Liquidations of this account since this process started (``forceOrders``, at
        most every `LIQUIDATION_POLL_S`), each appended once to `liquidations` (the futures
        trader audits and halts on them; reconciliation also sees the position gone)."""
        now = time.monotonic()
        if now < self._next_liquidation_poll or self._liquidations_since is None:
            return []
        self._next_liquidation_poll = now + LIQUIDATION_POLL_S
        try:
            rows = self.reader.call(
                ep.F_FORCE_ORDERS,
                "futures_liquidation_orders",
                low_priority=True,
                startTime=self._liquidations_since,
            )
        except BrokerError as exc:
            log.warning("liquidations not read: %s", exc)
            return []
        out = []
        for r in rows if isinstance(rows, list) else []:
            oid = str(r.get("orderId", ""))
            symbol = str(r.get("symbol", ""))
            if oid in self._liquidations_seen:
                continue
            self._liquidations_seen.add(oid)
            with self._plock:
                wallet = float(self._positions.get(symbol, {}).get("isolatedWallet") or 0.0)
            liq = Liquidation(
                self._bots.get(symbol, ""),
                symbol,
                float(r.get("executedQty") or 0.0),
                float(r.get("avgPrice") or 0.0),
                wallet,  # the whole isolated margin, as last read
                float(r.get("updateTime") or r.get("time") or 0) / 1000.0,
            )
            log.critical("futures position liquidated by the exchange", extra={"symbol": symbol})
            out.append(liq)
        self.liquidations.extend(out)
        if out:
            self.refresh_positions()
        return out

    def poll_funding(self) -> list[Funding]:
        """FUNDING_FEE income not booked yet (at most every `FUNDING_POLL_S`), each once
        across restarts (`FUNDING_KEY`). The first start only takes the baseline. Polls
        the liquidations too (`poll_liquidations`)."""
        self.poll_liquidations()
        now = time.monotonic()
        if now < self._next_funding_poll:
            return []
        self._next_funding_poll = now + FUNDING_POLL_S
        seen = self.store.get(FUNDING_KEY)
        if not isinstance(seen, dict):
            # from a little before now: the server time is an estimate (offset, latency),
            # a funding just after the baseline must not fall before it and go unbooked
            since = int(self.timesync.server_ms()) - FUNDING_BASELINE_SLACK_MS
            self.store.put(FUNDING_KEY, {"since": since, "ids": []})
            return []
        since = int(seen.get("since", 0))
        ids = [str(i) for i in seen.get("ids", [])]
        known = set(ids)
        try:
            rows = self.reader.call(
                ep.F_INCOME,
                "futures_income_history",
                low_priority=True,
                incomeType="FUNDING_FEE",
                startTime=since,
                limit=1000,
            )
        except BrokerError as exc:
            log.warning("funding income not read: %s", exc)
            return []
        out: list[Funding] = []
        latest = since
        for r in rows if isinstance(rows, list) else []:
            tran = str(r.get("tranId", ""))
            at = int(r.get("time") or 0)
            latest = max(latest, at)
            if tran in known:
                continue
            known.add(tran)
            ids.append(tran)
            symbol = str(r.get("symbol", ""))
            bot = self._bots.get(symbol)
            if bot is None:
                log.warning("funding on %s, which no bot trades", symbol)
                continue
            amount = float(r.get("income") or 0.0)
            mark = self._marks.get(symbol, 0.0)
            out.append(Funding(bot, symbol, amount, 0.0, mark, at / 1000.0))
        if out or latest != since:
            booked = list(seen.get("booked", [])) + [[f.bot, f.symbol, f.amount, f.ts] for f in out]
            self.store.put(
                FUNDING_KEY,
                {
                    "since": latest,
                    "ids": ids[-KEEP_FUNDING_IDS:],
                    "booked": booked[-KEEP_FUNDING_IDS:],
                },
            )
        if out:
            self.refresh_positions()  # funding moved the isolated wallets
        return out

    def funding_income_since(self, since_ms: int) -> list[tuple[int, float]]:
        """(time ms, amount) of each FUNDING_FEE income from `since_ms` on (reconciliation's
        wallet check)."""
        rows = self.reader.call(
            ep.F_INCOME,
            "futures_income_history",
            low_priority=True,
            incomeType="FUNDING_FEE",
            startTime=since_ms,
            limit=1000,
        )
        return [
            (int(r.get("time") or 0), float(r.get("income") or 0.0))
            for r in rows
            if isinstance(r, dict)
        ]

    def booked_funding(self) -> list[Funding]:
        """The funding earlier processes booked (kept with `FUNDING_KEY`): a restarted
        daemon's ledger gets it back, so P&L and the daily-loss breaker keep counting it."""
        seen = self.store.get(FUNDING_KEY)
        rows = seen.get("booked", []) if isinstance(seen, dict) else []
        return [Funding(str(b), str(s), float(a), 0.0, 0.0, float(t)) for b, s, a, t in rows]

    # --- market data ------------------------------------------------------------------------
    def ticker_price(self, symbol: str) -> float:
        """The mark price of `symbol` (``GET /fapi/v1/premiumIndex``, weight 1): what the
        loop trades on and the liquidation-distance breaker measures against."""
        js = self.reader.call(ep.F_PREMIUM_INDEX, "futures_mark_price", symbol=symbol)
        try:
            price = float(js["markPrice"])
        except (KeyError, TypeError, ValueError):
            raise BrokerError(f"mark price for {symbol}: malformed answer") from None
        if not math.isfinite(price) or price <= 0:
            raise BrokerError(f"mark price for {symbol}: unusable price {price!r}")
        self._marks[symbol] = price
        return price
