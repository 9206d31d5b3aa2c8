"""`tradewarden run` in testnet mode with TRADEWARDEN_FUTURES_ENABLED and
TRADEWARDEN_STREAMS=on against the fake's futures user data stream (issue 20): fills booked
from ORDER_TRADE_UPDATE (once per trade id, whatever the stream duplicates or loses), and a
MARGIN_CALL failing closed (critical alert through the outbox, HALT, reduceOnly flatten)."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import db, readyz, status, tw, wait_for
from tests.integration.testnet.conftest import FUTURES_ENV, Running
from tests.integration.testnet.test_futures_daemon import (
    audit_entries,
    ours,
    reducing_orders,
    v2_row,
)

USER_TRADES = "/fapi/v1/userTrades"


def stream_env(**extra: str) -> dict[str, str]:
    return {
        **FUTURES_ENV,
        "TRADEWARDEN_STREAMS": "on",
        "TRADEWARDEN_STREAM_RECONNECT_MAX_SECONDS": "1",
        # the REST check runs rarely: a fill booked meanwhile came from the stream
        "TRADEWARDEN_RECONCILE_INTERVAL_SECONDS": "60",
        **extra,
    }


@pytest.fixture()
def fstreamed(fdaemon: Callable[..., Running]) -> Callable[..., Running]:
    """Futures daemons with the user stream on (`fdaemon` kills them at the end)."""
    return lambda **extra: fdaemon(**stream_env(**extra))


def streams_of(port: int) -> dict[str, Any]:
    return dict(readyz(port)[1]["streams"])


def healthy(port: int) -> bool:
    s = streams_of(port)
    return bool(s["user"]["connected"] and not s["fallback"])


def rest_calls(fx: FakeBinance, path: str) -> int:
    return sum(r["path"] == path for r in fx.requests())


def trade_ids(fx: FakeBinance) -> list[str]:
    return [f"{t['symbol']}:{t['id']}" for t in fx.futures_trades() if not t.get("liquidation")]


def booked(state: Path) -> list[str]:
    with db(state) as con:
        return [str(r["trade_id"]) for r in con.execute("SELECT trade_id FROM fills")]


def assert_every_fill_once(fx: FakeBinance, state: Path) -> None:
    ids = booked(state)
    assert len(ids) == len(set(ids)), f"a fill was booked twice: {sorted(ids)}"
    assert sorted(ids) == sorted(trade_ids(fx)), "every fill on the exchange, and only those"


def test_fill_is_booked_from_the_stream(
    ffx: FakeBinance, fstreamed: Callable[..., Running]
) -> None:
    d = fstreamed()
    port = d.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30), streams_of(port)
    polled = rest_calls(ffx, USER_TRADES)
    assert wait_for(lambda: len(booked(d.state)) >= 2, timeout=120), "no fill booked"
    # booked between two REST checks (every 60 s): from ORDER_TRADE_UPDATE, not userTrades
    assert rest_calls(ffx, USER_TRADES) == polled
    s = streams_of(port)
    assert s["mode"] == "on" and s["market"] is None and s["fallback"] is False, s
    assert s["user"]["connected"]
    out = tw(d.state, "status").stdout
    assert "Streams:     on (user only), event-driven" in out and "market" not in out, out
    assert d.stop() == 0
    assert_every_fill_once(ffx, d.state)


@pytest.mark.parametrize("kind", ["duplicate", "lose"], ids=["duplicate", "lose"])
def test_duplicated_or_lost_fill_events_are_booked_once(
    ffx: FakeBinance, fstreamed: Callable[..., Running], kind: str
) -> None:
    d = fstreamed(TRADEWARDEN_RECONCILE_INTERVAL_SECONDS="3")
    port = d.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30), streams_of(port)
    # duplicate: every event until cleared; lose: one fill's ORDER_TRADE_UPDATE
    ffx.futures_stream_fault(kind, count=None if kind == "duplicate" else 1)
    assert wait_for(
        lambda: ffx.futures_stream_faults_fired().get(kind, 0) >= 1 and len(trade_ids(ffx)) >= 3,
        timeout=150,
    ), "the fault never fired on a fill"
    ffx.futures_stream_fault("none")
    assert wait_for(lambda: sorted(set(booked(d.state))) == sorted(trade_ids(ffx)), timeout=30)
    code, body = readyz(port)
    assert code == 200, body  # not a mismatch: no HALT
    assert d.stop() == 0
    assert_every_fill_once(ffx, d.state)


def test_margin_call_halts_flattens_and_pages(
    ffx: FakeBinance, fstreamed: Callable[..., Running]
) -> None:
    # the breaker's levels far below any distance: only the margin call can stop it here
    d = fstreamed(
        TRADEWARDEN_LIQ_DISTANCE_REDUCE_PCT="0.0002", TRADEWARDEN_LIQ_DISTANCE_FLATTEN_PCT="0.0001"
    )
    port = d.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30), streams_of(port)
    assert wait_for(lambda: float(v2_row(ffx)["positionAmt"]) != 0.0, timeout=120)
    row = v2_row(ffx)
    liq, qty = float(row["liquidationPrice"]), float(row["positionAmt"])
    # just short of liquidation, past the fake's margin-call ratio
    ffx.futures_set_mark_price("BTCUSDT", liq * (1.0005 if qty > 0 else 0.9995))
    assert wait_for(
        lambda: any(e.get("e") == "MARGIN_CALL" for e in ffx.futures_events()), timeout=10
    ), v2_row(ffx)
    assert wait_for(lambda: status(d.state)["state"] == "halted", timeout=30), status(d.state)
    assert "MARGIN_CALL" in status(d.state)["state_reason"]
    assert wait_for(lambda: float(v2_row(ffx)["positionAmt"]) == 0.0, timeout=30), v2_row(ffx)
    assert wait_for(
        lambda: "futures_margin_call" in (d.state / "alerts.jsonl").read_text(), timeout=30
    )
    n = len(ours(ffx))
    assert d.stop() == 0
    with db(d.state) as con:
        rows = [dict(r) for r in con.execute("SELECT * FROM alert_outbox")]
    calls = [r for r in rows if "futures-margin-call" in str(r.get("dedup_key"))]
    assert calls and all("critical" in str(r) for r in calls), rows
    assert audit_entries(d.state, "futures_margin_call")
    assert ffx.futures_liquidations() == []
    flat = reducing_orders(ffx)[-1][0]
    assert flat["reduceOnly"] is True and flat["type"] == "MARKET"
    assert len(ours(ffx)) == n


def metric(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:  # noqa: S310
        text = r.read().decode()
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def test_a_dropped_stream_reconnects_and_every_fill_is_booked_once(
    ffx: FakeBinance, fstreamed: Callable[..., Running]
) -> None:
    d = fstreamed(TRADEWARDEN_RECONCILE_INTERVAL_SECONDS="5")
    port = d.wait_ready()
    assert wait_for(lambda: healthy(port), timeout=30), streams_of(port)
    connected = 'tradewarden_stream_connected{stream="user"}'
    assert wait_for(lambda: metric(port, connected) == 1.0, timeout=10)
    for _ in range(3):
        assert wait_for(lambda: len(trade_ids(ffx)) >= 2, timeout=120)
        ffx.futures_stream_drop()
        assert wait_for(lambda: healthy(port), timeout=30), streams_of(port)
    reconnects = 'tradewarden_stream_reconnects_total{stream="user"}'
    assert wait_for(lambda: (metric(port, reconnects) or 0) >= 1, timeout=30)
    n = len(trade_ids(ffx))
    assert wait_for(lambda: len(trade_ids(ffx)) >= n + 2, timeout=120), "no trading after"
    assert wait_for(lambda: sorted(set(booked(d.state))) == sorted(trade_ids(ffx)), timeout=30)
    assert d.stop() == 0
    assert_every_fill_once(ffx, d.state)
