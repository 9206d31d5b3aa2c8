from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from tests.unit.alerts.doubles import FakeClock, RecordingChannel
from tradewarden.alerts import catalogue as cat
from tradewarden.alerts.backoff import Backoff
from tradewarden.alerts.dispatcher import Dispatcher
from tradewarden.alerts.model import Severity
from tradewarden.alerts.outbox import Outbox


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


def make(
    tmp_path: Path, clock: FakeClock, *names: str, dedup: float = 300.0
) -> tuple[Dispatcher, dict[str, RecordingChannel]]:
    chans = {n: RecordingChannel(n) for n in names or ("slack", "email", "sns", "console")}
    box = Outbox(tmp_path / "tw.sqlite3", dedup_seconds=dedup, clock=clock)
    return Dispatcher(box, chans.values(), backoff=Backoff(base=2.0, cap=300.0)), chans


def trip(bot: str = "trend-btc") -> object:
    return cat.breaker_tripped("daily_loss", bot, 0.052, 0.05)


def test_routing_by_severity_end_to_end(tmp_path: Path, clock: FakeClock) -> None:
    d, ch = make(tmp_path, clock)
    d.enqueue(trip())  # type: ignore[arg-type]
    d.enqueue(cat.low_balance("USDT", 10, 100))
    d.enqueue(cat.bot_started("trend-btc"))
    d.deliver_due()
    kinds = {name: [a.kind for _, a in c.sent] for name, c in ch.items()}
    assert kinds["slack"] == ["breaker_tripped", "low_balance", "bot_started"]
    assert kinds["email"] == ["breaker_tripped", "low_balance"]
    assert kinds["sns"] == ["breaker_tripped"]
    assert kinds["console"] == ["breaker_tripped", "low_balance", "bot_started"]


def test_unconfigured_channels_are_skipped(tmp_path: Path, clock: FakeClock) -> None:
    d, ch = make(tmp_path, clock, "email")
    res = d.enqueue(trip())  # type: ignore[arg-type]
    assert list(res.row_ids) == ["email"]
    assert not d.enqueue(cat.bot_started("x")).queued  # info goes to Slack only
    d.deliver_due()
    assert len(ch["email"].sent) == 1


def test_failure_is_retried_with_backoff_and_delivered_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    d, ch = make(tmp_path, clock, "slack")
    ch["slack"].fail = 3
    rid = d.enqueue(trip()).row_ids["slack"]  # type: ignore[arg-type]
    waits = []
    for _ in range(3):
        report = d.deliver_due()
        assert report.failed == {"slack": 1}
        row = d.outbox.rows()[0]
        waits.append(row.next_attempt_at - clock())
        assert d.deliver_due().total_failed == 0  # not due yet: nothing tried
        clock.advance(waits[-1])
    assert [round(w / 2**i) >= 1 for i, w in enumerate(waits)] == [True] * 3
    assert 1.0 <= waits[0] <= 2.0 and 2.0 <= waits[1] <= 4.0 and 4.0 <= waits[2] <= 8.0
    assert d.deliver_due().delivered == {"slack": 1}
    clock.advance(3600)
    d.deliver_due()
    assert ch["slack"].ids == [rid] and ch["slack"].attempts == 4
    stats = d.stats()
    assert stats.depth == 0 and stats.failures_by_channel == {"slack": 3}


def test_an_alert_is_never_dropped_only_reported_stuck(tmp_path: Path, clock: FakeClock) -> None:
    d, ch = make(tmp_path, clock, "email")
    ch["email"].fail = 10**6
    d.enqueue(trip())  # type: ignore[arg-type]
    for _ in range(25):
        d.deliver_due()
        clock.advance(301)  # past the 5-minute cap every time
    stats = d.stats()
    assert stats.depth == 1 and stats.stuck == 1
    row = d.outbox.rows()[0]
    assert row.attempts == 25 and row.delivered_at is None
    ch["email"].fail = 0
    d.deliver_due()
    assert d.stats().depth == 0 and len(ch["email"].sent) == 1


def test_one_poison_message_does_not_block_its_channel(tmp_path: Path, clock: FakeClock) -> None:
    d, ch = make(tmp_path, clock, "slack")
    bad = d.enqueue(trip("a")).row_ids["slack"]  # type: ignore[arg-type]
    clock.advance(1)
    good = [d.enqueue(trip(f"b{i}")).row_ids["slack"] for i in range(3)]  # type: ignore[arg-type]
    ch["slack"].fail_ids = {bad}
    for _ in range(5):
        d.deliver_due()
        clock.advance(0.1)
    assert sorted(ch["slack"].ids) == sorted(good)
    assert d.stats().depth == 1


def test_retry_after_pauses_the_whole_channel(tmp_path: Path, clock: FakeClock) -> None:
    d, ch = make(tmp_path, clock, "slack", "console")
    for i in range(3):
        d.enqueue(trip(f"bot{i}"))  # type: ignore[arg-type]
    ch["slack"].rate_limit = 30.0
    report = d.deliver_due()
    assert report.failed == {"slack": 1} and report.delivered == {"console": 3}
    assert ch["slack"].attempts == 1
    ch["slack"].rate_limit = None
    clock.advance(29)
    d.deliver_due()
    assert ch["slack"].attempts == 1  # two rows were due, but Slack said wait 30 s
    assert d.seconds_until_due() == pytest.approx(1.0)
    clock.advance(1)
    d.deliver_due()
    assert len(ch["slack"].sent) == 3


def test_dedup_and_resolve_through_the_dispatcher(tmp_path: Path, clock: FakeClock) -> None:
    d, ch = make(tmp_path, clock, "slack")
    alert = trip()
    assert d.enqueue(alert).queued  # type: ignore[arg-type]
    for _ in range(5):
        clock.advance(10)
        assert d.enqueue(trip()).suppressed  # type: ignore[arg-type]
    resolved = d.resolve(alert.dedup_key, "reset by ana after review")  # type: ignore[attr-defined]
    assert resolved is not None and resolved.queued
    assert d.resolve(alert.dedup_key) is None  # nothing active any more
    assert d.resolve("never-alerted") is None
    d.deliver_due()
    sent = [a for _, a in ch["slack"].sent]
    assert [a.resolved for a in sent] == [False, True]
    assert sent[1].title == sent[0].title and sent[1].severity is Severity.CRITICAL
    assert sent[1].context["resolution"] == "reset by ana after review"
    assert d.stats().suppressed == 5


def test_notify_adapter_enqueues_catalogue_alerts(tmp_path: Path, clock: FakeClock) -> None:
    d, ch = make(tmp_path, clock, "slack", "sns")
    d.notify(
        "breaker_tripped",
        breaker="daily_loss",
        bot="trend-btc",
        value=0.06,
        threshold=0.05,
        reason="r",
        orders_cancelled=["tw-1"],
        positions_closed=[],
        state="HALTED",
    )
    d.deliver_due()
    assert [a.kind for _, a in ch["sns"].sent] == ["breaker_tripped"]


def test_worker_thread_delivers_and_stops(tmp_path: Path) -> None:
    chans = [RecordingChannel("slack")]
    box = Outbox(tmp_path / "tw.sqlite3")
    d = Dispatcher(box, chans, backoff=Backoff(base=0.05, cap=0.2))
    chans[0].fail = 2
    d.start(idle_seconds=0.5)
    d.start()  # idempotent
    res = d.enqueue(trip())  # type: ignore[arg-type]
    deadline = time.monotonic() + 10
    while d.stats().depth and time.monotonic() < deadline:
        time.sleep(0.02)
    assert chans[0].ids == [res.row_ids["slack"]]
    assert d.stop(flush_timeout=2) is True
    d.close()
    assert box.closed


def test_failures_are_logged_with_the_redacted_error(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    d, ch = make(tmp_path, clock, "slack")
    d.redactor.add("sup3r-s3cret-value")
    ch["slack"].fail = 1
    ch["slack"].error = "auth failed for sup3r-s3cret-value"
    caplog.set_level(logging.INFO, logger="tradewarden.alerts")
    d.enqueue(trip())  # type: ignore[arg-type]
    d.deliver_due()
    rec = next(r for r in caplog.records if r.getMessage() == "alert delivery failed")
    assert rec.error == "ChannelError: auth failed for ***"  # type: ignore[attr-defined]
    assert d.outbox.rows()[0].last_error == "ChannelError: auth failed for ***"


def test_duplicate_channel_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two channels"):
        Dispatcher(Outbox(tmp_path / "x.sqlite3"), [RecordingChannel("a"), RecordingChannel("a")])
