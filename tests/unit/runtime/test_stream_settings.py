"""The event-driven loop's settings (issue 19): defaults, and a bad value is refused naming
the setting (the CLI exits 2 before anything starts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tradewarden.core.config import ConfigError, KlineInterval, Streams, load_settings


def test_defaults(clean_env: None) -> None:
    s = load_settings()
    assert s.streams is Streams.ON
    assert s.kline_interval is KlineInterval.M1
    assert s.stream_stale_seconds == 10.0
    assert s.stream_reconnect_max_seconds == 30.0


def test_values_are_read(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    monkeypatch.setenv("TRADEWARDEN_STREAMS", "off")
    monkeypatch.setenv("TRADEWARDEN_KLINE_INTERVAL", "1s")
    monkeypatch.setenv("TRADEWARDEN_STREAM_STALE_SECONDS", "2.5")
    monkeypatch.setenv("TRADEWARDEN_STREAM_RECONNECT_MAX_SECONDS", "5")
    s = load_settings()
    assert (s.streams, s.kline_interval) == (Streams.OFF, KlineInterval.S1)
    assert (s.stream_stale_seconds, s.stream_reconnect_max_seconds) == (2.5, 5.0)


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("TRADEWARDEN_STREAMS", "maybe"),
        ("TRADEWARDEN_KLINE_INTERVAL", "5m"),
        ("TRADEWARDEN_STREAM_STALE_SECONDS", "0"),
        ("TRADEWARDEN_STREAM_STALE_SECONDS", "soon"),
        ("TRADEWARDEN_STREAM_RECONNECT_MAX_SECONDS", "-1"),
    ],
    ids=["streams", "interval", "stale-zero", "stale-text", "reconnect-negative"],
)
def test_a_bad_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, clean_env: None, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert var in str(err.value)


def test_run_exits_2_on_a_bad_stream_setting(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TRADEWARDEN_KLINE_INTERVAL": "3m",
        "TRADEWARDEN_STATE_DIR": str(state),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tradewarden.cli.main", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "TRADEWARDEN_KLINE_INTERVAL" in proc.stderr
    assert not state.exists()
