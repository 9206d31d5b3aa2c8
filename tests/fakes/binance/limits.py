"""Server clock, request weights and the rate limits (429 / 418) of the fake exchange.

Windows are **fixed and aligned to the interval**, as Binance counts them: the weight
counter of the minute starting at ``hh:mm:00.000`` resets at ``hh:(mm+1):00.000``; the
10-second order counter at every multiple of 10 s; the daily one at 00:00 UTC; raw
requests per 5-minute block. All of them read the server `Clock`, so in manual-clock mode
``advance_clock(60)`` opens a new weight window without waiting.

429 and the ban (418):
- a request that pushes a counter over its limit gets HTTP 429 (weight, raw requests:
  code -1003; orders: code -1015) with ``Retry-After`` = seconds until that window ends,
  and the IP enters *back-off* until then;
- each further request that would again get a 429 while the IP is in back-off is a
  *violation*; after ``ban_after`` violations the IP is banned: HTTP 418, code -1003,
  ``Retry-After`` = ban length. The ban length starts at ``ban_seconds`` and doubles with
  every new ban of that IP (capped at 3 days, as Binance does);
- while banned, every request of that IP gets 418 with the remaining ``Retry-After``.

Requests are counted (weight, raw) whether or not they then fail auth or validation;
requests answered 418 because of a ban are not.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

MINUTE_MS = 60_000
TEN_S_MS = 10_000
DAY_MS = 86_400_000
FIVE_MIN_MS = 300_000
MAX_BAN_S = 3 * 86_400


class Clock:
    """The server's two notions of time, in ms.

    - `now_ms`: the time the server *tells* (``/api/v3/time``, ``serverTime``, the
      ``timestamp``/``recvWindow`` check, order and trade times, klines) = real time + skew.
    - `base_ms`: the time the *limits* count in (weight/order windows, back-off, bans,
      auto-step of price paths) = real time, or in manual mode a clock that only moves on
      `advance`. So ``advance_clock(60)`` opens a new weight window, ends a 60 s ban and
      runs 60 s worth of auto-steps at once, while clients keep valid timestamps and never
      need to resync because of it.
    """

    def __init__(self, manual: bool = False) -> None:
        self.manual = manual
        self._manual_ms = int(time.time() * 1000)
        self.skew_ms = 0.0

    def base_ms(self) -> int:
        """Time for the rate-limit windows, bans and auto-step (manual or real)."""
        return self._manual_ms if self.manual else int(time.time() * 1000)

    def now_ms(self) -> int:
        """The server's time as it tells it: real time + skew."""
        return int(time.time() * 1000.0 + self.skew_ms)

    def set_manual(self, manual: bool) -> None:
        if manual and not self.manual:
            self._manual_ms = int(time.time() * 1000)
        self.manual = manual

    def advance(self, seconds: float) -> None:
        if not self.manual:
            raise ValueError("advance_clock needs manual_clock=True")
        if seconds < 0:
            raise ValueError("the manual clock only goes forward")
        self._manual_ms += round(seconds * 1000)  # whole ms: no float drift at boundaries


@dataclass
class LimitConfig:
    """The limits the fake enforces; defaults are Binance spot's."""

    weight_limit: int = 6000  # REQUEST_WEIGHT per 1 MINUTE, per IP
    orders_10s_limit: int = 50  # ORDERS per 10 SECOND, per account
    orders_1d_limit: int = 160_000  # ORDERS per 1 DAY, per account
    raw_requests_limit: int = 300_000  # RAW_REQUESTS per 5 MINUTE, per IP
    sapi_weight_limit: int = 12_000  # /sapi IP weight per minute (own pool)
    ban_after: int = 5  # 429-worthy requests tolerated during back-off before a 418
    ban_seconds: int = 120  # first ban; doubles per repeat

    def rate_limits_json(self) -> list[dict[str, Any]]:
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.weight_limit,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": self.orders_10s_limit,
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "DAY",
                "intervalNum": 1,
                "limit": self.orders_1d_limit,
            },
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": self.raw_requests_limit,
            },
        ]


def request_weight(method: str, path: str, params: dict[str, str]) -> int:
    """The weight Binance charges for one request (unknown endpoints cost 1)."""
    if path == "/api/v3/ticker/price":
        return 2 if params.get("symbol") else 4
    if path == "/api/v3/depth":
        try:
            limit = int(params.get("limit") or 100)
        except ValueError:
            limit = 100
        if limit <= 100:
            return 5
        if limit <= 500:
            return 25
        if limit <= 1000:
            return 50
        return 250
    if path == "/api/v3/openOrders":
        if method == "DELETE":
            return 1
        return 6 if params.get("symbol") else 80
    if path == "/api/v3/myTrades":
        return 5 if params.get("orderId") else 20
    if path == "/api/v3/order":
        return {"POST": 1, "GET": 4, "DELETE": 1}.get(method, 1)
    return {
        "/api/v3/ping": 1,
        "/api/v3/time": 1,
        "/api/v3/exchangeInfo": 20,
        "/api/v3/klines": 2,
        "/api/v3/avgPrice": 2,
        "/api/v3/account": 20,
        "/api/v3/account/commission": 20,
        "/api/v3/order/test": 1,
        "/api/v3/rateLimit/order": 40,
        "/sapi/v1/account/apiRestrictions": 1,
    }.get(path, 1)


class Window:
    """One fixed window counter: `count` within the block starting at `start`."""

    def __init__(self, size_ms: int) -> None:
        self.size_ms = size_ms
        self.start = 0
        self.count = 0

    def current(self, now: int) -> int:
        return self.count if now // self.size_ms * self.size_ms == self.start else 0

    def add(self, now: int, n: int) -> int:
        start = now // self.size_ms * self.size_ms
        if start != self.start:
            self.start, self.count = start, 0
        self.count += n
        return self.count

    def seconds_left(self, now: int) -> int:
        end = now // self.size_ms * self.size_ms + self.size_ms
        return max(1, math.ceil((end - now) / 1000))


@dataclass
class IpState:
    weight: Window = field(default_factory=lambda: Window(MINUTE_MS))
    sapi_weight: Window = field(default_factory=lambda: Window(MINUTE_MS))
    raw: Window = field(default_factory=lambda: Window(FIVE_MIN_MS))
    backoff_until: int = 0
    violations: int = 0
    banned_until: int = 0
    bans: int = 0


class Limited(Exception):  # noqa: N818 - it is an answer, not an error of ours
    """The request is refused with HTTP `status` (429/418), `code`, `msg`, `retry_after` s."""

    def __init__(self, status: int, code: int, msg: str, retry_after: int) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.retry_after = retry_after


class Limiter:
    """Per-IP weight/raw counters, per-account order counters, back-off and bans."""

    def __init__(self, config: LimitConfig) -> None:
        self.config = config
        self.ips: dict[str, IpState] = {}
        self.orders_10s = Window(TEN_S_MS)
        self.orders_1d = Window(DAY_MS)
        self.bans_total = 0

    def ip(self, ip: str) -> IpState:
        return self.ips.setdefault(ip, IpState())

    def check_ban(self, ip: str, now: int) -> None:
        st = self.ip(ip)
        if now < st.banned_until:
            raise Limited(
                418,
                -1003,
                f"Way too much request weight used; IP banned until {st.banned_until}. "
                "Please use WebSocket Streams for live updates to avoid bans.",
                max(1, math.ceil((st.banned_until - now) / 1000)),
            )

    def _too_many(self, st: IpState, now: int, limited: Limited) -> Limited:
        """A 429 is due: turn it into a ban if the IP ignored an earlier Retry-After."""
        if now < st.backoff_until:
            st.violations += 1
            if st.violations >= self.config.ban_after:
                st.bans += 1
                self.bans_total += 1
                length = min(MAX_BAN_S, self.config.ban_seconds * 2 ** (st.bans - 1))
                st.banned_until = now + length * 1000
                st.violations = 0
                st.backoff_until = 0
                return Limited(
                    418,
                    -1003,
                    f"Way too much request weight used; IP banned until {st.banned_until}. "
                    "Please use WebSocket Streams for live updates to avoid bans.",
                    length,
                )
        else:
            st.violations = 0
        st.backoff_until = max(st.backoff_until, now + limited.retry_after * 1000)
        return limited

    def charge(self, ip: str, now: int, weight: int, *, sapi: bool = False) -> None:
        """Count one request of `weight`; raises `Limited` for a 429/418."""
        st = self.ip(ip)
        raw = st.raw.add(now, 1)
        used = (st.sapi_weight if sapi else st.weight).add(now, weight)
        if raw > self.config.raw_requests_limit:
            raise self._too_many(
                st,
                now,
                Limited(
                    429,
                    -1003,
                    f"Too many requests; current limit is {self.config.raw_requests_limit} "
                    "requests per 5 MINUTE.",
                    st.raw.seconds_left(now),
                ),
            )
        limit = self.config.sapi_weight_limit if sapi else self.config.weight_limit
        if used > limit:
            raise self._too_many(
                st,
                now,
                Limited(
                    429,
                    -1003,
                    f"Too much request weight used; current limit is {limit} request weight "
                    "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
                    "polling the API.",
                    st.weight.seconds_left(now),
                ),
            )

    def charge_order(self, ip: str, now: int) -> None:
        """Count one new order against the account's ORDERS limits."""
        st = self.ip(ip)
        n10 = self.orders_10s.add(now, 1)
        n1d = self.orders_1d.add(now, 1)
        if n10 > self.config.orders_10s_limit:
            raise self._too_many(
                st,
                now,
                Limited(
                    429,
                    -1015,
                    f"Too many new orders; current limit is {self.config.orders_10s_limit} "
                    "orders per 10 SECOND.",
                    self.orders_10s.seconds_left(now),
                ),
            )
        if n1d > self.config.orders_1d_limit:
            raise self._too_many(
                st,
                now,
                Limited(
                    429,
                    -1015,
                    f"Too many new orders; current limit is {self.config.orders_1d_limit} "
                    "orders per 1 DAY.",
                    self.orders_1d.seconds_left(now),
                ),
            )

    def weight_used(self, ip: str, now: int, *, sapi: bool = False) -> int:
        st = self.ips.get(ip)
        if st is None:
            return 0
        return (st.sapi_weight if sapi else st.weight).current(now)

    def total_weight_used(self, now: int) -> int:
        return sum(st.weight.current(now) for st in self.ips.values())

    def lift_bans(self) -> None:
        for st in self.ips.values():
            st.banned_until = 0
            st.backoff_until = 0
            st.violations = 0
