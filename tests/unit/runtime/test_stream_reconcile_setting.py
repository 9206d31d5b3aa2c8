"""TRADEWARDEN_STREAM_RECONCILE_INTERVAL_SECONDS (issue 19, REST weight): the quiet
reconciliation interval of the event-driven loop; default 120 s,
at most 150 s (under the 180 s of the ReconciliationStale alert)."""

from __future__ import annotations

import pytest

from tradewarden.core.config import ConfigError, load_settings

VAR = "TRADEWARDEN_STREAM_RECONCILE_INTERVAL_SECONDS"


def test_default_and_value(monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    assert load_settings().stream_reconcile_interval_seconds == 120.0
    monkeypatch.setenv(VAR, "150")
    assert load_settings().stream_reconcile_interval_seconds == 150.0


@pytest.mark.parametrize(
    "value", ["0", "-5", "151", "3600", "never"], ids=["zero", "neg", "past-alert", "hour", "text"]
)
def test_a_bad_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, clean_env: None, value: str
) -> None:
    monkeypatch.setenv(VAR, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert VAR in str(err.value)
