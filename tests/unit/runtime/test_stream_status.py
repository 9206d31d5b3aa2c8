"""Stream health as `tradewarden status` prints it and `tradewarden diagnose` judges it."""

from __future__ import annotations

from typing import Any

from tradewarden.operations.diagnose import FAIL, PASS, SKIP, check_streams
from tradewarden.runtime.summary import stream_lines


def view(**over: Any) -> dict[str, Any]:
    health = {"connected": True, "last_message_age_s": 0.4, "reconnects": 0, "last_error": None}
    return {
        "mode": "on",
        "started": True,
        "kline_interval": "1m",
        "fallback": False,
        "fallback_reason": None,
        "user": dict(health, last_message_age_s=None),
        "market": dict(health),
        "candle_gaps": [],
        **over,
    }


def running(streams: dict[str, Any] | None) -> dict[str, Any]:
    return {"daemon_running": True, "streams": streams}


def test_event_driven() -> None:
    lines = stream_lines(view())
    assert lines[0] == "Streams:     on (1m klines), event-driven"
    assert lines[1] == "  user   connected, no message yet, 0 reconnect(s)"
    assert lines[2] == "  market connected, last message 0.4s ago, 0 reconnect(s)"
    check = check_streams(running(view()))
    assert check.status == PASS
    assert check.detail.startswith("event-driven (1m klines): user connected, no message yet")


def test_fallback_and_gaps_are_named() -> None:
    down = view(
        fallback=True,
        fallback_reason="user data stream disconnected (closed)",
        user={"connected": False, "last_message_age_s": 31.0, "reconnects": 2, "last_error": "x"},
    )
    lines = stream_lines(down)
    assert lines[0].endswith("FALLBACK (polling): user data stream disconnected (closed)")
    assert lines[1] == (
        "  user   DISCONNECTED, last message 31.0s ago, 2 reconnect(s), last error: x"
    )
    check = check_streams(running(down))
    assert check.status == FAIL and check.detail.startswith("polling fallback (user data")
    gap = view(candle_gaps=["BTCUSDT: klines after ... not back-filled (down)"])
    assert "  GAP    BTCUSDT: klines after ... not back-filled (down)" in stream_lines(gap)
    assert check_streams(running(gap)).status == FAIL


def test_off_and_not_running() -> None:
    assert stream_lines({"mode": "off"}) == ["Streams:     off (polling)"]
    assert check_streams(running({"mode": "off"})).status == PASS
    assert check_streams({"daemon_running": False, "streams": view()}).status == SKIP
    assert check_streams(running(None)).status == SKIP
    assert check_streams(running({"mode": "on", "started": False})).status == FAIL
