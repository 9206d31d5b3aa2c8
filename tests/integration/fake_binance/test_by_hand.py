"""``python -m tests.fakes.binance`` starts a server that curl and python-binance can use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests
from binance.client import Client

from tests.conftest import free_port, wait_http

REPO = Path(__file__).resolve().parents[3]


def test_module_entry_point_serves_and_is_controllable() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.binance",
            "--port",
            str(port),
            "--api-key",
            "hand-key",
            "--api-secret",
            "hand-secret",
            "--manual-clock",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/api/v3/ping")
        client = Client("hand-key", "hand-secret", ping=False)
        client.API_URL = url + "/api"
        client.MARGIN_API_URL = url + "/sapi"
        assert client.get_account()["accountType"] == "SPOT"
        r = requests.post(
            url + "/_control/price", json={"symbol": "BTCUSDT", "price": 1234.5}, timeout=5
        )
        assert r.status_code == 200
        assert client.get_symbol_ticker(symbol="BTCUSDT")["price"] == "1234.50000000"
        assert requests.post(url + "/_control/advance_clock", json={"seconds": 61}, timeout=5).ok
        stats = requests.get(url + "/_control/stats", timeout=5).json()
        assert stats["requests_by_path"]["/api/v3/account"] == 1
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}" in out
