"""Issue 17: the watch's thresholds (watch.py), their settings, and what counts as a system
critical error (critical.py)."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tradewarden.audit.chain import AuditError
from tradewarden.core.config import ConfigError, load_settings
from tradewarden.exchange.client import error_kind
from tradewarden.exchange.errors import (
    AuthError,
    ExchangeUnavailableError,
    FilterReject,
    FilterRejectedError,
    RateLimitedError,
    TransportError,
)
from tradewarden.runtime.critical import CRITICAL_ERRORS, component_of
from tradewarden.runtime.watch import Burst, large_position_mark, low_balance_threshold
from tradewarden.secrets.errors import SecretError, SecretUnavailableError
from tradewarden.state.store import StateError
from tradewarden.trading.broker import BrokerError

pytestmark = pytest.mark.usefixtures("clean_env")
WATCH_SETTINGS = (
    "TRADEWARDEN_LARGE_POSITION_USD",
    "TRADEWARDEN_LARGE_POSITION_PCT",
    "TRADEWARDEN_UNUSUAL_WINDOW_SECONDS",
    "TRADEWARDEN_UNUSUAL_FAILED_ORDERS",
    "TRADEWARDEN_UNUSUAL_REJECTED_ORDERS",
    "TRADEWARDEN_LOW_BALANCE_USD",
)


def test_defaults_come_from_the_seeds() -> None:
    s = load_settings()
    assert s.large_position_usd == 1_000.0  # the seed's $1,000 transfer-approval mark
    assert s.large_position_pct == 0.20  # the seed's "never more than 20%"
    assert s.low_balance_usd == 1_000.0
    assert (s.unusual_failed_orders, s.unusual_rejected_orders) == (5, 5)
    assert s.unusual_window_seconds == 60.0


@pytest.mark.parametrize("var", WATCH_SETTINGS)
@pytest.mark.parametrize("value", ["nan", "-1", "0", "inf", "lots"])
def test_a_bad_threshold_names_its_setting(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert var in str(err.value)


def test_a_nan_threshold_stops_the_daemon_with_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tradewarden.cli.main", "run", "--no-console"],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "TRADEWARDEN_STATE_DIR": str(tmp_path / "state"),
            "TRADEWARDEN_LARGE_POSITION_USD": "NaN",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "TRADEWARDEN_LARGE_POSITION_USD" in proc.stderr


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("TRADEWARDEN_LARGE_POSITION_PCT", "0.9"),  # the share mark switched off in effect
        ("TRADEWARDEN_UNUSUAL_FAILED_ORDERS", "100000"),
        ("TRADEWARDEN_UNUSUAL_REJECTED_ORDERS", "100000"),
        ("TRADEWARDEN_UNUSUAL_WINDOW_SECONDS", "1"),
        # issue 17's review (attacks that worked): the periodic audit verification, in
        # effect never (once in 31,000 years)
        ("TRADEWARDEN_AUDIT_VERIFY_SECONDS", "1e12"),
        # the exchange's clock never read again after the start
        ("TRADEWARDEN_CLOCK_CHECK_SECONDS", "1e12"),
        # the notional large-position mark switched off
        ("TRADEWARDEN_LARGE_POSITION_USD", "1e15"),
        # the low-balance floor switched off (a bot in position needs no entry)
        ("TRADEWARDEN_LOW_BALANCE_USD", "0.000001"),
        # every alert whose key is never resolved (unusual activity, low balance, large
        # position, a system error) sent once per process lifetime and never again
        ("TRADEWARDEN_ALERT_DEDUP_SECONDS", "1e12"),
    ],
)
def test_prod_cannot_switch_a_warning_or_a_daemon_check_off(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    load_settings()  # dev: the field's own range only
    monkeypatch.setenv("TRADEWARDEN_PROFILE", "prod")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert var in str(err.value)


def test_large_position_fires_on_the_crossing_only() -> None:
    marks = {"usd": 1_000.0, "pct": 0.20}
    assert large_position_mark(0, 999, 10_000, **marks) is None
    assert large_position_mark(0, 1_000, 10_000, **marks) is None  # "larger than"
    assert large_position_mark(900, 1_001, 10_000, **marks) == "usd"
    assert large_position_mark(1_100, 1_500, 100_000, **marks) is None  # already above
    assert large_position_mark(1_500, 1_100, 100_000, **marks) is None  # a reduction
    assert large_position_mark(0, 500, 2_000, **marks) == "pct"  # 25% of the equity
    assert large_position_mark(0, 500, 3_000, **marks) is None  # 16.7%


def test_large_position_bad_numbers_fail_safe() -> None:
    marks = {"usd": 1_000.0, "pct": 0.20}
    assert large_position_mark(0, math.nan, 10_000, **marks) is None
    # an equity that is not a number / not positive: the notional mark still applies
    assert large_position_mark(0, 1_500, math.nan, **marks) == "usd"
    assert large_position_mark(0, 1_500, -5.0, **marks) == "usd"
    assert large_position_mark(0, 500, 0.0, **marks) is None


def test_low_balance_threshold_is_the_larger_of_floor_and_next_entry() -> None:
    assert low_balance_threshold(1_000.0, []) == 1_000.0
    assert low_balance_threshold(1_000.0, [500.0, 2_500.0]) == 2_500.0
    assert low_balance_threshold(0.0, [math.nan, -3.0, 40.0]) == 40.0


def test_burst_counts_within_the_window_and_starts_afresh() -> None:
    now = [0.0]
    b = Burst(3, 60.0, lambda: now[0])
    assert b.add("a") is None
    now[0] = 61.0  # "a" leaves the window
    assert b.add("b") is None and b.add("c") is None
    assert b.add("d") == ["b", "c", "d"]
    assert b.add("e") is None  # counted afresh after a warning


def test_errors_counted_per_failed_request_by_kind() -> None:
    assert error_kind(TransportError("no answer")) == "exchange"
    assert error_kind(AuthError("-2015", code=-2015)) == "exchange"
    assert error_kind(ExchangeUnavailableError("-1016", code=-1016)) == "maintenance"
    assert error_kind(RateLimitedError("418", code=418, retry_after=5)) == "rate_limited"
    assert error_kind(SecretUnavailableError("past TTL")) == "secrets"
    # an answer, not an outage: counted by the order outcome metrics instead
    assert error_kind(BrokerError("order rejected", code=-2010)) is None
    assert error_kind(FilterRejectedError(FilterReject.MIN_NOTIONAL, "too small")) is None


def test_which_errors_are_critical() -> None:
    assert (
        isinstance(AuditError("cannot write"), CRITICAL_ERRORS)
        and component_of(AuditError()) == "audit log"
    )
    assert isinstance(StateError("integrity check failed"), CRITICAL_ERRORS)
    assert isinstance(sqlite3.DatabaseError("database disk image is malformed"), CRITICAL_ERRORS)
    assert component_of(sqlite3.DatabaseError()) == "state database"
    for ordinary in (BrokerError("x"), TransportError("x"), SecretError("x"), ValueError("x")):
        assert not isinstance(ordinary, CRITICAL_ERRORS), ordinary
    assert set(CRITICAL_ERRORS) == {AuditError, StateError, sqlite3.DatabaseError}
