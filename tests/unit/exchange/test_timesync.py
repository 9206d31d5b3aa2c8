"""Server-time offset from one round trip."""

from __future__ import annotations

from tradewarden.exchange.timesync import TimeSync


def test_offset_is_measured_at_the_midpoint() -> None:
    walls = iter([100.0, 100.2])  # the round trip took 200 ms
    ts = TimeSync(wall=lambda: next(walls))
    offset = ts.sync(lambda: 130_100)  # the server read 130.1 s at the midpoint
    assert offset == 30_000
    assert ts.synced and ts.syncs == 1


def test_server_ms_applies_the_offset() -> None:
    now = [50.0]
    ts = TimeSync(wall=lambda: now[0])
    ts.sync(lambda: 45_000)
    now[0] = 60.0
    assert ts.server_ms() == 55_000
