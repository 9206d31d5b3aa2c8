from __future__ import annotations

import pytest

from tradewarden.alerts.model import Severity
from tradewarden.alerts.routing import route

ALL = ("slack", "email", "sns", "console")


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (Severity.CRITICAL, ["slack", "email", "sns", "console"]),
        (Severity.WARNING, ["slack", "email", "console"]),
        (Severity.INFO, ["slack", "console"]),
    ],
)
def test_seed_routing_table(severity: Severity, expected: list[str]) -> None:
    assert route(severity, ALL) == expected


def test_unconfigured_channels_are_skipped() -> None:
    assert route(Severity.CRITICAL, ["email"]) == ["email"]
    assert route(Severity.INFO, ["email", "sns"]) == []
    assert route(Severity.WARNING, ["sns", "console"]) == ["console"]


def test_console_receives_every_severity() -> None:
    for severity in Severity:
        assert route(severity, ["console"]) == ["console"]
