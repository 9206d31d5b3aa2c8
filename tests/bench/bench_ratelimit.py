"""Burst benchmark: 10 bots sharing the process rate limiter against the fake exchange.

    uv run --frozen python -m tests.bench.bench_ratelimit

The fake runs its limit windows on its manual clock and the limiter runs on the same
simulated time (a clock whose sleeps advance the fake's clock), so two simulated minutes
take a few real seconds. Everything goes over real HTTP through `ExchangeClient`
(python-binance, usage headers fed back to the limiter).

1. REQUEST_WEIGHT: each bot asks for 10x its share of 6000/min (together 10x the limit)
   with a mix of weighted calls for 2 simulated minutes.
2. ORDERS: each bot sends orders as fast as it is let for 30 simulated seconds against
   50 orders / 10 s.

Targets: 0 responses 429/418 from the fake; what the fake counted >= 90% of the limit.
Exits non-zero if a target is missed.
"""

from __future__ import annotations

import bisect
import math
import random
import sys
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from tests.bench.table import row
from tests.fakes.binance import FakeBinance
from tradewarden.exchange import endpoints as ep
from tradewarden.exchange.client import ExchangeClient
from tradewarden.exchange.endpoints import Endpoint
from tradewarden.exchange.ratelimit import RateLimiter, limits_from_exchange_info
from tradewarden.secrets.value import Secret
from tradewarden.trading.client_ids import ClientOrderIds

BOTS = 10
WEIGHT_LIMIT = 6000
WEIGHT_SECONDS = 120.0
ORDERS_LIMIT = 50
ORDERS_SECONDS = 30.0
DEMAND_FACTOR = 10
TARGET_RATIO = 0.90

MIX: list[tuple[Endpoint, str, dict[str, object]]] = [
    (ep.KLINES, "get_klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": 5}),
    (Endpoint("GET /api/v3/depth", 5), "get_order_book", {"symbol": "BTCUSDT", "limit": 50}),
    (ep.EXCHANGE_INFO, "get_exchange_info", {}),
    (ep.OPEN_ORDERS_SYMBOL, "get_open_orders", {"symbol": "ETHUSDT"}),
    (ep.ACCOUNT, "get_account", {}),
    (ep.PING, "ping", {}),
]


class FakeExchangeClock:
    """Simulated seconds shared by the limiter and the fake's manual (limit) clock.

    A discrete-event clock: time jumps to the earliest wake-up only once every bot is
    waiting in the limiter (none has a request in flight), as in real time where the
    in-flight requests finish long before a sleeper wakes. `marks` maps the fake's request
    log onto simulated time: entries from index n on were counted at simulated second t."""

    def __init__(self, fx: FakeBinance, parties: int) -> None:
        self.fx = fx
        self.t = 0.0
        self.live = parties
        self.sleeping: dict[int, float] = {}
        self.cond = threading.Condition()
        self.marks: list[tuple[int, float]] = [(0, 0.0)]

    def now(self) -> float:
        with self.cond:
            return self.t

    def sleep_until(self, deadline: float) -> None:
        with self.cond:
            if deadline <= self.t:
                return
            me = threading.get_ident()
            self.sleeping[me] = deadline
            self._advance_if_all_wait()
            while self.t < deadline:
                self.cond.wait()
            del self.sleeping[me]

    def retire(self) -> None:
        with self.cond:
            self.live -= 1
            self._advance_if_all_wait()

    def _advance_if_all_wait(self) -> None:
        if not self.sleeping or len(self.sleeping) < self.live:
            return
        nxt = min(self.sleeping.values())
        if nxt > self.t:
            seen = int(self.fx.stats()["requests"])
            self.fx.advance_clock(nxt - self.t)
            self.t = nxt
            self.marks.append((seen, nxt))
        self.cond.notify_all()

    def sim_time_of(self, index: int) -> float:
        return self.marks[bisect.bisect_right(self.marks, (index, math.inf)) - 1][1]


@dataclass
class Result:
    achieved: float  # what the fake counted inside the simulated period
    allowed: float
    requests: int
    busiest_window: float
    status_429: int
    status_418: int

    @property
    def ratio(self) -> float:
        return self.achieved / self.allowed

    @property
    def ok(self) -> bool:
        return self.status_429 == 0 and self.status_418 == 0 and self.ratio >= TARGET_RATIO


Work = Callable[[ExchangeClient, int, random.Random], bool]  # False: this bot is done


def burst(
    seconds: float, window_s: int, limit: int, work: Work, count: Callable[[dict], float]
) -> Result:
    """Run BOTS threads doing `work` until `seconds` of simulated time have passed."""
    with FakeBinance(manual_clock=True, balances={"USDT": 1e9}) as fx:
        clock = FakeExchangeClock(fx, BOTS)
        limiter = RateLimiter(clock=clock)
        creds = (Secret(fx.api_key), Secret(fx.api_secret))

        def client() -> ExchangeClient:
            return ExchangeClient(fx.url, lambda: creds, limiter=limiter, max_queue_s=None)

        info = client().call(ep.EXCHANGE_INFO, "get_exchange_info")
        limiter.configure(limits_from_exchange_info(info["rateLimits"]))
        client().sync_time()
        base0 = int(fx.control("time")["limitClockMs"])

        def bot(i: int) -> None:
            c, rnd = client(), random.Random(i)
            try:
                while clock.now() < seconds and work(c, i, rnd):
                    pass
            finally:
                clock.retire()

        threads = [threading.Thread(target=bot, args=(i,)) for i in range(BOTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats, log = fx.stats(), fx.requests()
    achieved, requests = 0.0, 0
    windows: dict[int, float] = defaultdict(float)
    for i, r in enumerate(log):
        t = clock.sim_time_of(i)
        n = count(r)
        windows[(base0 + round(t * 1000)) // (window_s * 1000)] += n
        if t < seconds and r["status"] == 200:
            achieved += n
            requests += 1
    return Result(
        achieved=achieved,
        allowed=limit * seconds / window_s,
        requests=requests,
        busiest_window=max(windows.values(), default=0.0),
        status_429=int(stats["status_429"]),
        status_418=int(stats["status_418"]),
    )


def weight_burst() -> tuple[Result, float]:
    demand = DEMAND_FACTOR * WEIGHT_LIMIT * WEIGHT_SECONDS / 60.0
    asked = [0.0] * BOTS

    def work(c: ExchangeClient, i: int, rnd: random.Random) -> bool:
        if asked[i] >= demand / BOTS:
            return False
        endpoint, method, params = rnd.choice(MIX)
        asked[i] += endpoint.weight
        c.call(endpoint, method, **params)
        return True

    return burst(WEIGHT_SECONDS, 60, WEIGHT_LIMIT, work, lambda r: r["weight"]), demand


def orders_burst() -> Result:
    ids = ClientOrderIds()

    def work(c: ExchangeClient, i: int, rnd: random.Random) -> bool:
        c.call(
            ep.NEW_ORDER,
            "create_order",
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.0002",
            newClientOrderId=ids.next(f"bot{i}"),
            newOrderRespType="ACK",
        )
        return True

    def is_order(r: dict) -> float:
        return 1.0 if r["method"] == "POST" and r["path"] == "/api/v3/order" else 0.0

    return burst(ORDERS_SECONDS, 10, ORDERS_LIMIT, work, is_order)


def main() -> int:
    w, demand = weight_burst()
    o = orders_burst()
    print("## bench_ratelimit: 10 bots (threads), one shared limiter, fake exchange")
    print(f"REQUEST_WEIGHT, {WEIGHT_SECONDS / 60:.0f} simulated minutes, demand {demand:.0f}")
    print(f"  achieved / limit             : {w.achieved:.0f} / {w.allowed:.0f} = {w.ratio:.1%}")
    print(f"  requests                     : {w.requests}")
    print(f"  busiest fixed minute (fake)  : {w.busiest_window:.0f} of {WEIGHT_LIMIT}")
    print(f"  responses 429 / 418          : {w.status_429} / {w.status_418}")
    print(f"ORDERS, {ORDERS_SECONDS:.0f} simulated seconds, as fast as allowed")
    print(f"  achieved / limit             : {o.achieved:.0f} / {o.allowed:.0f} = {o.ratio:.1%}")
    print(f"  busiest fixed 10 s (fake)    : {o.busiest_window:.0f} of {ORDERS_LIMIT}")
    print(f"  responses 429 / 418          : {o.status_429} / {o.status_418}")
    ok = w.ok and o.ok
    row(
        "rate-limit burst, 10 bots at 10× demand",
        f"weight {w.ratio:.1%} of the limit, orders {o.ratio:.1%}; "
        f"429/418: {w.status_429 + o.status_429}/{w.status_418 + o.status_418}",
        "0 bans, ≥ 90% of the budget",
        f"demand {demand:,.0f} weight vs {w.allowed:,.0f} allowed",
        ok,
    )
    print(
        f"targets: 0 x 429/418, >= {TARGET_RATIO:.0%} of the limit -> {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
