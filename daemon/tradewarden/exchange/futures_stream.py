"""The USDⓈ-M futures user data stream (issue 20): a listenKey stream over WebSocket.

Followed: Binance's USDⓈ-M futures docs on developers.binance.com (derivatives /
usds-margined-futures, "User Data Streams": Connect, Start / Keepalive / Close User Data
Stream, Event: User Data Stream Expired, Event: Margin Call, Event: Balance and Position
Update, Event: Order Update; the pages as published in 2025-2026, with the
``wss://fstream.binance.com/private`` base URL) and python-binance 1.0.37
(``futures_stream_get_listen_key`` / ``futures_stream_keepalive`` / ``futures_stream_close``
and ``futures_user_socket``'s ``<FSTREAM_URL>private/ws?listenKey=<key>`` path, which the
fake exchange models, tests/fakes/binance/futures.py).

What the docs say and this client does:

- ``POST /fapi/v1/listenKey`` starts a stream (weight 1): the key is valid 60 minutes; a
  POST while a key is active returns that key and extends it. Every (re)connect POSTs, so
  a reconnect after a dropped connection uses the same key, extended.
- ``PUT /fapi/v1/listenKey`` extends the key by 60 minutes: sent every `KEEPALIVE_S` (30
  minutes; a failed keepalive is tried again after `KEEPALIVE_RETRY_S`, the key still has
  half an hour). ``-1125`` ("This listenKey does not exist") means the key is gone: the
  connection is closed and the next session creates a new key.
- ``listenKeyExpired`` (the key lapsed): reconnect with a new key (POST).
- A connection lives at most 24 hours: the server closes it and the client reconnects.
- Events: ``ORDER_TRADE_UPDATE`` -> `FuturesOrderEvent` (order status, execution type,
  the fill with commission and realized profit, ``reduceOnly``; a liquidation / ADL order
  is flagged ``liquidation``), ``ACCOUNT_UPDATE`` -> `FuturesAccountEvent` (balances,
  positions, the reason: ``ORDER``, ``FUNDING_FEE``...), ``MARGIN_CALL`` ->
  `MarginCallEvent`. ``ACCOUNT_CONFIG_UPDATE``, ``TRADE_LITE``, ``STRATEGY_UPDATE``,
  ``GRID_UPDATE``, ``CONDITIONAL_ORDER_TRIGGER_REJECT`` and ``ALGO_UPDATE`` are known and
  not used; anything else is counted as malformed (``health.malformed``) and dropped.

MARGIN_CALL is a critical event: `MarginCallEvent.severity` is ``"critical"`` and
`MarginCallEvent.alert()` gives the alert kind (``futures_margin_call``) and its fields, so
the runtime turns it into a critical alert (and, by the issue's envelope, treats it like
the liquidation-distance breaker at its flatten level: a margin call means the breaker
did not act in time). The wiring is the runtime's; this module only delivers the event.

The structure is the spot stream client's (`tradewarden.exchange.streams`): the reconnect
loop with capped exponential back-off and jitter (`_Stream`, `backoff_delay`), the
`StreamHealth`, ``StreamEvent("connected"/"disconnected")`` pairs, and one `Inbox`
(`FuturesInbox`: the spot inbox that also carries the futures events). The stream's kind
is ``"user"``: a futures bot's account stream takes the place of the spot user stream.

Secrets: the listenKey gives read access to the account's events. It is never logged,
never put in ``health.last_error``, an exception text or a repr (`FuturesUserStream.url`
is the base URL without it), and REST errors are described by code only.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from websockets.sync.client import ClientConnection, connect

from tradewarden.core.endpoints import EndpointError, parse_endpoint
from tradewarden.exchange.client import ExchangeClient
from tradewarden.exchange.endpoints import Endpoint
from tradewarden.exchange.streams import (
    MAX_MESSAGE_BYTES,
    OPEN_TIMEOUT_S,
    POLL_S,
    Inbox,
    StreamHealth,
    StreamKind,
    StreamMessage,
    _describe,
    _num,
    _ReconnectError,
    _Stream,
)
from tradewarden.trading.broker import BrokerError

log = logging.getLogger(__name__)
_WIRE_LOG = logging.getLogger(f"{__name__}.wire")  # frames carry the key in the URL only
_WIRE_LOG.setLevel(logging.INFO)

KEEPALIVE_S = 30 * 60.0  # the key lives 60 minutes after the last POST / PUT
KEEPALIVE_RETRY_S = 60.0  # after a failed keepalive (the key still has ~30 minutes)
LISTEN_KEY_GONE = -1125  # "This listenKey does not exist."

LISTEN_KEY_NEW = Endpoint("POST /fapi/v1/listenKey", 1)
LISTEN_KEY_KEEPALIVE = Endpoint("PUT /fapi/v1/listenKey", 1)
LISTEN_KEY_CLOSE = Endpoint("DELETE /fapi/v1/listenKey", 1)

# --- what the stream delivers -----------------------------------------------------------------


@dataclass(frozen=True)
class FuturesOrderEvent:
    """One ``ORDER_TRADE_UPDATE``. `trade` (execution type TRADE or CALCULATED) is shaped
    like a ``GET /fapi/v1/userTrades`` row, so a fill from the stream books under the same
    trade id as one from polling."""

    symbol: str
    client_order_id: str
    order_id: int
    side: str  # BUY / SELL
    order_type: str  # MARKET, LIMIT, ... LIQUIDATION
    status: str  # X: NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, EXPIRED_IN_MATCH
    execution_type: str  # x: NEW, TRADE, CANCELED, EXPIRED, CALCULATED, AMENDMENT
    orig_qty: float
    price: float
    avg_price: float
    cum_qty: float
    reduce_only: bool
    position_side: str
    trade: dict[str, Any] | None
    event_ms: int
    received: float  # time.monotonic() at receipt

    @property
    def liquidation(self) -> bool:
        """The exchange closed the position: a liquidation (execution type CALCULATED,
        order type LIQUIDATION, client id ``autoclose-...``) or an ADL (``adl_autoclose``)."""
        cid = self.client_order_id
        return (
            self.execution_type == "CALCULATED"
            or self.order_type == "LIQUIDATION"
            or cid.startswith(("autoclose-", "adl_autoclose"))
        )

    @property
    def realized_profit(self) -> float:
        return float(self.trade["realizedPnl"]) if self.trade else 0.0

    @property
    def commission(self) -> float:
        return float(self.trade["commission"]) if self.trade else 0.0


@dataclass(frozen=True)
class FuturesBalance:
    asset: str
    wallet: float  # wb
    cross_wallet: float  # cw
    change: float  # bc: the balance change other than P&L and commission


@dataclass(frozen=True)
class FuturesPositionUpdate:
    symbol: str
    amount: float  # pa: signed (> 0 long, < 0 short)
    entry_price: float
    unrealized: float
    margin_type: str  # isolated / cross
    isolated_wallet: float
    position_side: str


@dataclass(frozen=True)
class FuturesAccountEvent:
    """``ACCOUNT_UPDATE``: the balances and positions that changed, and why (``reason``:
    ORDER, FUNDING_FEE, DEPOSIT, WITHDRAW, MARGIN_TRANSFER, INSURANCE_CLEAR, ...)."""

    reason: str
    balances: tuple[FuturesBalance, ...]
    positions: tuple[FuturesPositionUpdate, ...]
    event_ms: int
    received: float

    @property
    def funding(self) -> bool:
        """A funding payment: ``balances[*].change`` is the amount (paid < 0)."""
        return self.reason == "FUNDING_FEE"


@dataclass(frozen=True)
class MarginCallPosition:
    symbol: str
    position_side: str
    amount: float
    margin_type: str
    isolated_wallet: float
    mark_price: float
    unrealized: float
    maintenance: float  # mm: the maintenance margin required


@dataclass(frozen=True)
class MarginCallEvent:
    """``MARGIN_CALL``: a position's margin is close to its maintenance margin. Critical:
    the runtime raises `alert()` as a critical alert (see the module docstring)."""

    positions: tuple[MarginCallPosition, ...]
    cross_wallet: float | None  # cw: only for a cross position
    event_ms: int  # 0 when the event's time was unreadable
    received: float
    # positions the event named that could not be read (the call is delivered anyway: a
    # margin call is never dropped for a malformed field)
    unreadable: int = 0

    severity = "critical"
    alert_kind = "futures_margin_call"

    def alert(self) -> tuple[str, dict[str, Any]]:
        """(alert kind, fields) for the notifier: one line per position."""
        return self.alert_kind, {
            "severity": self.severity,
            "positions": [
                {
                    "symbol": p.symbol,
                    "amount": p.amount,
                    "margin_type": p.margin_type,
                    "mark_price": p.mark_price,
                    "maintenance_margin": p.maintenance,
                    "isolated_wallet": p.isolated_wallet,
                    "unrealized_pnl": p.unrealized,
                }
                for p in self.positions
            ],
            "unreadable_positions": self.unreadable,
            "action": "futures margin call: the liquidation-distance breaker did not act in"
            " time; flatten (reduceOnly MARKET) and check the leverage settings",
        }


FuturesMessage = FuturesOrderEvent | FuturesAccountEvent | MarginCallEvent


class FuturesInbox(Inbox):
    """The spot `Inbox` carrying the futures events too (`drain_all` types them)."""

    def put(self, msg: StreamMessage | FuturesMessage) -> bool:
        return super().put(cast(StreamMessage, msg))

    def drain_all(self) -> list[StreamMessage | FuturesMessage]:
        """Everything put so far, oldest first, typed with the futures events."""
        return list(self.drain())


# --- parsing ----------------------------------------------------------------------------------

# known events this client does not use (leverage changes, strategy / grid / algo orders,
# the light trade stream that duplicates ORDER_TRADE_UPDATE's fills)
_IGNORED = frozenset(
    {
        "ACCOUNT_CONFIG_UPDATE",
        "TRADE_LITE",
        "STRATEGY_UPDATE",
        "GRID_UPDATE",
        "CONDITIONAL_ORDER_TRIGGER_REJECT",
        "ALGO_UPDATE",
    }
)


def _non_negative(value: Any) -> float:
    x = _num(value)
    if x < 0:
        raise ValueError("a negative quantity or price")
    return x


def _ms(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("a time in ms must be an integer")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("not a boolean")
    return value


def _order_event(event: Mapping[str, Any], received: float) -> FuturesOrderEvent:
    o = event["o"]
    execution = str(o["x"])
    side = str(o["S"])
    if side not in ("BUY", "SELL"):
        raise ValueError("order side is not BUY or SELL")
    trade: dict[str, Any] | None = None
    last_qty = _num(o["l"])
    if last_qty < 0:
        raise ValueError("a negative fill quantity")
    if execution in ("TRADE", "CALCULATED") and last_qty > 0:
        last_price = _num(o["L"])
        if last_price <= 0:
            raise ValueError("a fill at a price that is not positive")
        quote = _num(last_price * last_qty)  # finite: no fill of an overflowing notional
        maker = _bool(o["m"])
        trade = {
            "symbol": str(o["s"]),
            "id": _ms(o["t"]),
            "orderId": _ms(o["i"]),
            "side": side,
            "price": last_price,
            "qty": last_qty,
            "quoteQty": quote,
            "realizedPnl": _num(o.get("rp", 0)),
            "commission": _num(o.get("n", 0)),
            "commissionAsset": str(o.get("N") or ""),
            "time": _ms(o["T"]),
            "buyer": side == "BUY",
            "maker": maker,
            "positionSide": str(o.get("ps", "BOTH")),
        }
    return FuturesOrderEvent(
        symbol=str(o["s"]),
        client_order_id=str(o["c"]),
        order_id=_ms(o["i"]),
        side=side,
        order_type=str(o["o"]),
        status=str(o["X"]),
        execution_type=execution,
        orig_qty=_non_negative(o["q"]),
        price=_non_negative(o["p"]),
        avg_price=_non_negative(o["ap"]),
        cum_qty=_non_negative(o["z"]),
        reduce_only=_bool(o["R"]),
        position_side=str(o.get("ps", "BOTH")),
        trade=trade,
        event_ms=_ms(event["E"]),
        received=received,
    )


def _account_event(event: Mapping[str, Any], received: float) -> FuturesAccountEvent:
    a = event["a"]
    balances = tuple(
        FuturesBalance(str(b["a"]), _num(b["wb"]), _num(b["cw"]), _num(b.get("bc", 0)))
        for b in a["B"]
    )
    positions = tuple(
        FuturesPositionUpdate(
            symbol=str(p["s"]),
            amount=_num(p["pa"]),
            entry_price=_num(p["ep"]),
            unrealized=_num(p["up"]),
            margin_type=str(p["mt"]).lower(),
            isolated_wallet=_num(p.get("iw", 0)),
            position_side=str(p.get("ps", "BOTH")),
        )
        for p in a.get("P", ())
    )
    return FuturesAccountEvent(str(a["m"]), balances, positions, _ms(event["E"]), received)


def _margin_position(p: Any) -> MarginCallPosition:
    return MarginCallPosition(
        symbol=str(p["s"]),
        position_side=str(p.get("ps", "BOTH")),
        amount=_num(p["pa"]),
        margin_type=str(p["mt"]).lower(),
        isolated_wallet=_num(p.get("iw", 0)),
        mark_price=_num(p["mp"]),
        unrealized=_num(p["up"]),
        maintenance=_num(p["mm"]),
    )


_MALFORMED = (KeyError, TypeError, ValueError, ArithmeticError, AttributeError)


def _margin_call(event: Mapping[str, Any], received: float) -> MarginCallEvent:
    """Never raises: a margin call is critical, so a malformed field (or no readable
    position at all) still delivers the event, with `unreadable` counting what was lost
    (fail closed: an alert too many, never one lost)."""
    raw = event.get("p")
    items = raw if isinstance(raw, list) else [raw]
    positions: list[MarginCallPosition] = []
    unreadable = 0
    for p in items:
        try:
            positions.append(_margin_position(p))
        except _MALFORMED:
            unreadable += 1
    try:
        cw = event.get("cw")
        cross: float | None = None if cw is None else _num(cw)
    except _MALFORMED:
        cross = None
    try:
        event_ms = _ms(event.get("E"))
    except _MALFORMED:
        event_ms = 0
    return MarginCallEvent(tuple(positions), cross, event_ms, received, unreadable)


def parse_futures_event(event: Mapping[str, Any], received: float) -> FuturesMessage | None:
    """One futures user data event as what the runtime uses; None for a kind this client
    knows and does not use. ``listenKeyExpired`` is the stream's business (not parsed
    here: ValueError). Raises KeyError/TypeError/ValueError/ArithmeticError for a
    malformed event and ValueError for an unknown kind."""
    kind = event["e"]
    if kind == "ORDER_TRADE_UPDATE":
        return _order_event(event, received)
    if kind == "ACCOUNT_UPDATE":
        return _account_event(event, received)
    if kind == "MARGIN_CALL":
        return _margin_call(event, received)
    if kind in _IGNORED:
        return None
    raise ValueError("unknown futures user data event")


# --- URLs -------------------------------------------------------------------------------------

_STREAM_HOSTS = {
    "fapi.binance.com": "wss://fstream.binance.com/private/ws",
    "testnet.binancefuture.com": "wss://fstream.binancefuture.com/private/ws",
}


def futures_stream_url(fapi_base_url: str) -> str:
    """The user data stream URL (without the key) for a futures REST base URL: Binance
    live and the futures testnet get their published hosts, a loopback test exchange the
    same host and port under ``/fstream/private/ws`` (``ws://`` for ``http://``). The URL is
    parsed as the settings parse it; a refused URL or an unknown host raises
    `EndpointError`."""
    ep = parse_endpoint(fapi_base_url)
    if ep.kind == "loopback":
        scheme = "wss" if ep.scheme == "https" else "ws"
        host = f"[{ep.host}]" if ":" in ep.host else ep.host
        port = f":{ep.port}" if ep.port is not None else ""
        return f"{scheme}://{host}{port}/fstream/private/ws"
    url = _STREAM_HOSTS.get(ep.host)
    if url is None:
        raise EndpointError(f"no Binance futures stream endpoint is known for {ep.host}")
    return url


# --- the listenKey over REST ------------------------------------------------------------------


class ListenKeyApi(Protocol):
    """The three listenKey requests (the futures gateway's client has them)."""

    def create(self) -> str: ...

    def keepalive(self, key: str) -> None: ...

    def close(self, key: str) -> None: ...


# Binance's listenKeys are 64 alphanumerics; URL-safe base64 characters are allowed too
_LISTEN_KEY = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ClientListenKeys:
    """`ListenKeyApi` over an `ExchangeClient` aimed at the futures API (python-binance's
    ``futures_stream_*``; the client's limiter, error map and key provider)."""

    def __init__(self, client: ExchangeClient) -> None:
        self.client = client

    def create(self) -> str:
        key = self.client.call(LISTEN_KEY_NEW, "futures_stream_get_listen_key")
        if not isinstance(key, str) or not key:
            raise BrokerError("POST /fapi/v1/listenKey: no listenKey in the answer")
        return key

    def keepalive(self, key: str) -> None:
        self.client.call(LISTEN_KEY_KEEPALIVE, "futures_stream_keepalive", listenKey=key)

    def close(self, key: str) -> None:
        self.client.call(LISTEN_KEY_CLOSE, "futures_stream_close", listenKey=key)


# --- the stream -------------------------------------------------------------------------------


@dataclass
class ListenKeyStats:
    """Written by the stream's thread only."""

    created: int = 0  # POSTs answered (a reconnect POSTs: the active key comes back)
    renewed: int = 0  # keepalives answered
    keepalive_failures: int = 0
    expired: int = 0  # listenKeyExpired events and -1125 answers

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "renewed": self.renewed,
            "keepalive_failures": self.keepalive_failures,
            "expired": self.expired,
        }


class FuturesUserStream(_Stream):
    """The futures account's events over a listenKey stream (see the module docstring)."""

    kind: StreamKind = "user"

    def __init__(
        self,
        keys: ListenKeyApi,
        url: str,
        inbox: FuturesInbox,
        *,
        reconnect_max_s: float,
        keepalive_s: float = KEEPALIVE_S,
        keepalive_retry_s: float = KEEPALIVE_RETRY_S,
        paused_for: Callable[[], float] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < keepalive_s < 60 * 60:
            raise ValueError("keepalive_s must be below the listenKey's 60 minutes")
        super().__init__(
            url, inbox, reconnect_max_s=reconnect_max_s, paused_for=paused_for, rand=rand
        )
        self.futures_inbox = inbox
        self._keys = keys
        self.keepalive_s = keepalive_s
        self.keepalive_retry_s = min(keepalive_retry_s, keepalive_s)
        self.stats = ListenKeyStats()

    def __repr__(self) -> str:
        return f"FuturesUserStream(url={self.url!r}, connected={self.health.connected})"

    def _new_key(self) -> str:
        try:
            key = self._keys.create()
        except BrokerError as exc:
            raise _ReconnectError(f"POST /fapi/v1/listenKey failed: {_describe(exc)}") from None
        if not isinstance(key, str) or not _LISTEN_KEY.fullmatch(key):
            # never put in a URL: a key with '#', '?', '/', spaces... makes an invalid URI,
            # and websockets' InvalidURI text carries the whole URL, key included
            raise _ReconnectError("POST /fapi/v1/listenKey: the listenKey is not a URL-safe token")
        self.stats.created += 1
        return key

    def _session(self) -> None:
        self._check_paused()
        key = self._new_key()
        sep = "&" if "?" in self.url else "?"
        with connect(
            f"{self.url}{sep}listenKey={key}",
            open_timeout=OPEN_TIMEOUT_S,
            close_timeout=1.0,
            max_size=MAX_MESSAGE_BYTES,
            logger=_WIRE_LOG,
        ) as ws:
            self._up("open (listenKey)")
            self._pump(ws, key)

    def _pump(self, ws: ClientConnection, key: str) -> None:
        due = time.monotonic() + self.keepalive_s
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= due:
                due = now + self._keepalive(key)
                continue
            raw = self._recv(ws, min(POLL_S, due - now))
            if raw is not None:
                self._handle(raw)

    def _keepalive(self, key: str) -> float:
        """PUT the key; seconds until the next one. -1125: the key is gone (reconnect with
        a new one)."""
        try:
            self._keys.keepalive(key)
        except BrokerError as exc:
            if getattr(exc, "code", None) == LISTEN_KEY_GONE:
                self.stats.expired += 1
                raise _ReconnectError(
                    "listenKey keepalive refused (-1125: the key does not exist): re-created"
                ) from None
            self.stats.keepalive_failures += 1
            log.warning(
                "futures user stream: listenKey keepalive failed; retrying",
                extra={"error": _describe(exc)},
            )
            return self.keepalive_retry_s
        self.stats.renewed += 1
        return self.keepalive_s

    def _handle(self, raw: str | bytes) -> None:
        received = time.monotonic()
        self.health.last_message = received
        try:
            msg = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested too deep to read
            self._malformed("not JSON")
            return
        if not isinstance(msg, dict):
            self._malformed("not an object")
            return
        # a combined-stream envelope ({"stream", "data"}) carries the event in "data"; an
        # event of its own ("e") is never swapped for a "data" field it carries
        data = msg.get("data")
        event: dict[str, Any] = data if isinstance(data, dict) and "e" not in msg else msg
        kind = event.get("e")
        if kind == "listenKeyExpired":
            self.stats.expired += 1
            raise _ReconnectError("listenKeyExpired: re-created")
        try:
            parsed = parse_futures_event(event, received)
        except _MALFORMED as exc:
            self._malformed(f"{str(kind)[:40]}: {type(exc).__name__}")
            return
        if isinstance(parsed, MarginCallEvent):
            if parsed.unreadable:  # counted, and delivered all the same
                self._malformed(f"MARGIN_CALL: {parsed.unreadable} unreadable position(s)")
            log.critical(
                "futures MARGIN_CALL",
                extra={
                    "symbols": [p.symbol for p in parsed.positions],
                    "unreadable_positions": parsed.unreadable,
                },
            )
        if parsed is not None and not self.futures_inbox.put(parsed):
            # full (the runtime is not draining): reconnect, so the REST check finds it
            raise _ReconnectError(
                f"inbox full ({self.futures_inbox.max_pending} messages waiting): an event refused"
            )


class FuturesStreams:
    """The futures user data stream in the shape the exchange loop holds (the spot
    `Streams`' ``inbox`` / ``health`` / ``stop``): a futures bot has no market stream (its
    prices are mark prices, polled), so `health` has the ``"user"`` kind only."""

    def __init__(self, user: FuturesUserStream) -> None:
        self.user = user
        self.inbox: FuturesInbox = user.futures_inbox

    def stop(self, timeout: float = 5.0) -> None:
        self.user.stop(timeout)

    def health(self) -> dict[StreamKind, StreamHealth]:
        """A snapshot (a copy) of the user stream's health."""
        return {"user": copy.copy(self.user.health)}


def open_futures_user_stream(
    client: ExchangeClient,
    *,
    reconnect_max_s: float,
    wake: Callable[[], None] | None = None,
    inbox: FuturesInbox | None = None,
) -> FuturesUserStream:
    """The futures user data stream of `client`'s account (`client` aimed at the futures
    REST API: its base URL gives the stream URL, `futures_stream_url`), started. Raises
    `EndpointError` for a base URL without a futures stream endpoint."""
    url = futures_stream_url(client.base_url)
    stream = FuturesUserStream(
        ClientListenKeys(client),
        url,
        inbox or FuturesInbox(wake),
        reconnect_max_s=reconnect_max_s,
        paused_for=client.limiter.paused_for,
    )
    stream.start()
    return stream
