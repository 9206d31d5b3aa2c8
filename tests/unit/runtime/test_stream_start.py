"""Starting in streams mode is no recovery (issue 19): until both streams are first healthy
the loop polls, but that is no fallback episode — no warning, no
``tradewarden_stream_fallback_active`` (the stream-fallback alert's input), and the first
health is "event-driven", not "event-driven again". Streams that do not come up within the
start grace are a fallback episode like any other."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.builders import LogNotifier
from tests.fakes.binance import FakeBinance
from tests.unit.runtime.test_stream_loop import KEY, SECRET, SPEC, creds, streams_for
from tradewarden.core.config import Mode, load_settings
from tradewarden.exchange import BinanceBroker
from tradewarden.exchange.streams import Inbox, Streams
from tradewarden.runtime import exchange_loop
from tradewarden.runtime.daemon import Daemon, LiveDecision
from tradewarden.runtime.exchange_loop import ExchangeLoop

Start = Callable[[], tuple[ExchangeLoop, Streams, Daemon, BinanceBroker]]


@pytest.fixture()
def starting(tmp_path: Path, clean_env: None) -> Iterator[Start]:
    """`start()` attaches streams that have not connected yet (their threads not run: the
    test sets their health as the threads would)."""
    with FakeBinance(
        api_key=KEY,
        api_secret=SECRET,
        symbols={"BTCUSDT": SPEC},
        balances={"USDT": 10_000.0, "BTC": 0.0},
    ) as fx:
        settings = load_settings(
            mode="testnet",
            binance_base_url=fx.url,
            state_dir=tmp_path,
            symbols=("BTCUSDT",),
            bots=("b1:BTCUSDT:ma_cross",),
            kline_interval="1s",
            metrics_port=0,
            recv_window_ms=1000,
        )

        def make(store: Any, metrics: Any) -> BinanceBroker:
            return BinanceBroker(settings, store, creds, request_timeout_s=2.0)

        d = Daemon(
            settings,
            notifier=LogNotifier(),
            decision=LiveDecision(Mode.TESTNET, ["test"]),
            make_broker=make,
        )

        def start() -> tuple[ExchangeLoop, Streams, Daemon, BinanceBroker]:
            broker = d.exchange_broker
            assert isinstance(broker, BinanceBroker)
            loop = ExchangeLoop(d, broker)
            loop.start()
            streams = streams_for(settings, broker, Inbox(d._wake.set))
            loop.attach_streams(streams, broker)
            return loop, streams, d, broker

        try:
            yield start
        finally:
            d.close()


def fallback_metric(d: Daemon) -> float:
    return float(d.metrics.stream_fallback._value.get())


def said(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == exchange_loop.__name__ and r.levelno == level
    ]


def test_starting_polls_without_a_fallback_episode_and_the_first_health_is_no_recovery(
    starting: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=exchange_loop.__name__)
    loop, streams, d, broker = starting()
    loop.stream_round()
    assert loop.fallback is not None and loop.fallback.startswith("streams starting: ")
    assert "user data stream disconnected" in loop.fallback
    assert broker.fill_source is None, "polling (the fill poller) until the streams are up"
    assert fallback_metric(d) == 0.0, "starting is no fallback episode"
    assert loop.stream_status()["fallback_reason"].startswith("streams starting")

    streams.user.health.connected = True
    streams.market.health.connected = True
    streams.market.health.last_message = time.monotonic()
    loop.stream_round()
    assert loop.fallback is None and broker.fill_source is not None
    assert fallback_metric(d) == 0.0
    assert said(caplog, logging.WARNING) == []
    infos = said(caplog, logging.INFO)
    assert "streams healthy: event-driven" in infos
    assert "streams healthy: event-driven again" not in infos, "starting is no recovery"

    # a real loss after that is an episode: warned, counted, and its end a recovery
    streams.user.health.connected = False
    loop.stream_round()
    assert loop.fallback is not None and loop.fallback.startswith("user data stream")
    assert fallback_metric(d) == 1.0
    assert said(caplog, logging.WARNING) == ["streams unhealthy: polling the exchange"]
    streams.user.health.connected = True
    streams.market.health.last_message = time.monotonic()
    loop.stream_round()
    assert loop.fallback is None and fallback_metric(d) == 0.0
    assert said(caplog, logging.INFO)[-1] == "streams healthy: event-driven again"


def test_streams_not_up_within_the_start_grace_are_a_fallback_episode(
    starting: Start, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger=exchange_loop.__name__)
    monkeypatch.setattr(exchange_loop, "STREAMS_START_GRACE_S", 0.0)
    loop, streams, d, broker = starting()
    loop.stream_round()
    assert loop.fallback is not None and not loop.fallback.startswith("streams starting")
    assert "market stream disconnected" in loop.fallback
    assert fallback_metric(d) == 1.0
    assert said(caplog, logging.WARNING) == ["streams unhealthy: polling the exchange"]
    assert broker.fill_source is None
    streams.user.health.connected = True
    streams.market.health.connected = True
    streams.market.health.last_message = time.monotonic()
    loop.stream_round()
    assert loop.fallback is None and fallback_metric(d) == 0.0
    assert said(caplog, logging.INFO)[-1] == "streams healthy: event-driven again"
