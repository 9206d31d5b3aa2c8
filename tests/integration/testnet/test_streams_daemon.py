"""`tradewarden run` in testnet mode with TRADEWARDEN_STREAMS=on against the fake Binance's
streams (issue 19): the strategies decide on closed 1 s klines from the market stream, fills
and balances come from the user data stream, REST stays the check (reconciliation) and the
fallback (polling while a stream is down or stale)."""

from __future__ import annotations

import math
import re
import signal
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import db, readyz, tw, wait_for
from tests.integration.testnet.conftest import (
    Running,
    assert_one_to_one,
    daemon_env,
    fills,
    wave_exchange,
)

# a 20 s wave (200 steps of 100 ms): SMA5 and SMA20 of 1 s closes cross twice per period
STREAM_WAVE = [round(30000 * (1 + 0.01 * math.sin(2 * math.pi * i / 200)), 2) for i in range(200)]
# a 10 s wave (200 steps of 50 ms): the SMAs of 1 s closes lag it, so every round trip buys
# high and sells low (as LOSING_WAVE does for the polling loop)
LOSING_STREAM_WAVE = [
    round(30000 * (1 + 0.004 * math.sin(2 * math.pi * i / 200)), 2) for i in range(200)
]


def stream_env(**extra: str) -> dict[str, str]:
    return {
        "TRADEWARDEN_STREAMS": "on",
        "TRADEWARDEN_KLINE_INTERVAL": "1s",
        "TRADEWARDEN_STREAM_STALE_SECONDS": "5",
        "TRADEWARDEN_STREAM_RECONNECT_MAX_SECONDS": "1",
        # the REST check runs rarely: a fill booked meanwhile came from the stream
        "TRADEWARDEN_RECONCILE_INTERVAL_SECONDS": "60",
        **extra,
    }


@pytest.fixture()
def sx(clean_env: None) -> Iterator[FakeBinance]:
    with wave_exchange(STREAM_WAVE, 100) as fake:
        yield fake


@pytest.fixture()
def streamed(tmp_path: Path, sx: FakeBinance) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def run(state: Path | None = None, fx: FakeBinance | None = None, **extra: str) -> Running:
        r = Running(state or tmp_path / "state", fx or sx, **stream_env(**extra))
        started.append(r)
        return r

    yield run
    for r in started:
        r.stop(signal.SIGKILL)


def metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:  # noqa: S310
        return str(r.read().decode())


def metric(port: int, name: str) -> float | None:
    m = re.search(rf"^{re.escape(name)} (\S+)$", metrics(port), re.MULTILINE)
    return float(m.group(1)) if m else None


def streams_of(port: int) -> dict[str, Any]:
    return dict(readyz(port)[1]["streams"])


def healthy(port: int) -> bool:
    s = streams_of(port)
    return bool(s["user"]["connected"] and s["market"]["connected"] and not s["fallback"])


def trade_ids(fx: FakeBinance) -> set[str]:
    return {f"{t['symbol']}:{t['id']}" for t in fx.trades()}


def booked(state: Path) -> list[str]:
    return [str(f["trade_id"]) for f in fills(state)]


def rest_calls(fx: FakeBinance, path: str) -> int:
    return sum(r["path"] == path for r in fx.requests())


def lost(fx: FakeBinance) -> int:
    return int(fx.stream_stats()["faults_fired"].get("lose", 0))


def assert_every_fill_once(fx: FakeBinance, state: Path) -> None:
    ids = booked(state)
    assert len(ids) == len(set(ids)), f"a fill was booked twice: {sorted(ids)}"
    assert set(ids) == trade_ids(fx), "every fill on the exchange is booked, and only those"
    assert_one_to_one(fx, state)


def test_fills_are_booked_from_the_user_stream(
    sx: FakeBinance, streamed: Callable[..., Running]
) -> None:
    d = streamed()
    port = d.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30), streams_of(port)
    polled_before = rest_calls(sx, "/api/v3/myTrades")
    tickers = rest_calls(sx, "/api/v3/ticker/price")  # (polled until both streams were up)
    assert wait_for(lambda: len(booked(d.state)) >= 2, timeout=120), "no fill booked"
    # booked between two REST checks (every 60 s): from executionReport, not myTrades
    assert rest_calls(sx, "/api/v3/myTrades") == polled_before
    assert rest_calls(sx, "/api/v3/ticker/price") == tickers, "prices come from bookTicker"
    s = streams_of(port)
    assert s["mode"] == "on" and s["kline_interval"] == "1s"
    assert s["fallback"] is False and s["fallback_reason"] is None
    assert s["user"]["connected"] and s["market"]["connected"]
    assert s["market"]["last_message_age_s"] is not None
    assert metric(port, "tradewarden_stream_fallback_active") == 0.0
    assert metric(port, 'tradewarden_stream_connected{stream="user"}') == 1.0
    assert metric(port, 'tradewarden_stream_connected{stream="market"}') == 1.0
    assert metric(port, 'tradewarden_stream_reconnects_total{stream="user"}') == 0.0
    assert metric(port, 'tradewarden_stream_last_event_age_seconds{stream="market"}') is not None
    out = tw(d.state, "status").stdout
    assert "Streams:     on (1s klines), event-driven" in out, out
    diag = tw(d.state, "diagnose", **daemon_env(sx, **stream_env())).stdout
    assert re.search(r"^PASS\s+streams\s+event-driven \(1s klines\): user connected", diag, re.M)
    assert d.stop() == 0
    assert_every_fill_once(sx, d.state)


def test_a_losing_fill_from_the_stream_trips_the_breaker(tmp_path: Path, clean_env: None) -> None:
    with wave_exchange(LOSING_STREAM_WAVE, 50) as fx:
        d = Running(tmp_path / "state", fx, **stream_env(MAX_CONSECUTIVE_LOSSES="1"))
        try:
            port = d.wait_ready()
            polled = rest_calls(fx, "/api/v3/myTrades")

            def tripped() -> bool:
                with db(d.state) as con:
                    return bool(con.execute("SELECT 1 FROM breakers WHERE tripped=1").fetchall())

            assert wait_for(tripped, timeout=150), "no breaker trip"
            with db(d.state) as con:
                trips = [dict(r) for r in con.execute("SELECT * FROM breakers WHERE tripped=1")]
            assert trips[0]["breaker"] == "consecutive_losses", trips
            # the losing round trip's fills came from the stream (no REST check ran since)
            assert rest_calls(fx, "/api/v3/myTrades") == polled
            code, body = readyz(port)
            assert code == 503 and any("HALTED" in r for r in body["reasons"]), body
            assert d.stop() == 0
            assert_every_fill_once(fx, d.state)
        finally:
            d.stop(signal.SIGKILL)


RECONNECTING = ("drop", "terminate", "shutdown")


@pytest.mark.parametrize(
    "kind",
    ["duplicate", "reorder", *RECONNECTING],
    ids=["dup", "reorder", "drop", "terminate", "shutdown"],
)
def test_faulty_user_stream_books_every_fill_once(
    sx: FakeBinance, streamed: Callable[..., Running], kind: str
) -> None:
    d = streamed(TRADEWARDEN_RECONCILE_INTERVAL_SECONDS="5")
    port = d.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30), streams_of(port)
    # duplicate/reorder: every event until cleared; the others: three reconnects
    sx.stream_fault(kind, stream="user", count=3 if kind in RECONNECTING else None)
    assert wait_for(lambda: len(trade_ids(sx)) >= 4, timeout=150), "no trades"
    sx.clear_faults()
    assert wait_for(lambda: set(booked(d.state)) == trade_ids(sx), timeout=30)
    if kind in RECONNECTING:
        assert wait_for(
            lambda: (metric(port, 'tradewarden_stream_reconnects_total{stream="user"}') or 0) >= 1,
            timeout=30,
        )
    assert d.stop() == 0
    assert_every_fill_once(sx, d.state)


def test_a_lost_fill_event_is_booked_once_by_reconciliation(
    sx: FakeBinance, streamed: Callable[..., Running]
) -> None:
    d = streamed(TRADEWARDEN_RECONCILE_INTERVAL_SECONDS="3")
    port = d.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30), streams_of(port)
    sx.stream_fault("lose", stream="user", count=1)
    assert wait_for(lambda: lost(sx) >= 1, timeout=120), "no fill event lost"
    assert wait_for(lambda: set(booked(d.state)) >= trade_ids(sx), timeout=30)
    assert rest_calls(sx, "/api/v3/myTrades") >= 1, "found by the REST check"
    code, body = readyz(port)
    assert code == 200, body  # not a balance mismatch: no HALT
    assert d.stop() == 0
    assert_every_fill_once(sx, d.state)
    with db(d.state) as con:
        assert not con.execute("SELECT 1 FROM breakers WHERE tripped=1").fetchall()


def test_a_silent_market_stream_falls_back_to_polling_and_back(
    sx: FakeBinance, streamed: Callable[..., Running]
) -> None:
    d = streamed(TRADEWARDEN_STREAM_STALE_SECONDS="2")
    port = d.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30), streams_of(port)
    sx.stream_fault("silence", stream="market", count=None)
    assert wait_for(lambda: streams_of(port)["fallback"], timeout=30), streams_of(port)
    s = streams_of(port)
    assert "market stream" in s["fallback_reason"], s
    assert metric(port, "tradewarden_stream_fallback_active") == 1.0
    code, body = readyz(port)
    assert code == 200, body  # polling trades safely: fallback alone is not NOT READY
    tickers = rest_calls(sx, "/api/v3/ticker/price")
    assert wait_for(lambda: rest_calls(sx, "/api/v3/ticker/price") > tickers + 5, timeout=30)
    out = tw(d.state, "status").stdout
    assert "FALLBACK (polling)" in out, out
    diag = tw(d.state, "diagnose", **daemon_env(sx, **stream_env())).stdout
    assert re.search(r"^FAIL\s+streams\s+polling fallback \(market stream", diag, re.M), diag
    sx.clear_faults()
    assert wait_for(lambda: healthy(port), timeout=60), streams_of(port)
    assert metric(port, "tradewarden_stream_fallback_active") == 0.0
    assert (metric(port, 'tradewarden_stream_reconnects_total{stream="market"}') or 0) >= 1
    assert d.stop() == 0
    assert_every_fill_once(sx, d.state)


def test_restart_recovery_with_streams(sx: FakeBinance, streamed: Callable[..., Running]) -> None:
    d = streamed()
    d.wait_ready()
    assert wait_for(lambda: len(booked(d.state)) >= 1, timeout=120), "no fill booked"
    d.stop(signal.SIGKILL)
    again = streamed(state=d.state)
    port = again.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30), streams_of(port)
    before = len(trade_ids(sx))
    assert wait_for(lambda: len(trade_ids(sx)) >= before + 2, timeout=120), "no trades after"
    assert wait_for(lambda: set(booked(again.state)) == trade_ids(sx), timeout=30)
    assert again.stop() == 0
    assert_every_fill_once(sx, again.state)


def test_streams_off_is_the_polling_loop(sx: FakeBinance, streamed: Callable[..., Running]) -> None:
    d = streamed(TRADEWARDEN_STREAMS="off")
    port = d.wait_ready()
    assert streams_of(port) == {"mode": "off"}
    assert wait_for(lambda: rest_calls(sx, "/api/v3/ticker/price") >= 3, timeout=30)
    assert sx.stream_stats()["connections"]["user"]["opened"] == 0
    assert "Streams:     off (polling)" in tw(d.state, "status").stdout
    assert d.stop() == 0
