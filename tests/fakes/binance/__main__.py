"""``python -m tests.fakes.binance --port N``: run the fake Binance spot API in the foreground.

Aim python-binance at it with ``client.API_URL = "http://127.0.0.1:N/api"`` and
``client.MARGIN_API_URL = "http://127.0.0.1:N/sapi"``; drive it with curl on
``/_control/...`` (see `tests.fakes.binance.server`).
"""

from __future__ import annotations

import argparse
import json
import threading

from tests.fakes.binance.fixture import FakeBinance
from tests.fakes.binance.server import DEFAULT_API_KEY, DEFAULT_API_SECRET


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.binance", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--api-secret", default=DEFAULT_API_SECRET)
    parser.add_argument("--symbols", help='JSON, e.g. {"BTCUSDT": {"price": 30000, "tick": 0.01}}')
    parser.add_argument("--balances", help='JSON, e.g. {"USDT": 10000}')
    parser.add_argument("--manual-clock", action="store_true")
    parser.add_argument("--auto-step-ms", type=int, default=None)
    parser.add_argument("--weight-limit", type=int, default=6000)
    parser.add_argument(
        "--kind", action="store_true", help="no fee, an infinite book (default: Binance's world)"
    )
    args = parser.parse_args(argv)
    fake = FakeBinance(
        api_key=args.api_key,
        api_secret=args.api_secret,
        symbols=json.loads(args.symbols) if args.symbols else None,
        balances=json.loads(args.balances) if args.balances else None,
        manual_clock=args.manual_clock,
        auto_step_ms=args.auto_step_ms,
        weight_limit=args.weight_limit,
        kind=args.kind,
        host=args.host,
        port=args.port,
    )
    fake.start()
    print(f"fake binance: {fake.url}  (API_URL={fake.url}/api, control {fake.url}/_control/)")
    print(f"websocket: {fake.ws_api_url}  market streams: {fake.stream_url}?streams=...")
    print(f"api key {args.api_key!r}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
