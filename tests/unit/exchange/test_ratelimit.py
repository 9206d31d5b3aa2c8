"""The process rate limiter, on a simulated clock: queues, never exceeds, uses the budget."""

from __future__ import annotations

import math
import threading
from collections import defaultdict

import pytest

from tradewarden.exchange.errors import RateLimitedError
from tradewarden.exchange.ratelimit import (
    WAIT_STEP_S,
    LimitKind,
    RateLimit,
    RateLimiter,
    limits_from_exchange_info,
    process_limiter,
)


class SimClock:
    """Time moves only when a caller sleeps (to its deadline)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        with self.lock:
            return self.t

    def sleep_until(self, deadline: float) -> None:
        with self.lock:
            self.sleeps.append(deadline)
            self.t = max(self.t, deadline)


WEIGHT_ONLY = (RateLimit(LimitKind.REQUEST_WEIGHT, 60, 1000),)


def fixed_window_max(events: list[tuple[float, float]], size: float, phase: float) -> float:
    """The largest count any fixed, aligned window (offset by `phase`) sees."""
    counts: dict[int, float] = defaultdict(float)
    for t, n in events:
        counts[math.floor((t - phase) / size)] += n
    return max(counts.values(), default=0.0)


def test_budget_is_limit_minus_margin() -> None:
    lim = RateLimiter(WEIGHT_ONLY, clock=SimClock(), margin=0.05)
    assert lim.budget() == 950


def test_fits_without_waiting_then_queues_until_tokens_return() -> None:
    clock = SimClock()
    lim = RateLimiter(WEIGHT_ONLY, clock=clock, margin=0.0)
    assert lim.acquire(600) == 0.0
    assert lim.acquire(400) == 0.0
    assert clock.sleeps == []
    waited = lim.acquire(10)  # the budget is spent: wait for the first tokens to return
    assert 60.0 <= waited <= 60.6 + 1e-9
    assert lim.used() == pytest.approx(10 + 0)  # the first 1000 have expired by now


def test_sustained_demand_never_exceeds_any_fixed_window_and_uses_the_budget() -> None:
    clock = SimClock(start=17.3)
    lim = RateLimiter(WEIGHT_ONLY, clock=clock, margin=0.05)
    events = []
    while clock.now() < 17.3 + 600:
        lim.acquire(7)
        events.append((clock.now(), 7))
    for phase in (0.0, 13.7, 29.99, 45.0):
        assert fixed_window_max(events, 60.0, phase) <= 1000
    spent = sum(n for t, n in events if t < 17.3 + 600)
    assert spent / (1000 * 10) >= 0.9


def test_orders_have_their_own_bucket() -> None:
    clock = SimClock()
    limits = (
        RateLimit(LimitKind.REQUEST_WEIGHT, 60, 6000),
        RateLimit(LimitKind.ORDERS, 10, 10),
    )
    lim = RateLimiter(limits, clock=clock, margin=0.0)
    for _ in range(10):
        assert lim.acquire(1, orders=1) == 0.0
    assert lim.acquire(4) == 0.0  # a query is not an order: no wait
    assert lim.acquire(1, orders=1) > 9.0  # the 11th order waits for the 10 s window


def test_low_priority_keeps_room_for_orders() -> None:
    clock = SimClock()
    lim = RateLimiter(WEIGHT_ONLY, clock=clock, margin=0.0, low_priority_share=0.8)
    lim.acquire(800, low_priority=True)
    with pytest.raises(RateLimitedError):
        lim.acquire(1, low_priority=True, max_wait=1.0)
    assert lim.acquire(200) == 0.0  # an order still goes through at once


def test_a_long_queue_is_waited_in_steps_that_report_progress() -> None:
    """With `on_wait`, a minute in the queue is slept in steps of at most WAIT_STEP_S, the
    hook called after each (the daemon feeds the systemd watchdog from it); same result."""
    clock = SimClock()
    lim = RateLimiter(WEIGHT_ONLY, clock=clock, margin=0.0)
    lim.acquire(1000)
    calls: list[float] = []
    waited = lim.acquire(10, on_wait=lambda: calls.append(clock.now()))
    assert 60.0 <= waited <= 60.6 + 1e-9
    assert len(calls) >= 60
    steps = [b - a for a, b in zip([1000.0, *calls], calls, strict=False)]
    assert max(steps) <= WAIT_STEP_S + 1e-9
    assert lim.used() == pytest.approx(10)


def test_max_wait_refuses_without_charging() -> None:
    lim = RateLimiter(WEIGHT_ONLY, clock=SimClock(), margin=0.0)
    lim.acquire(1000)
    with pytest.raises(RateLimitedError) as info:
        lim.acquire(1, max_wait=5.0)
    assert info.value.retry_after > 5.0
    assert lim.used() == 1000


def test_request_bigger_than_the_budget_is_an_error() -> None:
    lim = RateLimiter(WEIGHT_ONLY, clock=SimClock(), margin=0.05)
    with pytest.raises(ValueError):
        lim.acquire(951)


def test_pause_stops_every_caller_until_retry_after() -> None:
    clock = SimClock()
    lim = RateLimiter(WEIGHT_ONLY, clock=clock)
    lim.pause(30, 418)
    assert lim.paused_for() == pytest.approx(30)
    with pytest.raises(RateLimitedError) as info:
        lim.acquire(1, max_wait=10)
    assert info.value.code == 418
    start = clock.now()
    lim.acquire(1)  # no max_wait: blocks until the pause is over
    assert clock.now() - start == pytest.approx(30)
    assert lim.paused_for() == 0


def test_pause_without_retry_after_uses_the_default() -> None:
    lim = RateLimiter(WEIGHT_ONLY, clock=SimClock(), default_retry_after=42)
    assert lim.pause(None, 429) == 42
    assert lim.paused_for() == pytest.approx(42)


def test_a_shorter_pause_does_not_shorten_a_running_ban() -> None:
    lim = RateLimiter(WEIGHT_ONLY, clock=SimClock())
    lim.pause(120, 418)
    lim.pause(5, 429)
    assert lim.paused_for() == pytest.approx(120)


def test_headers_charge_what_the_exchange_counted_beyond_us() -> None:
    lim = RateLimiter(
        (
            RateLimit(LimitKind.REQUEST_WEIGHT, 60, 1000),
            RateLimit(LimitKind.ORDERS, 10, 50),
        ),
        clock=SimClock(),
        margin=0.0,
    )
    lim.acquire(10)
    lim.observe({"X-MBX-USED-WEIGHT-1M": "700", "x-mbx-order-count-10s": "45", "Date": "x"})
    assert lim.used() == 700
    assert lim.used(LimitKind.ORDERS, 10) == 45
    lim.observe({"X-MBX-USED-WEIGHT-1M": "20"})  # lower than ours: we stay conservative
    assert lim.used() == 700
    with pytest.raises(RateLimitedError):
        lim.acquire(301, max_wait=1)


def test_limits_from_exchange_info() -> None:
    info = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
        {"rateLimitType": "SOMETHING_NEW", "interval": "MINUTE", "intervalNum": 1, "limit": 1},
    ]
    assert limits_from_exchange_info(info) == (
        RateLimit(LimitKind.REQUEST_WEIGHT, 60, 6000),
        RateLimit(LimitKind.ORDERS, 10, 50),
        RateLimit(LimitKind.ORDERS, 86400, 160000),
        RateLimit(LimitKind.RAW_REQUESTS, 300, 300000),
    )


def test_configure_keeps_usage_and_applies_the_new_limit() -> None:
    lim = RateLimiter(WEIGHT_ONLY, clock=SimClock(), margin=0.0)
    lim.acquire(500)
    lim.configure((RateLimit(LimitKind.REQUEST_WEIGHT, 60, 600),))
    assert lim.used() == 500
    with pytest.raises(RateLimitedError):
        lim.acquire(101, max_wait=1)


def test_threads_sharing_one_limiter_never_overrun() -> None:
    clock = SimClock()
    lim = RateLimiter(WEIGHT_ONLY, clock=clock, margin=0.05)
    events: list[tuple[float, float]] = []
    lock = threading.Lock()
    end = clock.now() + 300

    def bot(weight: int) -> None:
        while clock.now() < end:
            lim.acquire(weight)
            with lock:
                events.append((clock.now(), weight))

    threads = [threading.Thread(target=bot, args=(w,)) for w in (1, 2, 5, 20, 7, 3, 4, 6, 9, 10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    for phase in (0.0, 7.5, 31.0):
        assert fixed_window_max(events, 60.0, phase) <= 1000
    spent = sum(n for t, n in events if t < end)
    assert spent / (1000 * 5) >= 0.9


def test_process_limiter_is_one_object() -> None:
    assert process_limiter() is process_limiter()
