"""Gradual restart: reduced size after a reset, doubling after N wins, back to normal."""

from __future__ import annotations

from pathlib import Path

from tradewarden.risk.ramp import SizeRamp
from tradewarden.state.store import Store


def test_ramp_steps_up_and_survives_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    ramp = SizeRamp(store, 0.25, 2)
    assert ramp.factor == 1.0
    ramp.begin("reset: reviewed")
    assert ramp.factor == 0.25
    ramp.on_trade(5.0)
    ramp.on_trade(-1.0)  # a loss restarts the count
    ramp.on_trade(5.0)
    assert ramp.factor == 0.25
    ramp.on_trade(5.0)
    assert ramp.factor == 0.5
    assert SizeRamp(store, 0.25, 2).factor == 0.5  # persisted
    for _ in range(2):
        ramp.on_trade(1.0)
    assert ramp.factor == 1.0
    for _ in range(4):
        ramp.on_trade(1.0)
    assert ramp.factor == 1.0
