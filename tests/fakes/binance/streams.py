"""The fake's WebSocket side: the WS API user data stream and the market streams.

Served on the REST server's aiohttp app and port (binance-spot-api-docs, commit a5e0bc3):

``GET /ws-api/v3`` (web-socket-api.md)
    JSON requests ``{"id", "method", "params"}`` in text frames, answers ``{"id", "status",
    "result" | "error": {"code", "msg"}, "rateLimits"}``. Connecting costs 2 weight.

    ===================================  ======  ===============================================
    method (``v3/`` prefix allowed)      weight  answer
    ===================================  ======  ===============================================
    ``ping``                             1       ``{}``
    ``time``                             1       ``{"serverTime"}``
    ``session.status``                   2       ``apiKey``/``authorizedSince`` null (no logon),
                                                 ``connectedSince``, ``serverTime``,
                                                 ``userDataStream``: a subscription is active
    ``userDataStream.subscribe.signature`` 2     ``{"subscriptionId": N}`` (0, 1, ... per
                                                 connection). Params ``apiKey``, ``timestamp``,
                                                 ``signature``, ``recvWindow``?; the signature is
                                                 HMAC-SHA256 hex over the params but
                                                 ``signature`` sorted by name, ``k=v`` joined by
                                                 ``&`` ("SIGNED request example (HMAC)"). Errors
                                                 as REST: unknown key / not allowed from this IP
                                                 / no reading right -2015 (401), bad signature
                                                 -1022, timestamp 1 s ahead or outside
                                                 recvWindow -1021, missing -1102, recvWindow >
                                                 60000 -1131, other params -1104; already
                                                 subscribed on this connection -2035
    ``userDataStream.subscribe``         2       -1002 (401): needs an Ed25519 ``session.logon``,
                                                 which the fake (HMAC only) has not had
    ``userDataStream.unsubscribe``       2       ``{}``; ``subscriptionId``? (none: all); each
                                                 ended subscription gets eventStreamTerminated;
                                                 an unknown id -2036
    anything else                        1       -1020 "This operation is not supported."
    ===================================  ======  ===============================================

    Events for a subscription: ``{"subscriptionId": N, "event": {...}}``
    (user-data-stream.md): ``executionReport`` for every order accept (x=NEW), trade (TRADE:
    ``t`` = the myTrades id, ``l``/``L``/``n``/``N``/``z``/``Z``/``m``), cancel (CANCELED:
    ``c`` = the cancel request's id, ``C`` = the order's), expiry (EXPIRED with ``eR``;
    EXPIRED_IN_MATCH with the STP fields ``v A B u U Cs pl pL pY``); after every change of
    the balances ``outboundAccountPosition`` (the changed assets, ``f``/``l`` strings, ``u`` =
    the account's update time); ``balanceUpdate`` for a control deposit/withdrawal. The
    fake's REST rejections book nothing, so there is no REJECTED report.

``GET /stream?streams=a/b`` (combined: ``{"stream", "data"}``) and ``GET /ws/<stream>`` (raw)
    (web-socket-streams.md). Streams (lower-case symbol): ``<symbol>@bookTicker`` (``u s b B a
    A``: best bid/ask of the fake's book, as ``GET /api/v3/depth`` shows it; sent once on
    subscribing, then whenever they change: every price change, liquidity taken) and
    ``<symbol>@kline_<interval>`` (every interval of ``GET /api/v3/klines``; the candle is that
    endpoint's row for its open time: sent at once, on every price change, every 1 s (``1s``) /
    2 s (others) of server time, and when server time passes the candle's end the closing update
    ``x=true`` (missed ones too, at most 100), then the next candle). Server time is the time
    REST tells (``/api/v3/time``, real time + skew): a skew (`FakeBinance.advance_server_time`,
    ``set_clock_skew``, control ``clock {"skew_ms"}``) moves candles on like REST klines; the
    manual limits clock (``advance_clock``) does not. Unknown streams are accepted and send
    nothing (as Binance; counted in `stream_stats` ``unknown_streams``). JSON ``SUBSCRIBE`` /
    ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` work too.

Both: a ping frame every ``ping_interval_s`` (20; pongs counted), closed when a ping stays
unanswered ``pong_timeout_s`` (60); closed (code 1000) once 24 h old (``max_lifetime_s``)
on the server's clocks: the limits clock (manual: `advance_clock`) or the told time,
whichever says older; at most ``connection_limit`` (300) new connections per IP per 5
minutes (limits clock), then HTTP 429 code -1003; a banned IP gets 418 and no connection.

Faults (`StreamHub.add_fault`, control ``stream_fault {"kind", "stream", "count"}``,
removed by ``clear_faults``); ``stream`` is ``user`` (WS API), ``market`` or ``any``;
``count`` null = until cleared, missing = the kind's default:

============  =======  ==========================================================================
kind          default  effect
============  =======  ==========================================================================
drop          1        abort every open matching connection at once (no close frame); with no
                       connection open, the next one opened. Count: firings
silence       null     nothing (no text frame: events, answers) is sent to matching connections,
                       which stay open and answer pings. Count: frames swallowed
duplicate     1        an event is sent twice. Count: events
reorder       1        an event is held and sent right after the next one (on clear_faults:
                       then). Count: events held
lose          1        the next trade's executionReport is never sent (the fill is booked; REST
                       shows it; outboundAccountPosition still comes). Count: reports lost
terminate     1        every subscription of the open user connections gets
                       ``eventStreamTerminated`` and ends (the connection stays). Count: firings
shutdown      1        ``serverShutdown`` (market: raw ``{"e","E"}``, combined stream
                       ``!serverShutdown``) then close 1001. Count: firings
============  =======  ==========================================================================
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tests.fakes.binance.limits import FIVE_MIN_MS, Limited, Window
from tests.fakes.binance.matching import KLINE_INTERVALS_MS, ZERO, BinanceError, fmt, mandatory

if TYPE_CHECKING:
    from tests.fakes.binance.server import FakeBinanceServer

STREAM_FAULT_KINDS: dict[str, int | None] = {
    "drop": 1,
    "silence": None,
    "duplicate": 1,
    "reorder": 1,
    "lose": 1,
    "terminate": 1,
    "shutdown": 1,
}
STREAM_KINDS = ("user", "market", "any")
MSG_BAD_KEY = "Invalid API-key, IP, or permissions for action."
SUBSCRIBE_PARAMS = frozenset({"apiKey", "timestamp", "signature", "recvWindow"})
WS_API_WEIGHTS = {
    "ping": 1,
    "time": 1,
    "session.status": 2,
    "userDataStream.subscribe": 2,
    "userDataStream.subscribe.signature": 2,
    "userDataStream.unsubscribe": 2,
}
MAX_MISSED_CLOSES = 100


@dataclass
class StreamConfig:
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    max_lifetime_s: float = 86_400.0
    connection_limit: int = 300  # new connections per IP per 5 minutes
    tick_s: float = 0.02  # how often timers (klines, lifetime, faults) are looked at


@dataclass
class StreamFault:
    kind: str
    stream: str = "any"
    count: int | None = 1  # None = until cleared
    hits: int = 0

    def matches(self, kind: str) -> bool:
        return self.stream in ("any", kind)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "stream": self.stream, "count": self.count, "hits": self.hits}


@dataclass
class Out:
    """One thing for a connection's writer: a text frame or a close."""

    what: str  # "event" | "answer" | "close"
    text: str = ""
    label: str = ""  # the event type, for the stats
    code: int = 1000


@dataclass
class KlineState:
    symbol: str
    interval: str
    iv_ms: int
    open_ms: int | None = None
    last_sent_ms: int = 0


@dataclass
class Conn:
    cid: int
    kind: str  # "user" | "market"
    ws: web.WebSocketResponse
    request: web.Request
    ip: str
    loop: asyncio.AbstractEventLoop
    opened_base: int
    opened_now: int
    queue: asyncio.Queue[Out] = field(default_factory=asyncio.Queue)
    subs: dict[int, str] = field(default_factory=dict)  # subscriptionId -> api key
    next_sub: int = 0
    streams: list[str] = field(default_factory=list)
    combined: bool = True
    klines: dict[str, KlineState] = field(default_factory=dict)
    held: Out | None = None  # the reorder fault's held event
    after: list[Out] = field(default_factory=list)  # frames due after the current answer
    closing: bool = False
    last_ping: float = 0.0  # monotonic
    last_pong: float = 0.0

    def post(self, out: Out) -> None:
        """Queue for the writer; callable from any thread (FIFO across threads)."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, out)
        except RuntimeError:  # the loop is gone: the server stopped
            pass

    def abort(self) -> None:
        """Cut the TCP connection (no close frame), from any thread."""
        self.closing = True

        def cut() -> None:
            transport = self.request.transport
            if transport is not None:
                transport.abort()
            self.queue.put_nowait(Out("close", code=1006))

        try:
            self.loop.call_soon_threadsafe(cut)
        except RuntimeError:
            pass

    def close(self, code: int = 1000) -> None:
        if not self.closing:
            self.closing = True
            self.post(Out("close", code=code))


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _param_text(value: Any) -> str:
    """A WS API param as it appears in the signature payload."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class StreamHub:
    """All WebSocket connections of one fake server; every state change under the
    server's lock (the writers only send)."""

    def __init__(self, server: FakeBinanceServer, config: StreamConfig) -> None:
        self.server = server
        self.config = config
        self.conns: dict[int, Conn] = {}
        self.faults: list[StreamFault] = []
        self._next_cid = 1
        self._update_id = 1
        self._conn_windows: dict[str, Window] = {}
        self._book: dict[str, tuple[str, str, str, str]] = {}
        self._marks: dict[str, tuple[int, Any]] = {}
        self._balances: dict[str, tuple[str, str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stale = True  # no connection watched the changes: re-take the baseline
        self.reset_stats()

    # ------------------------------------------------------------------ state
    def reset_stats(self) -> None:
        self.stats: dict[str, Any] = {
            "connections": {k: {"opened": 0, "closed": 0, "open": 0} for k in ("user", "market")},
            "refused": 0,
            "events": {"user": {}, "market": {}},
            "subscriptions": {"active": 0, "total": 0},
            "ws_api_requests": {},
            "pings": 0,
            "pongs": 0,
            "unknown_streams": 0,
            "faults_fired": {},
        }

    def on_reset(self) -> None:
        """The exchange was rebuilt: take its balances/book as the new baseline, no events."""
        self.faults.clear()
        self._snapshot()

    def _snapshot(self) -> None:
        self._stale = False
        self._balances = self._balance_map()
        for name, spec in self.server.exchange.symbols.items():
            self._book[name] = self._top(spec)
            self._marks[name] = (len(spec.history), spec.history[-1] if spec.history else None)

    def _balance_map(self) -> dict[str, tuple[str, str]]:
        ex = self.server.exchange
        return {a: (fmt(ex.free[a]), fmt(ex.locked.get(a, ZERO))) for a in ex.free}

    def _top(self, spec: Any) -> tuple[str, str, str, str]:
        """Best bid/ask (price, qty) as the depth endpoint shows the book."""
        depth = self.server.exchange.depth(spec, 1)
        bid = depth["bids"][0] if depth["bids"] else [fmt(ZERO), fmt(ZERO)]
        ask = depth["asks"][0] if depth["asks"] else [fmt(ZERO), fmt(ZERO)]
        return (bid[0], bid[1], ask[0], ask[1])

    # ------------------------------------------------------------------ faults
    def add_fault(self, spec: dict[str, Any]) -> StreamFault:
        kind = spec.get("kind")
        if kind not in STREAM_FAULT_KINDS:
            raise ValueError(
                f"unknown stream fault kind {kind!r}; one of {', '.join(STREAM_FAULT_KINDS)}"
            )
        stream = spec.get("stream") or "any"
        if stream not in STREAM_KINDS:
            raise ValueError("stream must be user, market or any")
        if kind in {"lose", "terminate"} and stream == "market":
            raise ValueError(f"{kind} is a user data stream fault (stream user or any)")
        count = spec["count"] if "count" in spec else STREAM_FAULT_KINDS[kind]
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer or null (until cleared)")
        fault = StreamFault(kind=kind, stream=stream, count=count)
        self.faults.append(fault)
        self._apply_connection_faults()
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()
        for conn in self.conns.values():
            if conn.held is not None:
                conn.post(conn.held)
                conn.held = None

    def _take(self, kind: str, stream_kind: str) -> StreamFault | None:
        """Use up one hit of the first `kind` fault matching this stream kind."""
        for f in self.faults:
            if f.kind == kind and f.matches(stream_kind):
                f.hits += 1
                fired = self.stats["faults_fired"]
                fired[kind] = fired.get(kind, 0) + 1
                if f.count is not None:
                    f.count -= 1
                    if f.count <= 0:
                        self.faults.remove(f)
                return f
        return None

    def _has(self, kind: str, stream_kind: str) -> bool:
        return any(f.kind == kind and f.matches(stream_kind) for f in self.faults)

    def _apply_connection_faults(self) -> None:
        """drop / terminate / shutdown hit the matching open connections now."""
        for kind in ("drop", "shutdown", "terminate"):
            for fault in [f for f in self.faults if f.kind == kind]:
                targets = [
                    c
                    for c in self.conns.values()
                    if not c.closing
                    and fault.matches(c.kind)
                    and (kind != "terminate" or (c.kind == "user" and c.subs))
                ]
                if not targets:
                    continue
                now = self.server.clock.now_ms()
                for conn in targets:
                    if kind == "drop":
                        conn.abort()
                    elif kind == "terminate":
                        self._terminate(conn, now)
                    else:
                        self._shutdown(conn, now)
                fault.hits += 1
                fired = self.stats["faults_fired"]
                fired[kind] = fired.get(kind, 0) + 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)

    def _terminate(self, conn: Conn, now: int) -> None:
        for sid in sorted(conn.subs):
            event = {"e": "eventStreamTerminated", "E": now}
            conn.post(Out("event", _dumps({"subscriptionId": sid, "event": event}), event["e"]))
        self.stats["subscriptions"]["active"] -= len(conn.subs)
        conn.subs.clear()

    def _shutdown(self, conn: Conn, now: int) -> None:
        event = {"e": "serverShutdown", "E": now}
        if conn.kind == "user":
            body: Any = {"event": event}
        elif conn.combined:
            body = {"stream": "!serverShutdown", "data": event}
        else:
            body = event
        conn.post(Out("event", _dumps(body), "serverShutdown"))
        conn.close(1001)

    # ------------------------------------------------------------------ events
    def flush(self) -> None:
        """Publish what the last operation changed (call under the server's lock)."""
        ex = self.server.exchange
        now = self.server.clock.now_ms()
        reports = ex.take_events()
        if not self.conns:  # nobody listens: skip the comparing (cheap REST requests)
            self._stale = True
            return
        if self._stale:
            self._snapshot()
        for report in reports:
            if report["x"] == "TRADE" and self._take("lose", "user"):
                continue
            self.publish_user(report)
        balances = self._balance_map()
        changed = [
            {"a": a, "f": fl[0], "l": fl[1]}
            for a, fl in sorted(balances.items())
            if self._balances.get(a) != fl
        ]
        self._balances = balances
        if changed:
            self.publish_user(
                {"e": "outboundAccountPosition", "E": now, "u": ex.update_time, "B": changed}
            )
        for name, spec in ex.symbols.items():
            top = self._top(spec)
            if top != self._book.get(name):
                self._book[name] = top
                self._publish_book(name, top)
            mark = (len(spec.history), spec.history[-1] if spec.history else None)
            if mark != self._marks.get(name):
                self._marks[name] = mark
                self._price_moved(name, now)

    def publish_user(self, event: dict[str, Any]) -> None:
        for conn in self.conns.values():
            if conn.kind != "user" or conn.closing:
                continue
            for sid in sorted(conn.subs):
                text = _dumps({"subscriptionId": sid, "event": event})
                conn.post(Out("event", text, str(event["e"])))

    def _market_send(self, conn: Conn, stream: str, data: dict[str, Any], label: str) -> None:
        body = {"stream": stream, "data": data} if conn.combined else data
        conn.post(Out("event", _dumps(body), label))

    def _publish_book(self, symbol: str, top: tuple[str, str, str, str]) -> None:
        data = {
            "u": self._update_id,
            "s": symbol,
            "b": top[0],
            "B": top[1],
            "a": top[2],
            "A": top[3],
        }
        self._update_id += 1
        name = symbol.lower() + "@bookTicker"
        for conn in self.conns.values():
            if conn.kind == "market" and not conn.closing and name in conn.streams:
                self._market_send(conn, name, data, "bookTicker")

    def _price_moved(self, symbol: str, now: int) -> None:
        for conn in self.conns.values():
            if conn.kind != "market" or conn.closing:
                continue
            for name, st in conn.klines.items():
                if st.symbol == symbol:
                    self._kline_tick(conn, name, st, now, force=True)

    def _kline(self, st: KlineState, open_ms: int, now: int, closed: bool) -> dict[str, Any]:
        ex = self.server.exchange
        spec = ex.symbols[st.symbol]
        row = ex.klines(spec, st.interval, open_ms, open_ms, 1, now)[0]
        ids = [f.trade_id for f in ex.fills if f.symbol == st.symbol and row[0] <= f.time <= row[6]]
        return {
            "e": "kline",
            "E": now,
            "s": st.symbol,
            "k": {
                "t": row[0],
                "T": row[6],
                "s": st.symbol,
                "i": st.interval,
                "f": ids[0] if ids else -1,
                "L": ids[-1] if ids else -1,
                "o": row[1],
                "c": row[4],
                "h": row[2],
                "l": row[3],
                "v": row[5],
                "n": row[8],
                "x": closed,
                "q": row[7],
                "V": row[9],
                "Q": row[10],
                "B": "0",
            },
        }

    def _kline_tick(
        self, conn: Conn, name: str, st: KlineState, now: int, *, force: bool = False
    ) -> None:
        cur = now // st.iv_ms * st.iv_ms
        if st.open_ms is not None and cur > st.open_ms:
            first = max(st.open_ms, cur - MAX_MISSED_CLOSES * st.iv_ms)
            for t in range(first, cur, st.iv_ms):
                self._market_send(conn, name, self._kline(st, t, now, True), "kline")
            st.open_ms = None
        speed = 1000 if st.interval == "1s" else 2000
        if st.open_ms is None or force or now - st.last_sent_ms >= speed:
            st.open_ms = cur
            st.last_sent_ms = now
            self._market_send(conn, name, self._kline(st, cur, now, False), "kline")

    # ------------------------------------------------------------------ timers
    async def run(self) -> None:
        """Klines on server time, the 24 h lifetime, connection faults (on the loop)."""
        while True:
            await asyncio.sleep(self.config.tick_s)
            with self.server.lock:
                self.tick()

    def tick(self) -> None:
        srv = self.server
        srv._catch_up_auto_steps()
        self.flush()
        now, base = srv.clock.now_ms(), srv.clock.base_ms()
        life_ms = self.config.max_lifetime_s * 1000
        for conn in list(self.conns.values()):
            if conn.closing:
                continue
            if max(base - conn.opened_base, now - conn.opened_now) >= life_ms:
                conn.close(1000)
                continue
            for name, st in conn.klines.items():
                self._kline_tick(conn, name, st, now)
        self._apply_connection_faults()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        with self.server.lock:
            conns = list(self.conns.values())
        for conn in conns:
            conn.closing = True
            await conn.ws.close(code=1001, message=b"server stopping")

    # ------------------------------------------------------------------ connections
    def _admit(self, request: web.Request, kind: str) -> web.Response | None:
        """Connection limit and bans (HTTP answers before the upgrade); WS API weight 2."""
        ip = request.remote or "unknown"
        srv = self.server
        with srv.lock:
            base = srv.clock.base_ms()
            try:
                srv.limiter.check_ban(ip, base)
                window = self._conn_windows.setdefault(ip, Window(FIVE_MIN_MS))
                if window.add(base, 1) > self.config.connection_limit:
                    self.stats["refused"] += 1
                    raise Limited(
                        429,
                        -1003,
                        "Too many new connections; current limit is "
                        f"{self.config.connection_limit} connections per 5 MINUTE.",
                        window.seconds_left(base),
                    )
                if kind == "user":
                    srv.limiter.charge(ip, base, 2)
            except Limited as exc:
                return web.json_response(
                    {"code": exc.code, "msg": exc.msg},
                    status=exc.status,
                    headers={"Retry-After": str(exc.retry_after)},
                )
        return None

    async def _serve(self, request: web.Request, kind: str, streams: list[str], combined: bool):
        refused = self._admit(request, kind)
        if refused is not None:
            return refused
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        srv = self.server
        with srv.lock:
            conn = Conn(
                cid=self._next_cid,
                kind=kind,
                ws=ws,
                request=request,
                ip=request.remote or "unknown",
                loop=asyncio.get_running_loop(),
                opened_base=srv.clock.base_ms(),
                opened_now=srv.clock.now_ms(),
                combined=combined,
            )
            conn.last_pong = conn.last_ping = time.monotonic()
            if self._stale:
                self._snapshot()
            self._next_cid += 1
            self.conns[conn.cid] = conn
            st = self.stats["connections"][kind]
            st["opened"] += 1
            st["open"] += 1
            if kind == "market":
                self._add_streams(conn, streams)
            self._apply_connection_faults()
        writer = asyncio.get_running_loop().create_task(self._writer(conn))
        pinger = asyncio.get_running_loop().create_task(self._pinger(conn))
        try:
            await self._reader(conn)
        finally:
            pinger.cancel()
            with srv.lock:
                conn.closing = True
                self.conns.pop(conn.cid, None)
                st = self.stats["connections"][kind]
                st["closed"] += 1
                st["open"] -= 1
                self.stats["subscriptions"]["active"] -= len(conn.subs)
                conn.subs.clear()
            conn.queue.put_nowait(Out("close", code=1000))
            try:
                await asyncio.wait_for(writer, timeout=2)
            except (TimeoutError, asyncio.CancelledError):
                writer.cancel()
            if not ws.closed:
                await ws.close()
        return ws

    async def ws_api(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "user", [], True)

    async def combined(self, request: web.Request) -> web.StreamResponse:
        raw = request.query.get("streams", "")
        return await self._serve(request, "market", [s for s in raw.split("/") if s], True)

    async def raw(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "market", [request.match_info["stream"]], False)

    def _add_streams(self, conn: Conn, names: list[str]) -> None:
        now = self.server.clock.now_ms()
        for name in names:
            if name in conn.streams:
                continue
            conn.streams.append(name)
            sym, _, what = name.partition("@")
            symbol = sym.upper()
            known = sym == sym.lower() and symbol in self.server.exchange.symbols
            if known and what == "bookTicker":
                top = self._book.get(symbol)
                if top is not None:  # the current top at once, then on change
                    data = {"u": self._update_id, "s": symbol, "b": top[0], "B": top[1]}
                    data.update({"a": top[2], "A": top[3]})
                    self._update_id += 1
                    self._market_send(conn, name, data, "bookTicker")
            elif known and what.startswith("kline_") and what[6:] in KLINE_INTERVALS_MS:
                st = KlineState(symbol, what[6:], KLINE_INTERVALS_MS[what[6:]])
                conn.klines[name] = st
                self._kline_tick(conn, name, st, now)
            else:
                self.stats["unknown_streams"] += 1

    async def _writer(self, conn: Conn) -> None:
        ws = conn.ws
        while True:
            out = await conn.queue.get()
            if out.what == "close":
                if not ws.closed and out.code != 1006:
                    await ws.close(code=out.code)
                return
            with self.server.lock:
                texts = self._fault_frames(conn, out)
            for text, label in texts:
                if ws.closed:
                    return
                try:
                    await ws.send_str(text)
                except (ConnectionError, RuntimeError):
                    return
                if label:
                    with self.server.lock:
                        counts = self.stats["events"][conn.kind]
                        counts[label] = counts.get(label, 0) + 1

    def _fault_frames(self, conn: Conn, out: Out) -> list[tuple[str, str]]:
        """What the faults make of one outgoing frame (under the lock)."""
        if self._has("silence", conn.kind):
            self._take("silence", conn.kind)
            return []
        frames = [(out.text, out.label if out.what == "event" else "")]
        if out.what != "event":
            return frames
        if conn.held is None and self._has("reorder", conn.kind):
            self._take("reorder", conn.kind)
            conn.held = out
            return []
        if self._has("duplicate", conn.kind):
            self._take("duplicate", conn.kind)
            frames = frames * 2
        if conn.held is not None:
            frames.append((conn.held.text, conn.held.label))
            conn.held = None
        return frames

    async def _pinger(self, conn: Conn) -> None:
        interval = self.config.ping_interval_s
        while not conn.ws.closed:
            await asyncio.sleep(interval)
            if conn.last_pong < conn.last_ping and (
                time.monotonic() - conn.last_ping >= self.config.pong_timeout_s
            ):
                with self.server.lock:
                    conn.close(1008)
                return
            try:
                await conn.ws.ping(b"")
            except (ConnectionError, RuntimeError):
                return
            with self.server.lock:
                if conn.last_pong >= conn.last_ping:
                    conn.last_ping = time.monotonic()
                self.stats["pings"] += 1

    async def _reader(self, conn: Conn) -> None:
        ws = conn.ws
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.TEXT:
                with self.server.lock:
                    if conn.kind == "user":
                        self._ws_api_request(conn, msg.data)
                    else:
                        self._market_request(conn, msg.data)
            elif msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG:
                with self.server.lock:
                    conn.last_pong = time.monotonic()
                    self.stats["pongs"] += 1
            elif msg.type == WSMsgType.BINARY:
                continue
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                return

    # ------------------------------------------------------------------ market requests
    def _market_request(self, conn: Conn, text: str) -> None:
        """web-socket-streams.md "Live Subscribing/Unsubscribing to streams"."""
        try:
            req = json.loads(text)
            method, rid = req["method"], req.get("id")
            params = req.get("params") or []
        except (ValueError, KeyError, TypeError):
            conn.post(Out("answer", _dumps({"code": 0, "msg": "Invalid request"})))
            return
        if method == "SUBSCRIBE":
            self._add_streams(conn, [str(p) for p in params])
            result: Any = None
        elif method == "UNSUBSCRIBE":
            for name in params:
                if name in conn.streams:
                    conn.streams.remove(name)
                conn.klines.pop(name, None)
            result = None
        elif method == "LIST_SUBSCRIPTIONS":
            result = list(conn.streams)
        else:
            conn.post(Out("answer", _dumps({"code": 1, "msg": "Invalid request", "id": rid})))
            return
        conn.post(Out("answer", _dumps({"result": result, "id": rid})))

    # ------------------------------------------------------------------ WS API requests
    def _ws_api_request(self, conn: Conn, text: str) -> None:
        srv = self.server
        rid: Any = None
        base = srv.clock.base_ms()
        weight = 1
        try:
            try:
                req = json.loads(text)
                if not isinstance(req, dict):
                    raise TypeError("not an object")
                rid = req.get("id")
                method = str(req.get("method") or "")
                params = req.get("params") or {}
                if not isinstance(params, dict):
                    raise TypeError("params is not an object")
            except (ValueError, TypeError) as exc:
                raise BinanceError(400, -1102, "Malformed request.") from exc
            if method.startswith("v3/"):
                method = method[3:]
            counts = self.stats["ws_api_requests"]
            counts[method] = counts.get(method, 0) + 1
            weight = WS_API_WEIGHTS.get(method, 1)
            srv.limiter.check_ban(conn.ip, base)
            srv.limiter.charge(conn.ip, base, weight)
            result = self._ws_api_method(conn, method, params)
            answer: dict[str, Any] = {"id": rid, "status": 200, "result": result}
        except Limited as exc:
            until = srv.clock.now_ms() + exc.retry_after * 1000
            answer = {
                "id": rid,
                "status": exc.status,
                "error": {
                    "code": exc.code,
                    "msg": exc.msg,
                    "data": {"serverTime": srv.clock.now_ms(), "retryAfter": until},
                },
            }
        except BinanceError as exc:
            answer = {"id": rid, "status": exc.status, "error": exc.body()}
        answer["rateLimits"] = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": srv.limits.weight_limit,
                "count": srv.limiter.weight_used(conn.ip, base),
            }
        ]
        conn.post(Out("answer", _dumps(answer)))
        for out in conn.after:
            conn.post(out)
        conn.after.clear()
        if answer.get("status") == 200 and self._has("terminate", "user") and conn.subs:
            self._apply_connection_faults()

    def _ws_api_method(self, conn: Conn, method: str, params: dict[str, Any]) -> Any:
        now = self.server.clock.now_ms()
        if method in {"ping", "time", "session.status", "userDataStream.subscribe"}:
            if params:
                raise BinanceError(
                    400,
                    -1104,
                    "Not all sent parameters were read; read '0' parameter(s) but was sent "
                    f"'{len(params)}'.",
                )
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": now}
        if method == "session.status":
            return {
                "apiKey": None,
                "authorizedSince": None,
                "connectedSince": conn.opened_now,
                "returnRateLimits": True,
                "serverTime": now,
                "userDataStream": bool(conn.subs),
            }
        if method == "userDataStream.subscribe":
            # web-socket-api.md: needs an Ed25519 session.logon; this session has none
            raise BinanceError(401, -1002, "You are not authorized to execute this request.")
        if method == "userDataStream.subscribe.signature":
            return self._subscribe_signature(conn, params, now)
        if method == "userDataStream.unsubscribe":
            return self._unsubscribe(conn, params, now)
        raise BinanceError(400, -1020, "This operation is not supported.")

    def _subscribe_signature(self, conn: Conn, params: dict[str, Any], now: int) -> Any:
        srv = self.server
        read = [k for k in params if k in SUBSCRIBE_PARAMS]
        if len(read) != len(params):
            raise BinanceError(
                400,
                -1104,
                f"Not all sent parameters were read; read '{len(read)}' parameter(s) but was "
                f"sent '{len(params)}'.",
            )
        api_key = params.get("apiKey")
        if not api_key:
            raise mandatory("apiKey")
        key = srv.keys.get(str(api_key))
        if key is None:
            raise BinanceError(401, -2015, MSG_BAD_KEY)
        flags = key.restrictions
        ips = flags.get("ips")
        if flags.get("ipRestrict") and ips and conn.ip not in ips:
            raise BinanceError(401, -2015, MSG_BAD_KEY)
        if not flags.get("enableReading", True):
            raise BinanceError(401, -2015, MSG_BAD_KEY)
        ts_raw = params.get("timestamp")
        if ts_raw is None or ts_raw == "":
            raise mandatory("timestamp")
        try:
            ts = int(ts_raw)
            recv = float(params.get("recvWindow", 5000))
        except (TypeError, ValueError) as exc:
            raise BinanceError(400, -1100, "Illegal characters found in a parameter.") from exc
        if recv > 60_000 or recv <= 0:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000")
        sig = params.get("signature")
        if not sig:
            raise mandatory("signature")
        payload = "&".join(
            f"{k}={_param_text(params[k])}" for k in sorted(params) if k != "signature"
        )
        expected = hmac.new(key.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(sig).lower()):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        if ts >= now + 1000:
            raise BinanceError(
                400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now - ts > recv:
            raise BinanceError(
                400, -1021, "Timestamp for this request is outside of the recvWindow."
            )
        if conn.subs:  # the fake has one account: one subscription per connection
            raise BinanceError(400, -2035, "User Data Stream subscription already active.")
        sid = conn.next_sub
        conn.next_sub += 1
        conn.subs[sid] = key.key
        self.stats["subscriptions"]["active"] += 1
        self.stats["subscriptions"]["total"] += 1
        return {"subscriptionId": sid}

    def _unsubscribe(self, conn: Conn, params: dict[str, Any], now: int) -> Any:
        extra = [k for k in params if k != "subscriptionId"]
        if extra:
            raise BinanceError(
                400,
                -1104,
                f"Not all sent parameters were read; read '{len(params) - len(extra)}' "
                f"parameter(s) but was sent '{len(params)}'.",
            )
        if "subscriptionId" in params:
            try:
                sid = int(params["subscriptionId"])
            except (TypeError, ValueError) as exc:
                raise BinanceError(400, -1100, "Illegal characters found in a parameter.") from exc
            if sid not in conn.subs:
                raise BinanceError(400, -2036, "User Data Stream subscription not active.")
            ended = [sid]
        else:
            ended = sorted(conn.subs)
        for sid in ended:
            del conn.subs[sid]
            self.stats["subscriptions"]["active"] -= 1
            # user-data-stream.md: an unsubscribed subscription gets eventStreamTerminated;
            # queued after this request's answer
            event = {"e": "eventStreamTerminated", "E": now}
            text = _dumps({"subscriptionId": sid, "event": event})
            conn.after.append(Out("event", text, event["e"]))
        return {}

    def stats_json(self) -> dict[str, Any]:
        out = json.loads(json.dumps(self.stats))
        out["faults"] = [f.as_json() for f in self.faults]
        return out
