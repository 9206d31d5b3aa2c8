"""`FakeBinance`: the fake spot server in a background thread, driven from a test.

    with FakeBinance(balances={"USDT": 1000.0}) as fx:
        client = Client(fx.api_key, fx.api_secret, ping=False)
        client.API_URL = fx.url + "/api"          # /api/v3/...
        client.MARGIN_API_URL = fx.url + "/sapi"  # /sapi/v1/account/apiRestrictions
        # or simply: client = fx.client()
        # WebSocket: fx.ws_api_url (ws://.../ws-api/v3), fx.stream_url (ws://.../stream)
        fx.stream_fault("drop", stream="user")
        fx.fault("error_after_accept", path="/api/v3/order", method="POST", status=503)
        fx.set_price_path("BTCUSDT", [30000, 29900, 29800]); fx.step()

Binance's world is the default (0.1% commission from the received asset, a finite book
that MARKET orders walk and can run out of, partial LIMIT fills over steps; see
`matching`). A test that needs a kinder exchange says so: ``FakeBinance(kind=True)`` (no
fee, an infinitely deep book at one price), or one part alone (``fee_rate=0``,
``book_levels=None``).

The methods call the server's `control` directly (the same code behind the HTTP
``/_control/...`` API, under the server's lock), so they are thread-safe and a by-hand
server (``python -m tests.fakes.binance``) is driven the same way with curl.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.binance.limits import LimitConfig
from tests.fakes.binance.server import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    DEFAULT_KIND,
    UNSET,
    FakeBinanceServer,
    key_fingerprint,
)
from tests.fakes.binance.streams import StreamConfig

if TYPE_CHECKING:
    from binance.client import Client


class FakeBinance:
    """A running fake Binance spot API on ``127.0.0.1:<free port>`` (context manager)."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        symbols: dict[str, dict[str, Any]] | None = None,
        balances: dict[str, float] | None = None,
        manual_clock: bool = False,
        weight_limit: int = 6000,
        orders_10s_limit: int = 50,
        orders_1d_limit: int = 160_000,
        raw_requests_limit: int = 300_000,
        sapi_weight_limit: int = 12_000,
        ban_after: int = 5,
        ban_seconds: int = 120,
        kind: bool = DEFAULT_KIND,
        fee_rate: float = UNSET,
        bnb_fees: bool = False,
        bnb_price: float = 600.0,
        book_levels: int | None = UNSET,
        archive_after_s: float = 90 * 86_400,
        auto_step_ms: int | None = None,
        restrictions: dict[str, Any] | None = None,
        ws_ping_interval: float = 20.0,
        ws_pong_timeout: float = 60.0,
        ws_max_lifetime_s: float = 86_400.0,
        ws_connection_limit: int = 300,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """`kind`: the kind world (no fee, infinite book at one price) instead of Binance's;
        `fee_rate`: commission rate (world default: 0.001, kind 0); `bnb_fees`: pay the
        commission in BNB (25% off) while the BNB balance covers it; `bnb_price`: BNB in
        quote units when no BNB<quote> symbol is configured; `book_levels`: levels a side
        of the finite book (world default 10; None = infinitely deep at the current price;
        per symbol ``depth_qty`` = qty per level, ``book_gap_ticks`` = ticks between
        levels); `archive_after_s`: closed unfilled orders older than this answer -2026;
        `ws_ping_interval`: seconds between the WebSocket server's ping frames (Binance: 20);
        `ws_pong_timeout`: an unanswered ping closes the connection after this (60);
        `ws_max_lifetime_s`: connection lifetime on the server's clocks (24 h);
        `ws_connection_limit`: new WebSocket connections per IP per 5 minutes (300)."""
        self.api_key = api_key
        self.api_secret = api_secret
        self.host = host
        self.port = port
        self.server = FakeBinanceServer(
            api_key=api_key,
            api_secret=api_secret,
            symbols=symbols,
            balances=balances,
            manual_clock=manual_clock,
            limits=LimitConfig(
                weight_limit=weight_limit,
                orders_10s_limit=orders_10s_limit,
                orders_1d_limit=orders_1d_limit,
                raw_requests_limit=raw_requests_limit,
                sapi_weight_limit=sapi_weight_limit,
                ban_after=ban_after,
                ban_seconds=ban_seconds,
            ),
            kind=kind,
            fee_rate=fee_rate,
            bnb_fees=bnb_fees,
            bnb_price=bnb_price,
            book_levels=book_levels,
            archive_after_s=archive_after_s,
            auto_step_ms=auto_step_ms,
            restrictions=restrictions,
            streams=StreamConfig(
                ping_interval_s=ws_ping_interval,
                pong_timeout_s=ws_pong_timeout,
                max_lifetime_s=ws_max_lifetime_s,
                connection_limit=ws_connection_limit,
            ),
        )
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is not None:
            return
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                runner = web.AppRunner(
                    self.server.make_app(), access_log=None, shutdown_timeout=1.0
                )
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, self.host, self.port)
                loop.run_until_complete(site.start())
                self._runner = runner
                self.port = int(runner.addresses[0][1])
                self.url = f"http://{self.host}:{self.port}"
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-binance", daemon=True)
        self._thread.start()
        if not ready.wait(20):
            raise RuntimeError("fake Binance did not start within 20 s")
        if failure:
            self._thread = None
            raise RuntimeError(f"fake Binance failed to start: {failure[0]!r}") from failure[0]

    def stop(self) -> None:
        loop, runner, thread = self._loop, self._runner, self._thread
        if loop is None or thread is None:
            return
        if runner is not None:
            loop.call_soon_threadsafe(self.server.wake_sleepers)
            fut = asyncio.run_coroutine_threadsafe(runner.cleanup(), loop)
            fut.result(timeout=15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        self._thread = self._loop = self._runner = None

    def __enter__(self) -> FakeBinance:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers
    def control(self, name: str, payload: dict[str, Any] | None = None) -> Any:
        """Any ``/_control/<name>`` command, without HTTP (see `server` for the list)."""
        return self.server.control(name, payload)

    def client(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        **kwargs: Any,
    ) -> Client:
        """A python-binance `Client` aimed at this server (no call made)."""
        from binance.client import Client

        kwargs.setdefault("ping", False)
        client = Client(api_key or self.api_key, api_secret or self.api_secret, **kwargs)
        client.API_URL = self.url + "/api"
        client.MARGIN_API_URL = self.url + "/sapi"
        return client

    @property
    def ws_api_url(self) -> str:
        """The WebSocket API: ``ws://127.0.0.1:<port>/ws-api/v3`` (same port as REST)."""
        return self.url.replace("http://", "ws://", 1) + "/ws-api/v3"

    @property
    def stream_url(self) -> str:
        """The combined market streams: ``ws://127.0.0.1:<port>/stream`` (add
        ``?streams=btcusdt@bookTicker/btcusdt@kline_1m``); raw ones at ``/ws/<stream>``."""
        return self.url.replace("http://", "ws://", 1) + "/stream"

    @staticmethod
    def key_fingerprint(api_key: str) -> str | None:
        """How `requests()` names a key (``api_key_fp``)."""
        return key_fingerprint(api_key)

    # ------------------------------------------------------------------ faults
    def fault(
        self,
        kind: str,
        *,
        path: str | None = None,
        method: str | None = None,
        count: int | None = 1,
        **params: Any,
    ) -> None:
        """Inject a fault for the next `count` matching requests (None: until cleared).

        Kinds and their parameters: see `tests.fakes.binance.faults`.
        """
        self.control(
            "fault", {"kind": kind, "path": path, "method": method, "count": count, **params}
        )

    def clear_faults(self) -> None:
        """Remove every fault, REST and stream ones (a held `reorder` event goes out)."""
        self.control("clear_faults")

    def stream_fault(self, kind: str, stream: str = "any", count: Any = UNSET) -> dict:
        """A fault on the WebSocket streams: `kind` drop, silence, duplicate, reorder, lose,
        terminate or shutdown; `stream` "user" (WS API), "market" or "any"; `count` the
        firings/events it lasts (None: until `clear_faults`; not given: the kind's
        default, 1, or None for silence). See `tests.fakes.binance.streams`."""
        spec: dict[str, Any] = {"kind": kind, "stream": stream}
        if count is not UNSET:
            spec["count"] = count
        return dict(self.control("stream_fault", spec))

    def stream_stats(self) -> dict:
        """``connections`` {user, market: opened/closed/open}, ``refused``, ``events``
        {user, market: event type -> frames sent}, ``subscriptions`` {active, total},
        ``ws_api_requests`` (method -> n), ``pings``, ``pongs``, ``unknown_streams``,
        ``faults_fired``, ``faults`` (active)."""
        return dict(self.control("stream_stats"))

    def unban(self) -> None:
        """Lift rate-limit bans and back-offs (injected ``ban`` faults: `clear_faults`)."""
        self.control("unban")

    def reset(self) -> None:
        """Everything back to how the constructor set it (the clock keeps its time)."""
        self.control("reset")

    # ------------------------------------------------------------------ market
    def set_price(self, symbol: str, price: float) -> None:
        self.control("price", {"symbol": symbol, "price": price})

    def set_price_path(self, symbol: str, prices: list[float], *, loop: bool = False) -> None:
        """``prices[0]`` is current at once; each `step` moves one entry on."""
        self.control("price_path", {"symbol": symbol, "prices": prices, "loop": loop})

    def step(self, n: int = 1) -> None:
        """Advance every price path by `n` entries, matching open orders after each."""
        self.control("step", {"n": n})

    def auto_step(self, interval_ms: int | None) -> None:
        """Step the price paths every `interval_ms` of server time (None/0: stop)."""
        self.control("auto_step", {"interval_ms": interval_ms or 0})

    # ------------------------------------------------------------------ clock
    def advance_clock(self, seconds: float) -> None:
        """Move the manual clock forward (needs ``manual_clock=True``)."""
        self.control("advance_clock", {"seconds": seconds})

    def set_clock_skew(self, ms: float) -> None:
        """The server's clock reads `ms` later than real/manual time from now on."""
        self.control("clock", {"skew_ms": ms})

    def advance_server_time(self, seconds: float) -> None:
        """Move the time the server tells (REST ``serverTime``, timestamps, klines, the
        kline streams) `seconds` on, by adding to the skew: candles close as if that
        time had passed. (`advance_clock` moves the limits clock only.) Clients must
        resync their clock offset afterwards, as after any skew."""
        skew = float(self.control("time")["skew_ms"])
        self.control("clock", {"skew_ms": skew + seconds * 1000})

    def server_time_ms(self) -> int:
        return int(self.control("time")["serverTime"])

    def set_limits(self, **limits: int) -> None:
        """Change rate limits at runtime (``weight_limit=...``, see `LimitConfig`)."""
        self.control("limits", limits)

    # ------------------------------------------------------------------ keys
    def add_key(self, api_key: str, api_secret: str, restrictions: dict | None = None) -> None:
        """Accept another key; `restrictions` overrides apiRestrictions flags (and may
        give ``"ips": [...]`` to enforce ``ipRestrict``)."""
        self.control(
            "add_key", {"api_key": api_key, "api_secret": api_secret, "restrictions": restrictions}
        )

    def remove_key(self, api_key: str) -> None:
        self.control("remove_key", {"api_key": api_key})

    # ------------------------------------------------------------------ account
    def set_balances(self, balances: dict[str, float]) -> None:
        """Set free balances (locked amounts are left alone)."""
        self.control("set_balances", dict(balances))

    def deposit(self, asset: str, amount: float) -> None:
        """Credit `amount` free `asset`; ``balanceUpdate`` + ``outboundAccountPosition`` go
        out on the user data stream."""
        self.control("deposit", {"asset": asset, "amount": amount})

    def withdraw(self, asset: str, amount: float) -> None:
        """Debit `amount` free `asset` (ValueError past the free balance); a negative
        ``balanceUpdate`` goes out."""
        self.control("withdraw", {"asset": asset, "amount": amount})

    def set_symbol_status(self, symbol: str, status: str) -> None:
        """TRADING, HALT, BREAK, END_OF_DAY or CANCEL_ONLY: exchangeInfo shows it; new
        orders on a symbol not TRADING get -2010 "Market is closed." and nothing fills."""
        self.control("symbol_status", {"symbol": symbol, "status": status})

    def archive_orders(self, order_ids: list[int]) -> None:
        """GET order on these (closed) orders answers -2026 from now on."""
        self.control("archive_orders", {"order_ids": list(order_ids)})

    def place_foreign_order(self, symbol: str, side: str, qty: float, price: float) -> dict:
        """A LIMIT GTC order placed "by someone else" on this account (clientOrderId
        ``web_...``); raises ValueError if Binance would refuse it."""
        return dict(
            self.control(
                "foreign_order", {"symbol": symbol, "side": side, "qty": qty, "price": price}
            )
        )

    def orders(self) -> list[dict]:
        """Every order ever booked, in the shape of ``GET /api/v3/order``."""
        return list(self.control("orders"))

    def open_orders(self) -> list[dict]:
        return list(self.control("open_orders"))

    def trades(self) -> list[dict]:
        """Every fill, in the shape of ``GET /api/v3/myTrades``."""
        return list(self.control("trades"))

    def balances(self) -> dict[str, tuple[float, float]]:
        """asset -> (free, locked)."""
        return {a: (fl[0], fl[1]) for a, fl in self.control("balances").items()}

    # ------------------------------------------------------------------ observation
    def stats(self) -> dict:
        """``requests``, ``status_429``, ``status_418``, ``weight_used_1m``, ``orders_10s``,
        ``orders_1d``, ``requests_by_path``, ``requests_by_endpoint``, ``status_counts``,
        ``dropped``, ``bans``, ``faults_fired``."""
        return dict(self.control("stats"))

    def requests(self) -> list[dict]:
        """The request log: method, path, status (0 = no answer), code, api_key_fp, ts,
        weight, fault."""
        return list(self.control("requests"))
