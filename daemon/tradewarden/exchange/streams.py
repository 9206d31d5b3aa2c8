"""The daemon's Binance streams: the user data stream (WebSocket API) and the market streams.

Followed: binance-spot-api-docs commit a5e0bc3 (CHANGELOG "Last Updated: 2026-07-17"):
web-socket-api.md ("User Data Stream requests", "SIGNED request example (HMAC)",
``serverShutdown``), user-data-stream.md (event formats) and web-socket-streams.md
(combined streams, ``<symbol>@bookTicker``, ``<symbol>@kline_<interval>``).

Two daemon threads, one per stream (``tw-stream-user``, ``tw-stream-market``), each with a
``websockets.sync.client`` connection; the library answers the server's pings (every 20 s)
and pings the server itself, so a dead connection is noticed within its ping timeout.
Everything a thread receives goes, parsed, into one `Inbox` (thread-safe FIFO; ``wake`` is
called after every put); the runtime drains it on its own thread. The inbox is bounded:
prices and open klines coalesce per symbol, and an event it refuses (full: the runtime is
not draining) makes its stream reconnect, so that the runtime checks over REST (see there).

User data stream: spot has no listenKey any more. With an HMAC key the subscription is
``userDataStream.subscribe.signature`` on the WebSocket API (apiKey, timestamp from the
broker's server clock, recvWindow from the settings, signature = HMAC-SHA256 hex of the
params sorted by name, joined ``k=v&``; `ExchangeClient.ws_signed` signs, reading the key
from the secret provider per subscription and keeping nothing). The key that subscribes is
the broker's READ key when it has one (``broker.reader is not broker.client``), else the
trade key: a USER_STREAM subscription needs no trading right, so with two keys this thread
never touches the order-signing key and the trade key stays the only key that signs orders.
A refused subscription (-2015 key/IP/permissions, -2014 key format, -1022 signature, -1021
timestamp; the latter re-syncs the server clock first) is named in ``health.last_error``
(code and meaning, never a key) and retried after the back-off. Only events of our own
``subscriptionId`` (or of none: the field is optional, and the connection has only ours)
are used: ``executionReport`` -> `OrderEvent` (the trade, for execution
type TRADE, shaped like a GET myTrades row so ``mapping.fill_from_trade`` books it under the
same trade id as polling would), ``outboundAccountPosition`` / ``balanceUpdate`` ->
`BalanceEvent`; ``eventStreamTerminated`` and ``serverShutdown`` -> reconnect. Events are
passed on as they come (a duplicate too): the runtime books fills idempotently per trade id
and reconciles over REST after every (re)connect, which also books what was lost meanwhile.

Market streams: one combined connection, ``<market>?streams=<sym>@bookTicker/<sym>@kline_<i>``
for every symbol (lower-case). bookTicker -> `PriceEvent` (mid of best bid and ask; a side
that is not a positive finite number is skipped), kline -> `CandleEvent` (``closed`` = the
kline's ``x``). No message for ``stale_after_s`` -> the connection is closed and opened
again (``health.stale`` counts it, ``health.last_error`` says so).

Reconnects (close, the 24 h limit, the events above, a stale market stream, any error):
none while the process rate limiter is paused (a 418 ban or 429 is the IP's, streams
included; a WebSocket API 418/429 pauses it like a REST one); capped exponential back-off
with jitter (`backoff_delay`, at most ``reconnect_max_s``, at
least 0.1 s: never a tight loop), reset after a connection that lived more than 60 s. A
stream emits ``StreamEvent("connected")`` after each successful (re)subscribe / open and
``StreamEvent("disconnected")`` when that connection is lost (always in pairs). Malformed
and unknown messages are counted (``health.malformed``), logged by kind without payload,
and dropped; nothing a server sends ends a thread.

`StreamHealth` is written by its stream's own thread only; readers (`Streams.health`) get a
copy, a snapshot that may be a moment old. The stream URLs follow the REST base URL
(`stream_urls`); there is no setting for them.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection, connect

from tradewarden.core.endpoints import EndpointError, parse_endpoint
from tradewarden.core.models import Order, Tick
from tradewarden.exchange.gateway import BinanceBroker
from tradewarden.exchange.mapping import order_from_report, trade_from_report
from tradewarden.secrets.errors import SecretError
from tradewarden.trading.broker import BrokerError

log = logging.getLogger(__name__)
# the websockets library logs frames at DEBUG; a subscription frame carries the API key and
# a signature, so our connections log through this logger, never below INFO
_WIRE_LOG = logging.getLogger(f"{__name__}.wire")
_WIRE_LOG.setLevel(logging.INFO)

StreamKind = Literal["user", "market"]

# --- what the streams deliver -----------------------------------------------------------------


@dataclass(frozen=True)
class OrderEvent:
    """One ``executionReport``: the order as the exchange sees it now and, for execution
    type TRADE, the trade (a GET myTrades row's keys)."""

    order: Order
    trade: dict[str, Any] | None
    execution_type: str
    event_ms: int
    received: float  # time.monotonic() at receipt


@dataclass(frozen=True)
class BalanceEvent:
    """``outboundAccountPosition``: asset -> (free, locked) for the assets that changed;
    ``balanceUpdate`` (deposit, withdrawal, transfer): ``delta`` = (asset, change)."""

    balances: dict[str, tuple[float, float]]
    delta: tuple[str, float] | None
    event_ms: int
    received: float


@dataclass(frozen=True)
class PriceEvent:
    symbol: str
    bid: float
    ask: float
    price: float  # mid
    received: float


@dataclass(frozen=True)
class CandleEvent:
    tick: Tick  # ts = the kline's open time in s
    open_ms: int
    close_ms: int
    closed: bool
    received: float


@dataclass(frozen=True)
class StreamEvent:
    kind: StreamKind
    what: Literal["connected", "disconnected"]
    reason: str
    received: float


StreamMessage = OrderEvent | BalanceEvent | PriceEvent | CandleEvent | StreamEvent


INBOX_MAX_PENDING = 10_000  # messages that are never coalesced (see `Inbox`)


def _stream_of(msg: StreamMessage) -> StreamKind:
    if isinstance(msg, StreamEvent):
        return msg.kind
    # everything not market data is an account event (spot's and the futures stream's)
    return "market" if isinstance(msg, PriceEvent | CandleEvent) else "user"


class Inbox:
    """Thread-safe FIFO from the stream threads to the runtime; ``wake()`` after every put.

    Bounded, and never losing anything unnoticed while the runtime does not drain (a REST
    call hanging up to its timeout, a slow disk):

    - a `PriceEvent` replaces the one of its symbol still waiting (only the latest price
      matters), and so does an update of a kline not closed yet (the runtime decides on
      closed klines only): these take one slot per symbol and are never refused;
    - `StreamEvent` (connected / disconnected) is always taken;
    - everything else (order and balance events, closed klines) counts against
      ``max_pending``. When that many wait, `put` refuses the message and returns False
      and ``overflows[stream]`` counts it: the stream thread then drops its connection
      (`_Stream` raises a reconnect), so the runtime falls back to polling and, on the
      reconnect, reconciles over REST (user: fills and balances) or back-fills klines
      (market), which finds what was refused.
    """

    def __init__(
        self, wake: Callable[[], None] | None = None, max_pending: int = INBOX_MAX_PENDING
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._wake = wake
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._items: list[StreamMessage] = []
        self._latest: dict[tuple[str, str], int] = {}  # (what, symbol) -> index in _items
        self._pending = 0  # items that count against max_pending
        self.overflows: dict[StreamKind, int] = {"user": 0, "market": 0}

    def put(self, msg: StreamMessage) -> bool:
        """Queue `msg` (or let it replace its symbol's waiting price / open kline); False
        when it was refused because the inbox is full (counted in ``overflows``)."""
        key: tuple[str, str] | None = None
        if isinstance(msg, PriceEvent):
            key = ("price", msg.symbol)
        elif isinstance(msg, CandleEvent) and not msg.closed:
            key = ("open-kline", msg.tick.symbol)
        with self._lock:
            if key is not None:
                at = self._latest.get(key)
                if at is None:
                    self._latest[key] = len(self._items)
                    self._items.append(msg)
                else:
                    self._items[at] = msg
            elif isinstance(msg, StreamEvent):
                self._items.append(msg)
            elif self._pending >= self.max_pending:
                self.overflows[_stream_of(msg)] += 1
                return False
            else:
                self._pending += 1
                self._items.append(msg)
        if self._wake is not None:
            try:
                self._wake()
            except Exception:  # noqa: BLE001 - a stream thread must not die of its reader
                log.warning("stream inbox: the wake callback failed", exc_info=True)
        return True

    def drain(self) -> list[StreamMessage]:
        """Everything put so far, oldest first; the inbox is empty afterwards."""
        with self._lock:
            items = self._items
            self._items = []
            self._latest.clear()
            self._pending = 0
        return items


@dataclass
class StreamHealth:
    """One per stream, written by that stream's thread only (`Streams.health` copies it)."""

    kind: StreamKind
    connected: bool = False
    # time.monotonic() of the last message of any kind. A quiet user stream is normal (no
    # orders, no events): its liveness is the WebSocket ping/pong, not this age
    last_message: float | None = None
    connects: int = 0
    disconnects: int = 0
    last_error: str | None = None  # the most recent error (kept after a reconnect)
    malformed: int = 0  # messages dropped: unreadable or of an unknown kind
    stale: int = 0  # reconnects because no message came within stale_after_s

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the last message (monotonic), None if none came yet."""
        if self.last_message is None:
            return None
        return (time.monotonic() if now is None else now) - self.last_message

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe; no secrets (nothing here ever holds one)."""
        age = self.age()
        return {
            "kind": self.kind,
            "connected": self.connected,
            "last_message_age_s": None if age is None else round(age, 3),
            "connects": self.connects,
            "disconnects": self.disconnects,
            "last_error": self.last_error,
            "malformed": self.malformed,
            "stale": self.stale,
        }


# --- URLs -------------------------------------------------------------------------------------

_LIVE_URLS = {
    "api.binance.com": (
        "wss://ws-api.binance.com:443/ws-api/v3",
        "wss://stream.binance.com:443/stream",
    ),
}
_TESTNET_URLS = (
    "wss://ws-api.testnet.binance.vision/ws-api/v3",
    "wss://stream.testnet.binance.vision/stream",
)


def stream_urls(base_url: str) -> tuple[str, str]:
    """(WebSocket API URL, combined market stream URL) for a REST base URL: Binance live and
    the spot testnet get their published stream hosts (port 443 only), a loopback test
    exchange the same host and port (``ws://`` for ``http://``). The URL is parsed as the
    settings parse it (`parse_endpoint`); a refused URL, or a host whose stream endpoints
    are not known, raises `EndpointError`."""
    ep = parse_endpoint(base_url)
    if ep.kind == "loopback":
        scheme = "wss" if ep.scheme == "https" else "ws"
        host = f"[{ep.host}]" if ":" in ep.host else ep.host
        port = f":{ep.port}" if ep.port is not None else ""
        root = f"{scheme}://{host}{port}"
        return f"{root}/ws-api/v3", f"{root}/stream"
    if ep.kind == "testnet":
        return _TESTNET_URLS
    urls = _LIVE_URLS.get(ep.host)
    if urls is None:
        raise EndpointError(f"no Binance stream endpoints are known for {ep.host}")
    return urls


# --- parsing ----------------------------------------------------------------------------------

_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")
KLINE_INTERVALS = frozenset(
    {"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d"}
    | {"1w", "1M"}
)
# user data events we know and do not use: order lists (we place none), external locks
# (the following outboundAccountPosition carries the balance)
_IGNORED_USER_EVENTS = frozenset({"listStatus", "externalLockUpdate"})


def _num(value: Any) -> float:
    """A finite number from a Binance decimal string (or number); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError("not a finite number")
    return x


def _ms(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("a time in ms must be an integer")
    return value


def parse_user_event(event: Mapping[str, Any], received: float) -> OrderEvent | BalanceEvent | None:
    """One user data stream event (the ``event`` object) as what the runtime uses; None for
    a kind we know and do not use. Raises KeyError/TypeError/ValueError/ArithmeticError for
    a malformed event and ValueError for an unknown kind."""
    kind = event["e"]
    if kind == "executionReport":
        return OrderEvent(
            order=order_from_report(event),
            trade=trade_from_report(event),
            execution_type=str(event["x"]),
            event_ms=_ms(event["E"]),
            received=received,
        )
    if kind == "outboundAccountPosition":
        balances: dict[str, tuple[float, float]] = {}
        for row in event["B"]:
            balances[str(row["a"])] = (_num(row["f"]), _num(row["l"]))
        return BalanceEvent(balances, None, _ms(event["E"]), received)
    if kind == "balanceUpdate":
        return BalanceEvent({}, (str(event["a"]), _num(event["d"])), _ms(event["E"]), received)
    if kind in _IGNORED_USER_EVENTS:
        return None
    raise ValueError("unknown user data event")


def parse_market_message(
    msg: Mapping[str, Any], received: float
) -> PriceEvent | CandleEvent | None:
    """One combined-stream message ``{"stream", "data"}``; None for a book ticker with a side
    that is not a positive finite price, or a crossed book (nothing to mark with). A payload
    whose symbol is not the one its stream is named for is malformed. Raises like
    `parse_user_event` for a malformed message or an unknown stream."""
    stream = str(msg["stream"])
    data = msg["data"]
    # the symbol the stream is named for: a payload of another symbol is never used (one
    # symbol's prices would mark another's positions)
    named = stream.partition("@")[0].upper()
    if stream.endswith("@bookTicker"):
        if str(data["s"]) != named:
            raise ValueError("a book ticker of another symbol than its stream's")
        bid, ask = _num(data["b"]), _num(data["a"])
        if bid <= 0 or ask <= 0 or bid > ask:
            return None  # a crossed book has no mid to mark with
        return PriceEvent(named, bid, ask, (bid + ask) / 2.0, received)
    if data.get("e") == "kline":
        k = data["k"]
        if str(k.get("s") or data["s"]) != named or str(data.get("s", named)) != named:
            raise ValueError("a kline of another symbol than its stream's")
        closed = k["x"]
        if not isinstance(closed, bool):
            raise ValueError("kline x is not a boolean")
        open_ms, close_ms = _ms(k["t"]), _ms(k["T"])
        prices = [_num(k[f]) for f in ("o", "h", "l", "c")]
        volume = _num(k["v"])
        if min(prices) <= 0 or volume < 0:
            raise ValueError("kline with a non-positive price or negative volume")
        o, h, lo, c = prices
        # the close (what the strategies decide on) within low..high; the open is not
        # checked (the docs' own example kline has its open below its low)
        if not lo <= c <= h:
            raise ValueError("kline close outside its low..high")
        tick = Tick(open_ms / 1000.0, str(k.get("s") or data["s"]), o, h, lo, c, volume)
        return CandleEvent(tick, open_ms, close_ms, closed, received)
    raise ValueError("unknown market stream")


# --- back-off ---------------------------------------------------------------------------------

BACKOFF_BASE_S = 0.5
BACKOFF_FLOOR_S = 0.1
STABLE_AFTER_S = 60.0  # a connection that lived this long resets the back-off


def backoff_delay(attempt: int, cap_s: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before reconnect `attempt` (1, 2, ...): 0.5 s doubling per attempt,
    capped at `cap_s`, times a jitter in [0.5, 1); never below 0.1 s."""
    top = min(cap_s, BACKOFF_BASE_S * 2.0 ** min(max(attempt, 1) - 1, 30))
    return max(BACKOFF_FLOOR_S, top * (0.5 + 0.5 * rand()))


# --- the stream threads -----------------------------------------------------------------------

POLL_S = 0.5  # recv() wakes up this often to look at the stop flag
OPEN_TIMEOUT_S = 5.0
SUBSCRIBE_TIMEOUT_S = 10.0
MAX_MESSAGE_BYTES = 1 << 20
_ERROR_TEXT_MAX = 160


class _ReconnectError(Exception):
    """The connection is to be closed and opened again; the message is the reason."""


def _describe(exc: BaseException) -> str:
    """An error as a short reason (type and message; no payload of ours is in either)."""
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd or exc.sent
        code = frame.code if frame is not None else "no close frame"
        return f"connection closed ({code})"
    text = str(exc).strip()
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return reason[:_ERROR_TEXT_MAX]


class _Stream:
    """The reconnect loop both streams share; subclasses open one session."""

    kind: StreamKind

    def __init__(
        self,
        url: str,
        inbox: Inbox,
        *,
        reconnect_max_s: float,
        paused_for: Callable[[], float] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not reconnect_max_s > 0:
            raise ValueError("reconnect_max_s must be positive")
        self.url = url
        # the process rate limiter's pause (418 ban / 429 / 403): Binance bans the IP, not
        # a connection kind, so no connection is opened while it runs
        self._paused_for = paused_for
        self.inbox = inbox
        self.health = StreamHealth(self.kind)
        self.reconnect_max_s = reconnect_max_s
        self._rand = rand
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._up_since: float | None = None
        self._logged_reason: str | None = None
        self._not_before = 0.0  # monotonic: no reconnect before (a server's retryAfter)

    # --- control (any thread) -----------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (no-op while it runs)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"tw-stream-{self.kind}", daemon=True
        )
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; True if it did (or never ran)."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(max(0.0, timeout))
        return not thread.is_alive()

    def stop(self, timeout: float = 5.0) -> bool:
        self.request_stop()
        return self.join(timeout)

    # --- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self._up_since = None
            try:
                self._session()
                reason = "stopped" if self._stop.is_set() else "connection ended"
            except _ReconnectError as exc:
                reason = str(exc)
            except (OSError, TimeoutError, WebSocketException, BrokerError, SecretError) as exc:
                reason = _describe(exc)
            except Exception as exc:  # noqa: BLE001 - nothing a server sends ends the thread
                reason = f"unexpected {_describe(exc)}"
                log.error("%s stream: unexpected error", self.kind, exc_info=True)
            lived = None if self._up_since is None else time.monotonic() - self._up_since
            if self._stop.is_set():
                self._lost("stopped")
                break
            self.health.last_error = reason
            self._lost(reason)
            if lived is not None and lived > STABLE_AFTER_S:
                attempt = 0
            attempt += 1
            delay = backoff_delay(attempt, self.reconnect_max_s, self._rand)
            delay = max(delay, min(self._not_before - time.monotonic(), self.reconnect_max_s))
            self._stop.wait(delay)
        self._up_since = None

    def _up(self, what: str) -> None:
        self._up_since = time.monotonic()
        self.health.connected = True
        self.health.connects += 1
        self._logged_reason = None
        log.info("%s stream %s", self.kind, what)
        self.inbox.put(StreamEvent(self.kind, "connected", what, time.monotonic()))

    def _lost(self, reason: str) -> None:
        if reason != self._logged_reason and reason != "stopped":
            log.warning("%s stream: %s; reconnecting with back-off", self.kind, reason)
            self._logged_reason = reason
        if not self.health.connected:
            return
        self.health.connected = False
        self.health.disconnects += 1
        self.inbox.put(StreamEvent(self.kind, "disconnected", reason, time.monotonic()))

    def _check_paused(self) -> None:
        paused = self._paused_for() if self._paused_for is not None else 0.0
        if paused > 0:
            self._not_before = time.monotonic() + paused
            # one wording however long is left: the warning is logged once, not per retry
            raise _ReconnectError("requests paused by the rate limiter (HTTP 418/429/403)")

    def _connect(self) -> ClientConnection:
        self._check_paused()
        return connect(
            self.url,
            open_timeout=OPEN_TIMEOUT_S,
            close_timeout=1.0,
            max_size=MAX_MESSAGE_BYTES,
            logger=_WIRE_LOG,
        )

    def _recv(self, ws: ClientConnection, timeout: float) -> str | bytes | None:
        """One message, or None when `timeout` passed without one."""
        try:
            return ws.recv(timeout=max(0.0, timeout))
        except TimeoutError:
            return None

    def _deliver(self, msg: StreamMessage) -> None:
        """Into the inbox; refused (full: the runtime is not draining) -> reconnect, so that
        the runtime polls meanwhile and checks over REST what this connection carried."""
        if not self.inbox.put(msg):
            raise _ReconnectError(
                f"inbox full ({self.inbox.max_pending} messages waiting): an event refused"
            )

    def _malformed(self, what: str) -> None:
        """Count and drop; logged by kind only (never the payload), at warning for the 1st,
        2nd, 4th, 8th... so a server sending garbage cannot flood the log."""
        self.health.malformed += 1
        n = self.health.malformed
        level = logging.WARNING if n & (n - 1) == 0 else logging.DEBUG
        log.log(level, "%s stream: dropped a message (%s; %d so far)", self.kind, what, n)

    def _session(self) -> None:  # pragma: no cover - every stream defines its own
        raise NotImplementedError


def _loads(raw: str | bytes) -> Any:
    return json.loads(raw)


class UserDataStream(_Stream):
    """The account's events over the WebSocket API (see the module docstring)."""

    kind: StreamKind = "user"
    _ids = itertools.count(1)

    def __init__(
        self,
        broker: BinanceBroker,
        url: str,
        inbox: Inbox,
        *,
        reconnect_max_s: float,
        rand: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(
            url,
            inbox,
            reconnect_max_s=reconnect_max_s,
            paused_for=broker.limiter.paused_for,
            rand=rand,
        )
        self._broker = broker
        # the read key when there is one: this thread never holds the order-signing key
        self._signer = broker.reader
        self._subscription: int | None = None

    def _session(self) -> None:
        self._subscription = None
        self._check_paused()
        # web-socket-api.md: connecting costs weight 2 and the subscription 2, on the IP's
        # budget that REST shares
        self._broker.limiter.acquire(4, low_priority=True, max_wait=2.0)
        with self._connect() as ws:
            request_id = f"tw-sub-{next(self._ids)}"
            params: dict[str, Any] = {
                "timestamp": int(self._broker.timesync.server_ms()),
                "recvWindow": self._broker.recv_window_ms,
            }
            request = {
                "id": request_id,
                "method": "userDataStream.subscribe.signature",
                "params": self._signer.ws_signed(params),
            }
            ws.send(json.dumps(request))
            self._subscription = self._await_subscription(ws, request_id)
            self._up(f"subscribed (subscription {self._subscription})")
            while not self._stop.is_set():
                raw = self._recv(ws, POLL_S)
                if raw is not None:
                    self._handle(raw)

    def _await_subscription(self, ws: ClientConnection, request_id: str) -> int:
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT_S
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                raise _ReconnectError("no answer to userDataStream.subscribe.signature within 10 s")
            raw = self._recv(ws, min(POLL_S, left))
            if raw is None:
                continue
            self.health.last_message = time.monotonic()
            try:
                msg = _loads(raw)
            except ValueError:
                self._malformed("not JSON")
                continue
            if not isinstance(msg, dict):
                self._malformed("not an object")
                continue
            if msg.get("id") != request_id:
                event = msg.get("event")
                if isinstance(event, dict) and event.get("e") == "serverShutdown":
                    raise _ReconnectError("serverShutdown")
                continue
            return self._subscription_id(msg)
        raise _ReconnectError("stopped")

    def _subscription_id(self, msg: Mapping[str, Any]) -> int:
        status = msg.get("status")
        if status == 200:
            result = msg.get("result")
            sid = result.get("subscriptionId") if isinstance(result, dict) else None
            if isinstance(sid, bool) or not isinstance(sid, int):
                raise _ReconnectError("subscription answered without a subscriptionId")
            return sid
        error = msg.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        text = _no_tokens(str(error.get("msg", ""))[:80]) if isinstance(error, dict) else ""
        meaning = _REFUSALS.get(code) if isinstance(code, int) else None
        if code == _TIMESTAMP_CODE:
            try:
                self._broker.sync_time()
                meaning = f"{meaning}; server time re-synced"
            except BrokerError as exc:
                meaning = f"{meaning}; server time re-sync failed ({_describe(exc)})"
        if status in (418, 429):
            self._respect_retry_after(error, int(status))
        detail = meaning or text or "no error text"
        raise _ReconnectError(f"subscription refused: HTTP {status}, code {code} ({detail})")

    def _respect_retry_after(self, error: Any, status: int) -> None:
        """A WebSocket API 418/429 is the IP's budget, shared with REST: pause the limiter
        until the server's ``retryAfter`` (ms since epoch) and reconnect no earlier."""
        data = error.get("data") if isinstance(error, dict) else None
        retry_ms = data.get("retryAfter") if isinstance(data, dict) else None
        secs: float | None = None
        if isinstance(retry_ms, int) and not isinstance(retry_ms, bool):
            secs = max(0.0, (retry_ms - self._broker.timesync.server_ms()) / 1000.0)
        paused = self._broker.limiter.pause(secs, status)
        self._not_before = time.monotonic() + paused

    def _handle(self, raw: str | bytes) -> None:
        received = time.monotonic()
        self.health.last_message = received
        try:
            msg = _loads(raw)
        except ValueError:
            self._malformed("not JSON")
            return
        event = msg.get("event") if isinstance(msg, dict) else None
        if not isinstance(event, dict):
            if isinstance(msg, dict) and "id" in msg and "status" in msg:
                return  # an answer to a request of ours that nobody waits for any more
            self._malformed("not an event")
            return
        kind = event.get("e")
        if kind == "serverShutdown":
            raise _ReconnectError("serverShutdown")
        # subscriptionId is optional in the docs' event format: an event without one on
        # this connection (which has our subscription only) is ours
        if msg.get("subscriptionId", self._subscription) != self._subscription:
            log.debug("user stream: an event of another subscription ignored")
            return
        if kind == "eventStreamTerminated":
            raise _ReconnectError("eventStreamTerminated")
        try:
            parsed = parse_user_event(event, received)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            self._malformed(f"{str(kind)[:40]}: {type(exc).__name__}")
            return
        if parsed is not None:
            self._deliver(parsed)


_TOKEN_RE = re.compile(r"[A-Za-z0-9+/=_-]{16,}")


def _no_tokens(text: str) -> str:
    """The server's error text without anything shaped like a key or a signature (a server
    echoing the request would otherwise put our API key into health.last_error, /readyz and
    the log)."""
    return _TOKEN_RE.sub("<redacted>", text)


_TIMESTAMP_CODE = -1021
_REFUSALS = {
    -2015: "invalid API key, IP or permissions for action",
    -2014: "API key format invalid",
    -1022: "signature for this request is not valid",
    -1021: "timestamp outside recvWindow",
}


class MarketStream(_Stream):
    """bookTicker and klines of every symbol over one combined connection."""

    kind: StreamKind = "market"

    def __init__(
        self,
        url: str,
        symbols: Sequence[str],
        inbox: Inbox,
        *,
        kline_interval: str,
        stale_after_s: float,
        reconnect_max_s: float,
        paused_for: Callable[[], float] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not symbols:
            raise ValueError("the market stream needs at least one symbol")
        for symbol in symbols:
            if not _SYMBOL_RE.match(symbol):
                raise ValueError(f"not a Binance symbol: {symbol!r}")
        if kline_interval not in KLINE_INTERVALS:
            raise ValueError(f"not a kline interval: {kline_interval!r}")
        if not stale_after_s > 0:
            raise ValueError("stale_after_s must be positive")
        names = []
        for symbol in dict.fromkeys(symbols):
            low = symbol.lower()
            names += [f"{low}@bookTicker", f"{low}@kline_{kline_interval}"]
        super().__init__(
            f"{url}?streams={'/'.join(names)}",
            inbox,
            reconnect_max_s=reconnect_max_s,
            paused_for=paused_for,
            rand=rand,
        )
        self.stale_after_s = stale_after_s
        # only these are used: another symbol's or interval's message would mark or decide
        # (and prices of ever new symbols would each take an inbox slot that is never refused)
        self.names = frozenset(names)

    def _session(self) -> None:
        with self._connect() as ws:
            self._up("open")
            last = time.monotonic()
            while not self._stop.is_set():
                quiet = time.monotonic() - last
                if quiet >= self.stale_after_s:
                    self.health.stale += 1
                    raise _ReconnectError(f"stale: no market message for {quiet:.1f} s")
                raw = self._recv(ws, min(POLL_S, self.stale_after_s - quiet))
                if raw is not None:
                    last = time.monotonic()
                    self._handle(raw, last)

    def _handle(self, raw: str | bytes, received: float) -> None:
        self.health.last_message = received
        try:
            msg = _loads(raw)
        except ValueError:
            self._malformed("not JSON")
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("data"), dict):
            self._malformed("not a combined-stream message")
            return
        if msg["data"].get("e") == "serverShutdown":
            raise _ReconnectError("serverShutdown")
        if msg.get("stream") not in self.names:
            self._malformed("a stream not subscribed to")
            return
        try:
            parsed = parse_market_message(msg, received)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            self._malformed(f"{str(msg.get('stream'))[:60]}: {type(exc).__name__}")
            return
        if parsed is not None:
            self._deliver(parsed)


class Streams:
    """Both streams and their inbox: what the runtime holds."""

    def __init__(self, user: UserDataStream, market: MarketStream, inbox: Inbox) -> None:
        self.user = user
        self.market = market
        self.inbox = inbox

    def start(self) -> None:
        """Start both threads (no-op for one already running)."""
        self.user.start()
        self.market.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop both threads; waits at most `timeout` in all (they are daemon threads)."""
        deadline = time.monotonic() + timeout
        self.user.request_stop()
        self.market.request_stop()
        for stream in (self.user, self.market):
            if not stream.join(deadline - time.monotonic()):
                log.warning("%s stream thread did not end within %.1f s", stream.kind, timeout)

    def health(self) -> dict[StreamKind, StreamHealth]:
        """A snapshot (copies) of both streams' health."""
        return {"user": copy.copy(self.user.health), "market": copy.copy(self.market.health)}


def open_streams(
    broker: BinanceBroker,
    symbols: Sequence[str],
    *,
    kline_interval: str,
    stale_after_s: float,
    reconnect_max_s: float,
    wake: Callable[[], None],
) -> Streams:
    """The user data stream and the market streams of `symbols` for `broker`'s exchange
    (URLs from its REST base URL, `stream_urls`), sharing one `Inbox` that calls `wake`.
    The threads are started (`Streams.start` again is a no-op); `Streams.stop` ends them.
    Raises `EndpointError` for a base URL without stream endpoints and ValueError for a bad
    symbol, interval or timing."""
    ws_api_url, market_url = stream_urls(broker.client.base_url)
    inbox = Inbox(wake)
    user = UserDataStream(broker, ws_api_url, inbox, reconnect_max_s=reconnect_max_s)
    market = MarketStream(
        market_url,
        symbols,
        inbox,
        kline_interval=kline_interval,
        stale_after_s=stale_after_s,
        reconnect_max_s=reconnect_max_s,
        paused_for=broker.limiter.paused_for,
    )
    streams = Streams(user, market, inbox)
    streams.start()
    return streams
