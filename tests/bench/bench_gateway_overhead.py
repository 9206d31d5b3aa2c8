"""Gateway overhead: our submit path vs a raw signed request to the same fake exchange.

    uv run --frozen python -m tests.bench.bench_gateway_overhead

Ours: `BinanceBroker.submit` (intent check in SQLite, symbol filters with Decimal, the
shared rate limiter, python-binance signing and sending, the answer mapped and written to
the store row). The intent itself is recorded before the clock starts (that is the
OrderGate's write). Baseline: the same MARKET order as one `requests` POST signed with
`hmac`, on a kept-alive session. Both alternate, so drift hits both alike.

Target: median(ours) / median(raw) <= 1.3. Exits non-zero if missed.
"""

from __future__ import annotations

import hashlib
import hmac
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import requests

from tests.bench.table import row
from tests.fakes.binance import FakeBinance
from tradewarden.core.config import load_settings
from tradewarden.core.models import Order, OrderRequest, OrderStatus, OrderType, Side
from tradewarden.exchange import BinanceBroker, RateLimiter
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

N = 400
WARMUP = 50
TARGET = 1.3


def raw_submit(session: requests.Session, fx: FakeBinance, cid: str) -> dict:
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "MARKET",
        "quantity": "0.0002",
        "newClientOrderId": cid,
        "newOrderRespType": "FULL",
        "recvWindow": 5000,
        "timestamp": int(time.time() * 1000),
    }
    query = urlencode(params)
    sig = hmac.new(fx.api_secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    resp = session.post(
        fx.url + "/api/v3/order",
        data=query + "&signature=" + sig,
        headers={
            "X-MBX-APIKEY": fx.api_key,
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=10,
    )
    resp.raise_for_status()
    return resp.json()


def run(durable: bool) -> tuple[list[float], list[float]]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeBinance(
            balances={"USDT": 1e9}, orders_10s_limit=1_000_000, weight_limit=10_000_000
        ) as fx,
    ):
        settings = load_settings(binance_base_url=fx.url, state_dir=Path(tmp), symbols=("BTCUSDT",))
        store = Store(settings.db_path, durable=durable)
        creds = (Secret(fx.api_key), Secret(fx.api_secret))
        broker = BinanceBroker(settings, store, lambda: creds, limiter=RateLimiter())
        broker.start()
        session = requests.Session()
        ours: list[float] = []
        raw: list[float] = []
        for i in range(WARMUP + N):
            cid = f"tw-bench-{i}-{'0' * 4}"
            store.record_intent(
                Order(
                    cid,
                    "bench",
                    "BTCUSDT",
                    Side.BUY,
                    OrderType.MARKET,
                    0.0002,
                    30000.0,
                    OrderStatus.PENDING,
                )
            )
            req = OrderRequest(
                "bench", "BTCUSDT", Side.BUY, 0.0002, price=30000.0, client_order_id=cid
            )
            t0 = time.perf_counter()
            order = broker.submit(req)
            t1 = time.perf_counter()
            raw_submit(session, fx, f"raw-{i}")
            t2 = time.perf_counter()
            assert order.status is OrderStatus.FILLED
            if i >= WARMUP:
                ours.append(t1 - t0)
                raw.append(t2 - t1)
        store.close()
    return ours, raw


def main() -> int:
    lines = ["## bench_gateway_overhead: BinanceBroker.submit vs raw signed POST (same fake)"]
    verdict = True
    for durable, label in (
        (True, "store durable (live/testnet setting)"),
        (False, "store synchronous=NORMAL"),
    ):
        ours, raw = run(durable)
        m_ours, m_raw = statistics.median(ours), statistics.median(raw)
        ratio = m_ours / m_raw
        lines.append(f"{label}:")
        lines.append(f"  median raw signed POST : {m_raw * 1000:.3f} ms")
        lines.append(f"  median our submit      : {m_ours * 1000:.3f} ms")
        lines.append(f"  added                  : {(m_ours - m_raw) * 1000:.3f} ms")
        lines.append(f"  ratio                  : {ratio:.2f}x (target <= {TARGET}x)")
        if durable:
            verdict = ratio <= TARGET
            row(
                "gateway overhead (submit vs raw signed POST)",
                f"median {m_ours * 1000:.2f} ms vs {m_raw * 1000:.2f} ms",
                f"≤ {TARGET}×",
                f"{ratio:.2f}×",
                verdict,
            )
    lines.append(f"verdict (durable store)  : {'met' if verdict else 'MISSED'}")
    print("\n".join(lines))
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
