"""Two more peer complaints, against the fake Binance over real HTTP, each beside the peer's
behaviour measured in the same test so the test shows the difference (and can fail):

- Hummingbot: several bots, each with its own rate-limit view, together exceed the
  account's weight and get 429 then a 418 IP ban. Ours: one limiter per process, shared.
- freqtrade/ccxt: a timeout after the exchange accepted an order, retried by resending, is
  a second order. Ours resolves the outcome by ``origClientOrderId``, never by resending.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import (  # noqa: F401 - fixtures
    KEY,
    SECRET,
    broker,
    fx,
    intent,
    limiter,
    make_broker,
    settings,
    store,
)
from tradewarden.exchange import BinanceBroker, RateLimitedError, RateLimiter
from tradewarden.state.store import Store

BOTS = 6
LIMIT = 240  # weight per minute on the fake, so a few seconds of demand exceed it


def hammer(brokers: list[BinanceBroker], seconds: float) -> None:
    """Every bot asks for prices as fast as it can (weight 2 each) for `seconds`."""
    stop = time.monotonic() + seconds

    def bot(b: BinanceBroker) -> None:
        while time.monotonic() < stop:
            try:
                b.ticker_price("BTCUSDT")
            except RateLimitedError:
                return  # a 429/418 reached this bot: it stops, as the peer's bot would
            except Exception:  # noqa: BLE001 - the limiter refusing to queue that long
                time.sleep(0.05)

    threads = [threading.Thread(target=bot, args=(b,)) for b in brokers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)


def test_bots_sharing_one_limiter_never_hit_429_while_own_limiters_do(
    tmp_path: Path,
    fx: FakeBinance,  # noqa: F811
    make_broker: Callable[..., BinanceBroker],  # noqa: F811
) -> None:
    # the peer: one limiter per bot, each believing it has the whole budget
    fx.set_limits(weight_limit=LIMIT)
    own = [make_broker(limiter=RateLimiter(), start=False) for _ in range(BOTS)]
    hammer(own, 3.0)
    peer = fx.stats()
    assert peer["status_429"] + peer["status_418"] > 0, "the peer setup never hit the limit"

    # ours: one process-wide limiter shared by every bot, configured from exchangeInfo
    fx.reset()
    fx.unban()
    fx.set_limits(weight_limit=LIMIT)
    shared = RateLimiter()
    fresh = Store(tmp_path / "ours.sqlite3", durable=False)  # not the peer's remembered ban
    ours = [
        make_broker(limiter=shared, store=fresh, start=False, max_queue_s=0.5) for _ in range(BOTS)
    ]
    ours[0].start()  # exchangeInfo: the shared limiter learns the real limits
    hammer(ours, 3.0)
    mine = fx.stats()
    assert mine["status_429"] == 0 and mine["status_418"] == 0, mine
    assert mine["requests"] >= LIMIT // 2 // 2, "the shared limiter must use the budget, not idle"


def test_timeout_after_accept_never_doubles_the_order(
    tmp_path: Path,
    fx: FakeBinance,  # noqa: F811
    broker: BinanceBroker,  # noqa: F811
    store: Store,  # noqa: F811
) -> None:
    # the peer: a client that retries a timed-out order by sending it again
    fx.fault("timeout_after_accept", ms=3000, path="/api/v3/order", method="POST")
    client = fx.client(KEY, SECRET, requests_params={"timeout": 1})
    for _ in range(2):
        try:
            client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
            break
        except Exception:  # noqa: BLE001 - the timeout the peer retries on
            continue
    assert len(fx.orders()) == 2, "the naive retry should have doubled the order"

    # ours: the same fault; the outcome is asked for, the order exists once
    fx.reset()
    fx.fault("timeout_after_accept", ms=3000, path="/api/v3/order", method="POST")
    req = intent(store, qty=0.002)
    broker.submit(req)
    mine = [o for o in fx.orders() if o["clientOrderId"] == req.client_order_id]
    assert len(mine) == 1
    assert len(fx.orders()) == 1
