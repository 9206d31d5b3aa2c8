"""The systemd watchdog is fed while the testnet daemon waits on purpose: an order whose
answer never came is resolved by asking for up to recvWindow + 15 s (20 s in production,
16 s here), which used to be one silent stretch of the main loop. Two of those in one round
would have outlasted ``WatchdogSec=30`` and had systemd kill a daemon that was working."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import wait_for
from tests.integration.testnet.conftest import Running, local_orders

ORDER = {"path": "/api/v3/order", "method": "POST"}


def test_watchdog_pings_go_on_while_an_order_is_resolved(
    tmp_path: Path, fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    # the first order is booked, never answered, and cannot be asked about
    fx.fault("timeout_after_accept", ms=60_000, count=1, queries="drop", **ORDER)
    d = daemon(NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="1500000")  # a ping every 0.5 s
    pings: list[float] = []
    resolving: list[float] = []  # when the gateway started asking, and when it gave up

    def collect() -> None:
        try:
            msg = sock.recv(4096).decode()
        except TimeoutError:
            return
        if msg.startswith("WATCHDOG=1"):
            pings.append(time.monotonic())

    def order_status() -> str | None:
        rows = list(local_orders(d.state).values())
        return rows[0]["status"] if rows else None

    try:
        d.wait_ready()
        assert wait_for(lambda: collect() or order_status() == "UNKNOWN", 90)
        resolving.append(time.monotonic())
        assert wait_for(lambda: collect() or d.said("no trading this round"), 40), (
            "the gateway never gave up asking"
        )
        resolving.append(time.monotonic())
    finally:
        d.stop()
        sock.close()
    start, end = resolving
    assert end - start > 8, "the order was resolved too fast for this test to mean anything"
    during = [t for t in pings if start <= t <= end]
    gaps = [b - a for a, b in zip([start, *during], [*during, end], strict=False)]
    # one question at most between two pings: the request timeout (1 s) plus a step (1 s);
    # without the wait hooks the loop is silent for the whole resolution (~16 s)
    assert max(gaps) < 5.0, f"watchdog silent for {max(gaps):.1f}s while resolving"
    assert len(during) >= 4
