"""python-binance behind the process rate limiter, the server-time offset and our error map.

`ExchangeClient.call(endpoint, "python_binance_method", **params)` is the only way the
gateway talks to Binance. Per call it:

1. reads the credentials from the provider and (re)builds the python-binance `Client` when
   they changed (a rotated key is used from the next request on, without restart);
2. waits for the shared `RateLimiter` (queues, never exceeds);
3. sends, then feeds the usage headers back to the limiter and the metrics hook;
4. maps failures: 429/418 -> pause all requests + `RateLimitedError`, except 429 -1015
   (too many new orders) which pauses new orders only; 403 (a WAF rule, rest-api.md) ->
   back off all requests + `RateLimitedError`; -1021 -> re-sync the clock and send that
   request once more; -2014/-2015/-1022 -> `on_auth_error` + `AuthError`; -1016 / 503
   maintenance -> `ExchangeUnavailableError`; every other 5xx (JSON or an HTML page),
   -1006/-1007 (errors.md: "execution status unknown"), timeouts, dropped connections ->
   `TransportError`. Both are `OutcomeUnknownError`s: an order placement answered so is
   resolved by query, never resent. Other 4xx -> `BrokerError`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from binance.client import Client
from binance.exceptions import BinanceAPIException, BinanceRequestException
from requests.adapters import HTTPAdapter

from tradewarden.exchange import endpoints as ep_
from tradewarden.exchange.endpoints import Endpoint
from tradewarden.exchange.errors import (
    AuthError,
    ExchangeUnavailableError,
    RateLimitedError,
    TransportError,
)
from tradewarden.exchange.hooks import (
    AuthErrorHook,
    CredentialProvider,
    ExchangeMetrics,
    NullMetrics,
)
from tradewarden.exchange.ratelimit import RateLimiter
from tradewarden.exchange.timesync import TimeSync
from tradewarden.secrets.errors import SecretError
from tradewarden.trading.broker import BrokerError

log = logging.getLogger(__name__)

AUTH_CODES = frozenset({-2014, -2015, -1022})
TIMESTAMP_CODE = -1021
MAINTENANCE_CODE = -1016
ORDER_RATE_CODE = -1015
UNKNOWN_OUTCOME_CODES = frozenset({-1006, -1007})  # errors.md: execution status unknown
WAF_STATUS = 403
WAF_BACKOFF_S = 30.0
_TS_RE = re.compile(r"(?:^|&)timestamp=(\d+)")
_CALL = threading.local()  # per thread: the last response and the timestamp it was signed with


def _sent_timestamp(params: Any, data: Any) -> int | None:
    if isinstance(params, str):
        m = _TS_RE.search(params)
        return int(m.group(1)) if m else None
    for source in (data, params):
        if isinstance(source, list | tuple):
            for item in source:
                if isinstance(item, tuple | list) and len(item) == 2 and item[0] == "timestamp":
                    return int(item[1])
    return None


class _ThreadSafeClient(Client):  # type: ignore[misc]  # python-binance ships no types
    """The stock client keeps the last response in `self.response`, shared by every thread;
    this one keeps it (and the signed timestamp) per thread. Signing stays python-binance's."""

    def _request(
        self, method: str, uri: str, signed: bool, force_params: bool = False, **kwargs: Any
    ) -> Any:
        headers = {}
        if method.upper() in ("POST", "PUT", "DELETE"):
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        kwargs = self._get_request_kwargs(method, signed, force_params, **kwargs)
        data = kwargs.pop("data", None)
        _CALL.sent_ms = _sent_timestamp(kwargs.get("params"), data)
        _CALL.response = None
        response = getattr(self.session, method)(uri, headers=headers, data=data, **kwargs)
        _CALL.response = response
        return self._handle_response(response)


def ws_signature(secret: str, params: Mapping[str, Any]) -> str:
    """HMAC-SHA256 hex of a WebSocket API request's params: every param but ``signature``,
    sorted by name, joined ``k=v&...`` as UTF-8 (web-socket-api.md "SIGNED request example
    (HMAC)")."""
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    try:
        return float(headers.get("Retry-After", ""))
    except ValueError:
        return None


def error_kind(exc: BrokerError) -> str | None:
    """The ``tradewarden_errors_total`` kind of a failed request, or None for an answer that
    is not an error of ours or the exchange's (an order refused with a 4xx code, -2013 while
    resolving an order: counted by the order outcome metrics instead)."""
    if isinstance(exc, SecretError):
        return "secrets"
    if isinstance(exc, RateLimitedError):
        return "rate_limited"
    if isinstance(exc, ExchangeUnavailableError):
        return "maintenance"
    if isinstance(exc, TransportError | AuthError):
        return "exchange"
    return None


class ExchangeClient:
    def __init__(
        self,
        base_url: str,
        credentials: CredentialProvider,
        *,
        limiter: RateLimiter,
        timesync: TimeSync | None = None,
        recv_window_ms: int = 5000,
        timeout_s: float = 10.0,
        on_auth_error: AuthErrorHook | None = None,
        metrics: ExchangeMetrics | None = None,
        max_queue_s: float | None = 65.0,
        on_ban: Callable[[float], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self.limiter = limiter
        self.timesync = timesync or TimeSync()
        self.recv_window_ms = recv_window_ms
        self.timeout_s = timeout_s
        self._on_auth_error = on_auth_error
        self.metrics: ExchangeMetrics = metrics or NullMetrics()
        self.max_queue_s = max_queue_s
        self._on_ban = on_ban
        self.on_wait: Callable[[], None] | None = None  # called while queued in the limiter
        # called when a request ends (answered or not): progress, for a slow start-up
        self.on_progress: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._client: _ThreadSafeClient | None = None
        self._creds: tuple[Any, Any] | None = None
        self.clients_built = 0

    # --- the python-binance client ----------------------------------------------------------
    def _build(self, key: str, secret: str) -> _ThreadSafeClient:
        client = _ThreadSafeClient(
            key, secret, requests_params={"timeout": self.timeout_s}, ping=False
        )
        client.API_URL = self.base_url + "/api"
        client.MARGIN_API_URL = self.base_url + "/sapi"
        # the futures API under the same base URL (a client aimed at fapi.binance.com, or the
        # local fake): never python-binance's built-in production futures host
        client.FUTURES_URL = self.base_url + "/fapi"
        client.REQUEST_RECVWINDOW = self.recv_window_ms
        # Environment proxies and CA bundle are read once here, not on every request
        # (requests re-scans os.environ per call when trust_env is on: ~0.2 ms a request).
        session = client.session
        session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if ca_bundle:
            session.verify = ca_bundle
        session.trust_env = False
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
        client.session.mount("http://", adapter)
        client.session.mount("https://", adapter)
        return client

    def _current(self) -> _ThreadSafeClient:
        creds = self._credentials()
        with self._lock:
            if self._client is None or self._creds is None or creds != self._creds:
                key, secret = creds
                if not key or not secret:
                    raise AuthError("no Binance API key/secret available from the secret source")
                old = self._client
                self._client = self._build(key.reveal(), secret.reveal())
                self._creds = creds
                self.clients_built += 1
                if old is not None:
                    old.session.close()
                    log.info("Binance credentials changed: client rebuilt")
            client = self._client
        client.timestamp_offset = self.timesync.offset_ms
        return client

    def ws_signed(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """`params` plus ``apiKey`` and ``signature`` for a SIGNED WebSocket API request,
        signed with this client's key as it is now (read from the provider per call, so a
        rotated key is used from the next request on). The secret is revealed only here and
        kept nowhere; the caller gets the key (not secret) and the signature."""
        key, secret = self._credentials()
        if not key or not secret:
            raise AuthError("no Binance API key/secret available from the secret source")
        signed = {**params, "apiKey": key.reveal()}
        signed["signature"] = ws_signature(secret.reveal(), signed)
        return signed

    @staticmethod
    def last_sent_ms() -> int | None:
        """The `timestamp` the last signed request of this thread carried."""
        return getattr(_CALL, "sent_ms", None)

    # --- calls ------------------------------------------------------------------------------
    def sync_time(self) -> int:
        """Measure the server-time offset (GET /api/v3/time); applied to every signed call."""
        return self.timesync.sync(lambda: int(self.call(ep_.TIME, "get_server_time")["serverTime"]))

    def call(
        self,
        endpoint: Endpoint,
        method: str,
        *,
        low_priority: bool = False,
        before_send: Callable[[], None] | None = None,
        **params: Any,
    ) -> Any:
        """Send one request through the limiter; see the module docstring for the error map.

        `before_send` runs after any wait in the limiter, right before the request leaves;
        a `BrokerError` from it stops the request (nothing sent).

        Every failed request is counted once (`count_error`, the daemon's
        ``tradewarden_errors_total``) by `error_kind`, so an outage counts one error per
        request it fails, not one per loop round; the exception is marked ``counted``."""
        try:
            return self._call(endpoint, method, low_priority, before_send, params)
        except BrokerError as exc:
            kind = error_kind(exc)
            count = getattr(self.metrics, "count_error", None)
            if kind is not None and count is not None and not getattr(exc, "counted", False):
                count(kind)
                exc.counted = True
            raise

    def _call(
        self,
        endpoint: Endpoint,
        method: str,
        low_priority: bool,
        before_send: Callable[[], None] | None,
        params: dict[str, Any],
    ) -> Any:
        for attempt in (1, 2):
            client = self._current()
            self.limiter.acquire(
                endpoint.weight,
                endpoint.orders,
                low_priority=low_priority,
                max_wait=self.max_queue_s,
                on_wait=self.on_wait,
            )
            if before_send is not None:
                before_send()
            _CALL.sent_ms = None
            _CALL.response = None
            _CALL.granted = self.limiter.clock.now()
            started = time.perf_counter()
            try:
                result = getattr(client, method)(**dict(params))
            except BinanceAPIException as exc:
                self._after(endpoint, started, exc.response)
                if exc.code == TIMESTAMP_CODE and attempt == 1:
                    log.warning("timestamp outside recvWindow (-1021): re-syncing server time")
                    self.sync_time()
                    continue
                raise self._map(endpoint, exc) from None
            except BinanceRequestException:
                self._after(endpoint, started, getattr(_CALL, "response", None))
                raise TransportError(f"{endpoint.name}: unreadable answer") from None
            except requests.RequestException as exc:
                self._after(endpoint, started, None)
                raise TransportError(f"{endpoint.name}: no answer ({type(exc).__name__})") from None
            self._after(endpoint, started, getattr(_CALL, "response", None))
            return result
        raise BrokerError(f"{endpoint.name}: unreachable retry state")  # pragma: no cover

    def _after(self, endpoint: Endpoint, started: float, response: Any) -> None:
        self.metrics.observe_latency(endpoint.name, time.perf_counter() - started)
        if self.on_progress is not None:
            self.on_progress()
        status = int(getattr(response, "status_code", 0) or 0)
        self.metrics.count_response(status)
        headers = getattr(response, "headers", None)
        if headers is None or endpoint.sapi:
            return
        self.limiter.observe(headers, sent=getattr(_CALL, "granted", None))
        used = headers.get("X-MBX-USED-WEIGHT-1M")
        budget = self.limiter.budget()
        if used is not None and used.isdigit():
            self.metrics.set_weight(int(used), budget)

    def _map(self, endpoint: Endpoint, exc: BinanceAPIException) -> BrokerError:
        status, code = int(exc.status_code), exc.code
        msg = str(exc.message or "")[:200]
        headers = getattr(exc.response, "headers", None)
        if status == 429 and code == ORDER_RATE_CODE:
            secs = self.limiter.pause_orders(_retry_after(headers))
            log.error("too many new orders (-1015): new orders paused", extra={"seconds": secs})
            return RateLimitedError(
                f"{endpoint.name}: HTTP 429 (-1015) {msg}; new orders paused {secs:.0f}s",
                code=ORDER_RATE_CODE,
                retry_after=secs,
            )
        if status == WAF_STATUS:
            secs = self.limiter.pause(_retry_after(headers) or WAF_BACKOFF_S, WAF_STATUS)
            log.error("HTTP 403 (WAF): all requests paused", extra={"seconds": secs})
            return RateLimitedError(
                f"{endpoint.name}: HTTP 403 (web application firewall); all requests paused"
                f" {secs:.0f}s",
                code=WAF_STATUS,
                retry_after=secs,
            )
        if status in (418, 429):
            secs = self.limiter.pause(_retry_after(headers), status)
            if status == 418 and self._on_ban is not None:
                self._on_ban(secs)
            log.error(
                "exchange rate limit hit: all requests paused",
                extra={"status": status, "code": code, "retry_after": secs},
            )
            return RateLimitedError(
                f"{endpoint.name}: HTTP {status} ({code}) {msg}; all requests paused {secs:.0f}s",
                code=status,
                retry_after=secs,
            )
        if code in AUTH_CODES:
            if self._on_auth_error is not None:
                self._on_auth_error(code)
            return AuthError(f"{endpoint.name}: {msg}", code=code)
        if code in UNKNOWN_OUTCOME_CODES:
            return TransportError(f"{endpoint.name}: {msg} ({code})", code=code, status=status)
        lowered = msg.lower()
        if code == MAINTENANCE_CODE or (
            status == 503 and ("unavailable" in lowered or "maintenance" in lowered)
        ):
            return ExchangeUnavailableError(f"{endpoint.name}: {msg}", code=code or status)
        if status >= 500:
            return TransportError(f"{endpoint.name}: HTTP {status} {msg}", code=code, status=status)
        return BrokerError(f"{endpoint.name}: {msg}", code=code)
