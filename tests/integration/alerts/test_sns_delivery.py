"""SMS of critical alerts through SNS on a real moto server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.alerts.helpers import SnsSink
from tests.unit.alerts.doubles import FakeClock
from tradewarden.alerts import catalogue as cat
from tradewarden.alerts.backoff import Backoff
from tradewarden.alerts.dispatcher import Dispatcher
from tradewarden.alerts.outbox import Outbox
from tradewarden.alerts.sns import SnsChannel


def dispatcher(db: Path, arn: str, clock: FakeClock) -> Dispatcher:
    return Dispatcher(
        Outbox(db, clock=clock), [SnsChannel(arn, timeout=2)], backoff=Backoff(2.0, 60.0)
    )


def test_missing_topic_then_created_delivers_exactly_once(tmp_path: Path, aws_env: str) -> None:
    clock = FakeClock()
    sink = SnsSink("tw-critical")
    d = dispatcher(tmp_path / "tw.sqlite3", sink.arn, clock)
    rids = [
        d.enqueue(cat.breaker_tripped("daily_loss", b, 0.06, 0.05)).row_ids["sns"]
        for b in ("a", "b")
    ]
    assert not d.enqueue(cat.low_balance("USDT", 1, 2)).queued  # warnings send no SMS
    for _ in range(3):
        assert d.deliver_due().failed == {"sns": 1}
        clock.advance(61)
    assert {r.last_error for r in d.outbox.rows() if r.last_error} == {
        "NotFoundException: An error occurred (NotFound) when calling the Publish operation: "
        "Endpoint does not exist"
    }
    sink.create()
    d.deliver_due()
    clock.advance(3600)
    d.deliver_due()
    assert sink.drain() == {r: 1 for r in rids}
    assert all(s.startswith("[tradewarden CRITICAL] Breaker tripped") for s in sink.subjects)


def test_unreachable_endpoint_then_restart_delivers_once(
    tmp_path: Path, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    sink = SnsSink("tw-sms")
    sink.create()
    db = tmp_path / "tw.sqlite3"
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing there
    first = dispatcher(db, sink.arn, clock)
    rid = first.enqueue(cat.emergency_stop("portfolio drawdown")).row_ids["sns"]
    assert first.deliver_due().failed == {"sns": 1}
    assert "EndpointConnectionError" in (first.outbox.rows()[0].last_error or "")
    first.close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env)  # the daemon restarts, SNS is back
    clock.advance(61)
    second = dispatcher(db, sink.arn, clock)
    assert second.deliver_due().delivered == {"sns": 1}
    clock.advance(3600)
    second.deliver_due()
    assert sink.drain() == {rid: 1}
    second.close()
