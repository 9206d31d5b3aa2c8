"""The exporter over real HTTP: seed metrics present, promtool-clean, health and readiness."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.daemon.helpers import start, tw

pytestmark = pytest.mark.usefixtures("clean_env")

SEED_METRICS = [
    "tradewarden_portfolio_value_usd",  # portfolio value
    "tradewarden_wallet_balance_usd",  # hot/cold balances
    "tradewarden_pnl_realized_usd",  # realized P&L
    "tradewarden_pnl_unrealized_usd",  # unrealized P&L
    "tradewarden_win_rate_ratio",
    "tradewarden_profit_factor",
    "tradewarden_breaker_tripped",  # breaker states
    "tradewarden_breaker_trips_total",  # trip counters
    "tradewarden_api_request_duration_seconds",  # API latency
    "tradewarden_rate_limit_weight_used",
    "tradewarden_db_query_duration_seconds",  # DB time
    "tradewarden_errors_total",
    "process_resident_memory_bytes",  # process memory
    "process_cpu_seconds_total",  # process CPU
]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - local
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def port_of(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    for line in proc.stdout:
        if '"daemon ready"' in line:
            return int(json.loads(line)["metrics_port"])
    raise AssertionError("daemon never said it was ready")


def test_metrics_health_and_readiness(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = start(state, "run", "--follow", "--no-console")
    try:
        port = port_of(proc)
        base = f"http://127.0.0.1:{port}"
        assert get(base + "/healthz") == (200, "ok\n")
        code, body = get(base + "/readyz")
        assert code == 200 and json.loads(body)["ready"] is True
        _, text = get(base + "/metrics")
        for name in SEED_METRICS:
            assert name in text, name
        assert 'tradewarden_trading_state{state="active"} 1.0' in text
        assert "tradewarden_orders_total{" in text
        assert 'tradewarden_wallet_balance_usd{wallet="hot"}' in text
        assert "tradewarden_size_factor_ratio 1.0" in text  # no gradual restart running
        assert_breaker_series_and_db_time(text)
        promtool = shutil.which("promtool")
        assert promtool, "promtool missing: .ci/run installs Debian's prometheus package"
        check = subprocess.run(
            [promtool, "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        # a halt makes the daemon not ready, with the reason
        assert tw(state, "halt", "--reason", "readiness test").returncode == 0
        code, body = get(base + "/readyz")
        assert code == 503 and "readiness test" in body
        _, text = get(base + "/metrics")
        assert 'tradewarden_trading_state{state="halted"} 1.0' in text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


BOTS = ("trend-btc", "trend-eth")
BREAKERS = {  # breaker -> the bot label of its series (the default two bots)
    "consecutive_losses": BOTS,
    "bot_drawdown": BOTS,
    "daily_loss": ("portfolio",),
    "portfolio_drawdown": ("portfolio",),
}


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def assert_breaker_series_and_db_time(text: str) -> None:
    """Issue 17: a trip counter for every breaker x bot from the start (so increase() sees
    the first trip), breaker value and threshold one unit per metric (losses apart from
    ratios), and the state database's query time observed."""
    got = samples(text)
    trips = got["tradewarden_breaker_trips_total"]
    for breaker, bots in BREAKERS.items():
        for bot in bots:
            assert (("bot", bot), ("breaker", breaker)) in trips, (breaker, bot, trips)
            unit = "losses" if breaker == "consecutive_losses" else "ratio"
            for metric in ("value", "threshold"):
                series = got[f"tradewarden_breaker_{metric}_{unit}"]
                assert (("bot", bot), ("breaker", breaker)) in series, (metric, breaker, bot)
    assert all(
        k[1] == ("breaker", "consecutive_losses") for k in got["tradewarden_breaker_value_losses"]
    )
    assert (
        got["tradewarden_breaker_threshold_losses"][
            (("bot", "trend-btc"), ("breaker", "consecutive_losses"))
        ]
        == 3.0
    )
    assert (
        got["tradewarden_breaker_threshold_ratio"][
            (("bot", "portfolio"), ("breaker", "portfolio_drawdown"))
        ]
        == 0.4
    )
    assert not any(
        k[1] == ("breaker", "consecutive_losses") for k in got["tradewarden_breaker_value_ratio"]
    )
    assert "tradewarden_breaker_value" not in got  # the mixed-unit gauge is gone
    assert got["tradewarden_db_query_duration_seconds_count"][()] > 0


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = tw(tmp_path / "state", "run", "--no-console", TRADEWARDEN_METRICS_PORT=str(port))
    assert proc.returncode == 1 and "TRADEWARDEN_METRICS_PORT" in proc.stderr
