"""Issue 13 defect 2 (second half): a halt sent while the main loop is blocked must stop the
order it is blocked on when that order has not been sent yet.

The exchange allows one order per 10 s here, so the bot's second order waits in the rate
limiter's queue for several seconds, the main loop with it. The halt used to be applied only
when the loop came back, after that order had gone out. Now the limiter's wait hook puts a
queued halt in force and a check right before the request leaves refuses the order."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import db, tw, wait_for
from tests.integration.testnet.conftest import Running, daemon_env, local_orders, posts


def test_a_halt_stops_the_order_waiting_in_the_rate_limiter(
    fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    fx.set_limits(orders_10s_limit=1)  # exchangeInfo: ORDERS 1 per 10 s
    d = daemon()
    d.wait_ready()

    def on_exchange() -> set[str]:
        return {o["clientOrderId"] for o in fx.orders()}

    def queued() -> str | None:
        """A local order recorded (PENDING) but not on the exchange: waiting to be sent."""
        waiting = [
            cid
            for cid, o in local_orders(d.state).items()
            if o["status"] == "PENDING" and cid not in on_exchange()
        ]
        return waiting[0] if waiting else None

    blocked: list[str] = []

    def blocked_order() -> bool:
        cid = queued()
        if cid is None or len(local_orders(d.state)) < 2:
            return False
        time.sleep(0.3)  # still not sent: it waits in the limiter, not in flight
        if queued() == cid:
            blocked.append(cid)
            return True
        return False

    assert wait_for(blocked_order, 60), "no order ever waited in the rate limiter"
    (cid,) = blocked
    sent_before = len(posts(fx))
    halt = tw(d.state, "halt", "--reason", "stop while blocked", **daemon_env(fx))
    assert halt.returncode == 0, halt.stderr
    assert wait_for(lambda: local_orders(d.state)[cid]["status"] != "PENDING", 30)
    assert local_orders(d.state)[cid]["status"] == "REJECTED"
    assert cid not in on_exchange(), "the order the loop was blocked on went out after the halt"
    assert len(posts(fx)) == sent_before
    with_state = tw(d.state, "status", "--json", **daemon_env(fx))
    assert '"state": "halted"' in with_state.stdout

    def finished() -> bool:  # the loop, free again, finished the halt (cancels, alert)
        with db(d.state) as con:
            (status,) = con.execute("SELECT status FROM control_requests").fetchone()
        return status == "done"

    assert wait_for(finished, 30)


def test_a_halt_takes_effect_while_the_loop_resolves_an_unknown_order(
    fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    """The first order is booked but never answered and cannot be asked about, so the loop
    spends ~12 s resolving it (recvWindow + 11 s). A halt sent meanwhile is in force at once
    (the CLI says so instead of timing out), and nothing is sent after it."""
    fx.fault(
        "timeout_after_accept",
        ms=60_000,
        count=1,
        queries="drop",
        path="/api/v3/order",
        method="POST",
    )
    d = daemon()
    d.wait_ready()

    def resolving() -> bool:
        return any(o["status"] == "UNKNOWN" for o in local_orders(d.state).values())

    assert wait_for(resolving, 90), "no order outcome became unknown"
    halt = tw(d.state, "halt", "--reason", "stop during resolution", **daemon_env(fx))
    assert halt.returncode == 0, halt.stderr
    assert "in force now" in halt.stdout, halt.stdout
    sent_at_halt = len(posts(fx))
    with db(d.state) as con:
        (status,) = con.execute("SELECT status FROM control_requests").fetchone()
    assert status in ("held", "done")
    assert wait_for(lambda: d.said("no trading this round"), 40)  # resolution gave up
    with db(d.state) as con:
        assert wait_for(
            lambda: con.execute("SELECT status FROM control_requests").fetchone()[0] == "done",
            30,
        )
    assert len(posts(fx)) == sent_at_halt, "an order was sent after the halt"
