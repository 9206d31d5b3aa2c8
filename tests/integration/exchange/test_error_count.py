"""Issue 17 item 2: every failed request counts in ``tradewarden_errors_total``, by kind, and
an answer that is not an error (an order refused with a 4xx code) does not.

Before, the loop counted one error per failed round and nothing else: an order POST
answered 503, a failed cancel or fill poll, a burst of failures inside one round were
never counted, and in a sustained outage the count grew once per back-off (HighErrorRate
could not fire; see ops/prometheus/tests/daemon_test.yml)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import intent
from tradewarden.exchange import BinanceBroker
from tradewarden.runtime.exchange_loop import MetricsBridge
from tradewarden.runtime.metrics import Metrics
from tradewarden.state.store import Store
from tradewarden.trading.broker import BrokerError


def errors(m: Metrics, kind: str) -> float:
    return m.registry.get_sample_value("tradewarden_errors_total", {"kind": kind}) or 0.0


def test_each_failed_request_is_one_error_of_its_kind(
    fx: FakeBinance, make_broker: Callable[..., BinanceBroker], store: Store
) -> None:
    m = Metrics()
    broker = make_broker(metrics=MetricsBridge(m))
    fx.fault("maintenance", path="/api/v3/ticker/price", count=3)
    for _ in range(3):
        with pytest.raises(BrokerError):
            broker.ticker_price("BTCUSDT")
    assert errors(m, "maintenance") == 3
    fx.fault("error_after_accept", path="/api/v3/order", method="POST", count=1, status=503)
    broker.resolve_timeout_s = 5.0
    try:
        broker.submit(intent(store))  # resolved by query: the order is not lost
    except BrokerError:
        pass
    assert errors(m, "exchange") == 1  # the 503 on the order itself
    fx.fault("reject", path="/api/v3/order", method="POST", count=1, code=-2010)
    with pytest.raises(BrokerError) as refused:
        broker.submit(intent(store))
    assert refused.value.code == -2010
    assert errors(m, "exchange") == 1  # an exchange's refusal is an answer, not an outage
