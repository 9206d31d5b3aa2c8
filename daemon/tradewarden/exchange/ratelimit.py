"""One weighted rate limiter per process, shared by every bot and broker instance.

Each exchange limit (REQUEST_WEIGHT per minute, ORDERS per 10 s and per day, RAW_REQUESTS
per 5 minutes, as exchangeInfo lists them) is a token bucket whose spent tokens come back
exactly one interval after they were spent (a sliding window). That is the form of a token
bucket that can never overrun Binance's fixed, interval-aligned counters: whatever a fixed
window counts is inside some sliding window we kept under budget.

- `acquire` blocks the caller until every bucket has room (it queues, it never exceeds);
  the budget is the limit minus a safety margin, and low-priority callers (polls,
  reconciliation) stop at a lower ceiling so orders and cancels always find room.
- `observe` corrects the buckets from the `X-MBX-USED-WEIGHT-*` / `X-MBX-ORDER-COUNT-*`
  headers: if the exchange counts more than we do (another process on the IP, a restart),
  the difference is charged locally.
- `pause` (on 429/418) stops every request of the process until `Retry-After` has passed.

The clock is injectable so the burst benchmark runs in the fake exchange's simulated time.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from tradewarden.exchange.errors import RateLimitedError


class LimitKind(StrEnum):
    REQUEST_WEIGHT = "REQUEST_WEIGHT"
    ORDERS = "ORDERS"
    RAW_REQUESTS = "RAW_REQUESTS"


WAIT_STEP_S = 1.0  # a long queue is slept in steps this long when someone wants to know
INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}
_HEADER_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_HEADER_RE = re.compile(r"^x-mbx-(used-weight|order-count)-(\d+)([smhd])$", re.IGNORECASE)
_HEADER_KINDS = {"used-weight": LimitKind.REQUEST_WEIGHT, "order-count": LimitKind.ORDERS}


@dataclass(frozen=True, slots=True)
class RateLimit:
    kind: LimitKind
    interval_s: int
    limit: int


DEFAULT_LIMITS: tuple[RateLimit, ...] = (
    RateLimit(LimitKind.REQUEST_WEIGHT, 60, 6000),
    RateLimit(LimitKind.ORDERS, 10, 50),
    RateLimit(LimitKind.ORDERS, 86_400, 160_000),
    RateLimit(LimitKind.RAW_REQUESTS, 300, 300_000),
)
# USD-M futures (fapi.binance.com, its own pool; general-info "LIMITS")
FUTURES_DEFAULT_LIMITS: tuple[RateLimit, ...] = (
    RateLimit(LimitKind.REQUEST_WEIGHT, 60, 2400),
    RateLimit(LimitKind.ORDERS, 10, 300),
    RateLimit(LimitKind.ORDERS, 60, 1200),
)


def limits_from_exchange_info(rate_limits: Iterable[Mapping[str, Any]]) -> tuple[RateLimit, ...]:
    """The `rateLimits` array of exchangeInfo as `RateLimit`s (unknown kinds are ignored)."""
    out = []
    for item in rate_limits:
        try:
            kind = LimitKind(str(item["rateLimitType"]))
            interval = INTERVAL_SECONDS[str(item["interval"])] * int(item["intervalNum"])
            out.append(RateLimit(kind, interval, int(item["limit"])))
        except (KeyError, ValueError, TypeError):
            continue
    return tuple(out)


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def sleep_until(self, deadline: float) -> None:
        """Return once `now() >= deadline` (a simulated clock may simply advance)."""
        ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class _Bucket:
    """Tokens spent in the last `interval` seconds, kept in slots of interval/100 s.

    A slot's tokens come back when its *end* is one interval old, so the sum here is never
    below what any interval-long window of the exchange can count."""

    SLOTS = 100

    def __init__(self, limit: RateLimit, margin: float, low_share: float) -> None:
        self.limit = limit
        self.budget = max(1, math.floor(limit.limit * (1.0 - margin)))
        self.low_budget = max(1, math.floor(self.budget * low_share))
        self.width = limit.interval_s / self.SLOTS
        self.slots: deque[list[float]] = deque()  # [slot_end, tokens]
        self.used = 0.0

    def _expire(self, now: float) -> None:
        while self.slots and self.slots[0][0] + self.limit.interval_s <= now:
            self.used -= self.slots.popleft()[1]
        if not self.slots:
            self.used = 0.0

    def wait(self, now: float, tokens: float, low_priority: bool) -> float:
        """Seconds until `tokens` fit (0 if they fit now)."""
        self._expire(now)
        ceiling = self.low_budget if low_priority else self.budget
        excess = self.used + tokens - ceiling
        if excess <= 0:
            return 0.0
        freed = 0.0
        for end, n in self.slots:
            freed += n
            if freed >= excess:
                return end + self.limit.interval_s - now
        return self.limit.interval_s  # only reachable when tokens > ceiling (guarded)

    def take(self, at: float, tokens: float) -> None:
        """Charge `tokens` spent at time `at` (normally now; earlier for a correction)."""
        if tokens <= 0:
            return
        end = (math.floor(at / self.width) + 1) * self.width
        i = len(self.slots)
        while i > 0 and self.slots[i - 1][0] > end:
            i -= 1
        if i > 0 and self.slots[i - 1][0] == end:
            self.slots[i - 1][1] += tokens
        else:
            self.slots.insert(i, [end, tokens])
        self.used += tokens

    def correct(self, now: float, counted: float, sent: float) -> None:
        """The exchange counted `counted` when it handled a request we sent at `sent`.

        It handled it somewhere in [sent, now], so compare with everything we had spent
        from one interval before `sent` up to now; any excess is usage we did not know of
        (another process on the IP, a restart) and is charged as spent at `sent`."""
        interval = self.limit.interval_s
        ours = sum(n for end, n in self.slots if end + interval > sent)
        if counted > ours:
            self.take(sent, counted - ours)
        self._expire(now)


class RateLimiter:
    """Thread-safe, process-wide. See the module docstring."""

    def __init__(
        self,
        limits: Iterable[RateLimit] = DEFAULT_LIMITS,
        *,
        clock: Clock | None = None,
        margin: float = 0.05,
        low_priority_share: float = 0.8,
        default_retry_after: float = 60.0,
    ) -> None:
        if not 0 <= margin < 1 or not 0 < low_priority_share <= 1:
            raise ValueError("margin must be in [0, 1) and low_priority_share in (0, 1]")
        self.clock: Clock = clock or MonotonicClock()
        self.margin = margin
        self.low_share = low_priority_share
        self.default_retry_after = default_retry_after
        self._lock = threading.Lock()
        self._buckets: dict[tuple[LimitKind, int], _Bucket] = {}
        self._paused_until = 0.0
        self._pause_status: int | None = None
        self._orders_paused_until = 0.0  # -1015: new orders only; reads and cancels go on
        self.configure(limits)

    # --- configuration ----------------------------------------------------------------------
    def configure(self, limits: Iterable[RateLimit]) -> None:
        """Adopt the exchange's limits (from exchangeInfo); usage so far is kept."""
        limits = tuple(limits)
        with self._lock:
            old = self._buckets
            new: dict[tuple[LimitKind, int], _Bucket] = {}
            for lim in limits:
                bucket = _Bucket(lim, self.margin, self.low_share)
                prev = old.get((lim.kind, lim.interval_s))
                if prev is not None:
                    bucket.slots, bucket.used = prev.slots, prev.used
                new[(lim.kind, lim.interval_s)] = bucket
            self._buckets = new

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        with self._lock:
            return tuple(b.limit for b in self._buckets.values())

    def budget(self, kind: LimitKind = LimitKind.REQUEST_WEIGHT, interval_s: int = 60) -> int:
        with self._lock:
            bucket = self._buckets.get((kind, interval_s))
            return bucket.budget if bucket else 0

    # --- the request path -------------------------------------------------------------------
    def _tokens(self, kind: LimitKind, weight: int, orders: int) -> float:
        if kind is LimitKind.REQUEST_WEIGHT:
            return weight
        if kind is LimitKind.ORDERS:
            return orders
        return 1

    def acquire(
        self,
        weight: int,
        orders: int = 0,
        *,
        low_priority: bool = False,
        max_wait: float | None = None,
        on_wait: Callable[[], None] | None = None,
    ) -> float:
        """Block until the request fits every bucket, then charge it. Returns seconds waited.

        Raises `RateLimitedError` (nothing charged) if that would take longer than
        `max_wait`, e.g. while a 418 ban runs for minutes. A long wait is slept in steps of
        at most `WAIT_STEP_S`, calling `on_wait` after each (the daemon feeds the systemd
        watchdog from it: a queue of a minute is a wait, not a hang).
        """
        started = self.clock.now()
        while True:
            with self._lock:
                now = self.clock.now()
                orders_wait = self._orders_paused_until - now
                if orders > 0 and orders_wait > 0:
                    # refused at once: a queued order would hold up the reads behind it
                    raise RateLimitedError(
                        f"new orders paused after -1015 for another {orders_wait:.1f}s",
                        code=-1015,
                        retry_after=orders_wait,
                    )
                wait = self._paused_until - now
                status = self._pause_status if wait > 0 else None
                if wait <= 0:
                    wait = 0.0
                    for bucket in self._buckets.values():
                        tokens = self._tokens(bucket.limit.kind, weight, orders)
                        ceiling = bucket.low_budget if low_priority else bucket.budget
                        if tokens > ceiling:
                            raise ValueError(
                                f"a request of {tokens:g} can never fit the {bucket.limit.kind}"
                                f" budget of {ceiling} per {bucket.limit.interval_s}s"
                            )
                        wait = max(wait, bucket.wait(now, tokens, low_priority))
                    if wait <= 0:
                        for bucket in self._buckets.values():
                            bucket.take(now, self._tokens(bucket.limit.kind, weight, orders))
                        return now - started
                deadline = now + wait
            if max_wait is not None and deadline - started > max_wait:
                if status is not None:
                    raise RateLimitedError(
                        f"requests paused after HTTP {status} for another {wait:.1f}s",
                        code=status,
                        retry_after=wait,
                    )
                raise RateLimitedError(
                    f"request budget exhausted for {wait:.1f}s", code=None, retry_after=wait
                )
            if on_wait is None:
                self.clock.sleep_until(deadline)
            else:
                self.clock.sleep_until(min(deadline, now + WAIT_STEP_S))
                on_wait()

    def observe(self, headers: Mapping[str, str], sent: float | None = None) -> None:
        """Correct the buckets from the exchange's usage headers of a request that left at
        clock time `sent` (default: now; pass the limiter clock's time when `acquire` returned)."""
        counted: list[tuple[LimitKind, int, float]] = []
        for name, value in headers.items():
            m = _HEADER_RE.match(name)
            if not m:
                continue
            try:
                n = float(value)
            except ValueError:
                continue
            interval = int(m.group(2)) * _HEADER_UNITS[m.group(3).lower()]
            counted.append((_HEADER_KINDS[m.group(1).lower()], interval, n))
        if not counted:
            return
        with self._lock:
            now = self.clock.now()
            at = now if sent is None else min(sent, now)
            for kind, interval, n in counted:
                bucket = self._buckets.get((kind, interval))
                if bucket is not None:
                    bucket.correct(now, n, at)

    def pause(self, seconds: float | None, status: int) -> float:
        """Stop every request of the process for `seconds` (Retry-After). Returns the pause."""
        secs = self.default_retry_after if seconds is None or seconds <= 0 else float(seconds)
        with self._lock:
            until = self.clock.now() + secs
            if until > self._paused_until:
                self._paused_until = until
                self._pause_status = status
        return secs

    def pause_orders(self, seconds: float | None) -> float:
        """Stop new orders only (-1015 TOO_MANY_ORDERS, errors.md) for `seconds`; reads and
        cancels go on. Returns the pause."""
        secs = self.default_retry_after if seconds is None or seconds <= 0 else float(seconds)
        with self._lock:
            self._orders_paused_until = max(self._orders_paused_until, self.clock.now() + secs)
        return secs

    def paused_for(self) -> float:
        with self._lock:
            return max(0.0, self._paused_until - self.clock.now())

    def used(self, kind: LimitKind = LimitKind.REQUEST_WEIGHT, interval_s: int = 60) -> float:
        """Tokens charged in the current sliding window of that limit."""
        with self._lock:
            bucket = self._buckets.get((kind, interval_s))
            if bucket is None:
                return 0.0
            bucket._expire(self.clock.now())
            return bucket.used


_PROCESS_LIMITERS: dict[str, RateLimiter] = {}
_PROCESS_LOCK = threading.Lock()


def process_limiter(pool: str = "spot") -> RateLimiter:
    """The limiter every broker of this process shares for one host's pool (created on
    first use): ``"spot"`` (api.binance.com and /sapi) or ``"fapi"`` (USD-M futures,
    fapi.binance.com: its own REQUEST_WEIGHT 2400 / minute and ORDERS 300 / 10 s, 1200 /
    minute, until its exchangeInfo says otherwise)."""
    with _PROCESS_LOCK:
        limiter = _PROCESS_LIMITERS.get(pool)
        if limiter is None:
            limiter = RateLimiter(FUTURES_DEFAULT_LIMITS if pool == "fapi" else DEFAULT_LIMITS)
            _PROCESS_LIMITERS[pool] = limiter
        return limiter
