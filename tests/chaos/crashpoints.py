"""Crash points: run the real daemon and SIGKILL it at one exact place in its own code.

    TW_CHAOS_CRASH_AT=fill_booked python -m tests.chaos.crashpoints run --no-console

Random kills from outside rarely land in a window that lasts a millisecond (a fill booked
but its breaker not yet evaluated). A crash point makes that window certain: it wraps one
method so that the process kills itself with SIGKILL right before (or after) the call —
the same as `kill -9` from outside at that instant. Nothing else is changed; the daemon
is `tradewarden run` as shipped.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

ENV = "TW_CHAOS_CRASH_AT"
# a file: every market event the strategies decide on (`Trader.on_tick`) is appended to it,
# one line "pid symbol open-time close" (the streams run checks: each candle once, in order)
DECISIONS_ENV = "TW_CHAOS_DECISIONS"


def _is_trade(_self: Any, obs: Any, *_a: Any, **_k: Any) -> bool:
    return getattr(obs, "kind", None) == "trade"


def _always(*_a: Any, **_k: Any) -> bool:
    return True


# name -> (module, class, method, "before"|"after", when)
POINTS: dict[str, tuple[str, str, str, str, Callable[..., bool]]] = {
    # the order intent is committed (PENDING) and audited; nothing has been sent
    "intent_committed": (
        "tradewarden.exchange.gateway",
        "BinanceBroker",
        "submit",
        "before",
        _always,
    ),
    # a closing fill is booked (fills + order row); the round trip is not recorded and the
    # breakers have not seen it
    "fill_booked": ("tradewarden.state.store", "Store", "record_trade", "before", _always),
    # the round trip is recorded; the breakers have not seen it
    "trade_recorded": ("tradewarden.risk.engine", "RiskEngine", "observe", "before", _is_trade),
    # a breaker trip is committed; open orders not cancelled, nothing audited or alerted
    "trip_committed": ("tradewarden.state.store", "Store", "trip", "after", _always),
    # Slack / the SMTP server accepted the alert; the outbox row is not marked delivered
    "slack_sent": ("tradewarden.alerts.slack", "SlackChannel", "send", "after", _always),
    "email_sent": ("tradewarden.alerts.email", "EmailChannel", "send", "after", _always),
}


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str) -> None:
    module, cls_name, method, when, hit = POINTS[point]
    cls = getattr(importlib.import_module(module), cls_name)
    original = getattr(cls, method)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fire = hit(*args, **kwargs)
        if fire and when == "before":
            _die()
        result = original(*args, **kwargs)
        if fire and when == "after":
            _die()
        return result

    setattr(cls, method, wrapper)


def record_decisions(path: str) -> None:
    """Append each tick the strategies decide on to `path`, before they do."""
    from tradewarden.trading.trader import Trader

    original = Trader.on_tick

    @functools.wraps(original)
    def on_tick(self: Trader, tick: Any) -> None:
        with open(path, "a") as f:
            f.write(f"{os.getpid()} {tick.symbol} {tick.ts!r} {tick.close!r}\n")
        original(self, tick)

    Trader.on_tick = on_tick  # type: ignore[method-assign]


def main() -> None:
    point = os.environ.get(ENV, "")
    if point:
        install(point)
    decisions = os.environ.get(DECISIONS_ENV, "")
    if decisions:
        record_decisions(decisions)
    from tradewarden.cli.main import main as cli_main

    sys.argv = ["tradewarden", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
