from __future__ import annotations

import math

import pytest

from tradewarden.alerts.model import Alert, Severity
from tradewarden.secrets.value import Secret


def make(**kw: object) -> Alert:
    base: dict[str, object] = {
        "severity": "critical",
        "title": "Breaker tripped",
        "body": "halted",
        "dedup_key": "breaker:daily_loss:trend-btc",
        "context": {"value": 0.052, "threshold": 0.05, "orders_cancelled": ("a", "b")},
        "created_at": 1_800_000_000.5,
    }
    base.update(kw)
    return Alert(**base)  # type: ignore[arg-type]


def test_json_round_trip_is_exact() -> None:
    alert = make()
    assert alert.severity is Severity.CRITICAL
    assert alert.context["orders_cancelled"] == ["a", "b"]  # tuples stored as lists
    assert Alert.from_json(alert.to_json()) == alert


def test_a_secret_in_the_context_is_refused() -> None:
    with pytest.raises(TypeError, match="plain values"):
        make(context={"token": Secret("test-slack-canary")})
    with pytest.raises(TypeError, match="plain values"):
        make(context={"nested": [{"pw": Secret("x")}]})


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_numbers_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        make(context={"value": bad})


def test_title_and_dedup_key_are_required() -> None:
    with pytest.raises(ValueError):
        make(title="  ")
    with pytest.raises(ValueError):
        make(dedup_key="")
    with pytest.raises(ValueError):
        make(severity="urgent")


def test_resolution_keeps_key_and_severity_and_drops_the_reset_command() -> None:
    alert = make(context={"reset_command": 'tradewarden reset --reason "x"', "state": "HALTED"})
    done = alert.resolution("drawdown back under 3%", at=1_800_000_100.0)
    assert done.resolved and not alert.resolved
    assert done.dedup_key == alert.dedup_key and done.severity == alert.severity
    assert done.title == "Breaker tripped"
    assert "reset_command" not in done.context
    assert done.context["resolution"] == "drawdown back under 3%"
    assert done.created_at == 1_800_000_100.0


def test_severity_rank_orders_critical_first() -> None:
    assert sorted(Severity, key=lambda s: s.rank) == [
        Severity.CRITICAL,
        Severity.WARNING,
        Severity.INFO,
    ]
