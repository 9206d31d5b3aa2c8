"""The daemon (`tradewarden run`, testnet mode) in a subprocess against the fake Binance."""

from __future__ import annotations

import contextlib
import json
import math
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import db, start, wait_for

KEY = "tw-testnet-key-CANARY-4d1e" + "k" * 38
SECRET = "tw-testnet-secret-CANARY-9b7c" + "s" * 35
SPEC = {"price": 30000.0, "tick": 0.01, "step": 0.00001, "min_qty": 0.00001, "min_notional": 5.0}
# a smooth wave: SMA5 and SMA20 cross twice per period, volatility stays in the low zones
WAVE = [round(30000 * (1 + 0.01 * math.sin(2 * math.pi * i / 60)), 2) for i in range(60)]
# SMA5/SMA20 lag this one (a period a second at 50 ms a step, polled every 100 ms): every
# round trip buys high and sells low; the ATR stays in zones 1-2, so entries are allowed
LOSING_WAVE = [round(30000 * (1 + 0.004 * math.sin(2 * math.pi * i / 20)), 2) for i in range(20)]


def daemon_env(fx: FakeBinance, **extra: str) -> dict[str, str]:
    return {
        "TRADEWARDEN_MODE": "testnet",
        "TRADEWARDEN_BINANCE_BASE_URL": fx.url,
        "TRADEWARDEN_BINANCE_API_KEY": KEY,
        "TRADEWARDEN_BINANCE_API_SECRET": SECRET,
        "TRADEWARDEN_SYMBOLS": "BTCUSDT",
        "TRADEWARDEN_BOTS": "b1:BTCUSDT:ma_cross",
        "TRADEWARDEN_POLL_INTERVAL_SECONDS": "0.1",
        "TRADEWARDEN_RECONCILE_INTERVAL_SECONDS": "1",
        "TRADEWARDEN_REQUEST_TIMEOUT_SECONDS": "1",
        "TRADEWARDEN_RECV_WINDOW_MS": "1000",
        # the polling loop: these tests are about other behaviour and rely on a decision per
        # poll (the wave steps every 50-100 ms, polled every 100 ms); the event-driven loop's
        # tests opt in (test_streams_daemon.py: TRADEWARDEN_STREAMS=on, 1 s klines)
        "TRADEWARDEN_STREAMS": "off",
        **extra,
    }


@contextlib.contextmanager
def wave_exchange(
    wave: list[float], step_ms: int, spec: dict[str, Any] | None = None, **options: Any
) -> Iterator[FakeBinance]:
    """The fake Binance with our key, BTCUSDT (`SPEC`, updated with `spec`), 10,000 USDT and
    no BTC, and `wave` as its price path (looping), one step every `step_ms`; `options` go
    to `FakeBinance`."""
    with FakeBinance(
        api_key=KEY,
        api_secret=SECRET,
        symbols={"BTCUSDT": {**SPEC, **(spec or {})}},
        balances={"USDT": 10_000.0, "BTC": 0.0},
        **options,
    ) as fake:
        fake.set_price_path("BTCUSDT", wave, loop=True)
        fake.auto_step(step_ms)
        yield fake


@pytest.fixture()
def fx(clean_env: None) -> Iterator[FakeBinance]:
    with wave_exchange(WAVE, 100) as fake:
        yield fake


class Running:
    """A daemon subprocess; its stdout (JSON log lines) is collected on a thread.

    Subclasses change how it is started (`_spawn`) and where stderr goes (`_stderr`)."""

    def __init__(self, state: Path, fx: FakeBinance, **extra: str) -> None:
        import threading

        self.state = state
        self.proc = self._spawn(daemon_env(fx, **extra))
        self.lines: list[str] = []
        self.err = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[str]:
        return start(self.state, "run", "--no-console", **env)

    def _stderr(self) -> str:
        """Everything the stopped process wrote to stderr."""
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def said(self, msg: str) -> bool:
        return any(rec.get("msg") == msg for rec in self.logs())

    def wait_ready(self, timeout: float = 60) -> int:
        assert wait_for(lambda: self.said("daemon ready") or self.proc.poll() is not None, timeout)
        assert self.proc.poll() is None, self.stop_output()
        (rec,) = [r for r in self.logs() if r.get("msg") == "daemon ready"]
        return int(rec["metrics_port"])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(10)
        self._reader.join(5)
        self.err = self._stderr()
        return rc

    def stop_output(self) -> str:
        self.stop()
        return "".join(self.lines) + self.err


@pytest.fixture()
def daemon(tmp_path: Path, fx: FakeBinance) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def run(state: Path | None = None, **extra: str) -> Running:
        r = Running(state or tmp_path / "state", fx, **extra)
        started.append(r)
        return r

    yield run
    for r in started:
        r.stop(signal.SIGKILL)


def local_orders(state: Path) -> dict[str, dict[str, Any]]:
    with db(state) as con:
        return {r["client_order_id"]: dict(r) for r in con.execute("SELECT * FROM orders")}


def fills(state: Path) -> list[dict[str, Any]]:
    with db(state) as con:
        return [dict(r) for r in con.execute("SELECT * FROM fills")]


def posts(fx: FakeBinance) -> list[dict[str, Any]]:
    return [r for r in fx.requests() if r["method"] == "POST" and r["path"] == "/api/v3/order"]


def assert_one_to_one(fx: FakeBinance, state: Path) -> None:
    """Every order on the exchange is ours, once; every local order the exchange has is it."""
    remote = [o["clientOrderId"] for o in fx.orders()]
    assert len(remote) == len(set(remote)), f"duplicate client order ids on the exchange: {remote}"
    local = local_orders(state)
    assert set(remote) <= set(local), f"orders on the exchange we do not know: {remote}"
    for cid in remote:
        assert local[cid]["status"] not in ("PENDING", "UNKNOWN", "EXPIRED"), local[cid]


# --- futures (issue 20): the wave exchange whose key may trade futures, a futures bot -------
FUTURES_ENV = {
    "TRADEWARDEN_FUTURES_ENABLED": "true",
    "TRADEWARDEN_FUTURES_LEVERAGE": "2",
    "TRADEWARDEN_FUTURES_MAX_LEVERAGE": "3",
    "TRADEWARDEN_BOTS": "f1:BTCUSDT:ma_cross_ls",
}


@pytest.fixture()
def ffx(clean_env: None) -> Iterator[FakeBinance]:
    """The wave exchange whose key may trade futures; the futures mark follows the wave."""
    with wave_exchange(
        WAVE, 100, restrictions={"enableFutures": True}, futures={"taker_slippage": 0}
    ) as fake:
        yield fake


@pytest.fixture()
def fdaemon(tmp_path: Path, ffx: FakeBinance) -> Iterator[Callable[..., Running]]:
    """Start futures daemons on `ffx` (FUTURES_ENV + the extra settings); killed at the end."""
    started: list[Running] = []

    def run(state: Path | None = None, **extra: str) -> Running:
        r = Running(state or tmp_path / "state", ffx, **{**FUTURES_ENV, **extra})
        started.append(r)
        return r

    yield run
    for r in started:
        r.stop(signal.SIGKILL)


def futures_ours(fx: FakeBinance) -> list[dict[str, Any]]:
    """The futures orders on the exchange placed by the daemon (not the web/foreign ones)."""
    return [o for o in fx.futures_orders() if not o["clientOrderId"].startswith("web_")]
