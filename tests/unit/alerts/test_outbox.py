from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from tests.unit.alerts.doubles import FakeClock
from tradewarden.alerts import catalogue as cat
from tradewarden.alerts.outbox import Outbox, OutboxClosedError

CHANNELS = ["slack", "email", "sns", "console"]


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "tradewarden.sqlite3"


def trip(bot: str = "trend-btc") -> object:
    return cat.breaker_tripped("daily_loss", bot, 0.052, 0.05)


def test_enqueue_is_committed_before_it_returns(db: Path, clock: FakeClock) -> None:
    box = Outbox(db, clock=clock)
    res = box.enqueue(trip(), CHANNELS)  # type: ignore[arg-type]
    assert sorted(res.row_ids) == sorted(CHANNELS)
    # a separate connection (another process after a crash) already sees every row
    other = sqlite3.connect(db)
    rows = other.execute(
        "SELECT channel, attempts, delivered_at FROM alert_outbox ORDER BY channel"
    ).fetchall()
    assert rows == [(c, 0, None) for c in sorted(CHANNELS)]
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    box.close()


def test_pending_rows_survive_a_restart(db: Path, clock: FakeClock) -> None:
    first = Outbox(db, clock=clock)
    res = first.enqueue(trip(), ["slack", "email"])  # type: ignore[arg-type]
    first.close()
    with pytest.raises(OutboxClosedError):
        first.enqueue(trip("x"), ["slack"])  # type: ignore[arg-type]
    second = Outbox(db, clock=clock)
    pending = {r.id for r in second.rows(pending_only=True)}
    assert pending == set(res.row_ids.values())
    assert second.stats().depth == 2
    second.close()


def test_duplicates_inside_the_window_are_suppressed_and_counted(
    db: Path, clock: FakeClock
) -> None:
    box = Outbox(db, dedup_seconds=300, clock=clock)
    assert box.enqueue(trip(), ["slack"]).queued  # type: ignore[arg-type]
    clock.advance(120)
    again = box.enqueue(trip(), ["slack"])  # type: ignore[arg-type]
    assert again.suppressed and not again.queued
    clock.advance(120)
    assert box.enqueue(trip(), ["slack"]).suppressed  # type: ignore[arg-type]
    assert box.suppressed_count("breaker:daily_loss:trend-btc") == 2
    assert box.stats().suppressed == 2
    # other keys are not affected
    assert box.enqueue(trip("trend-eth"), ["slack"]).queued  # type: ignore[arg-type]
    clock.advance(61)  # 301 s after the first one was sent
    assert box.enqueue(trip(), ["slack"]).queued  # type: ignore[arg-type]
    assert len(box.rows()) == 3
    box.close()


def test_a_resolved_alert_is_sent_only_for_an_active_key(db: Path, clock: FakeClock) -> None:
    box = Outbox(db, clock=clock)
    alert = trip()
    nothing = box.enqueue(alert.resolution("cleared"), ["slack"])  # type: ignore[attr-defined]
    assert not nothing.queued and nothing.suppressed
    box.enqueue(alert, ["slack"])  # type: ignore[arg-type]
    assert box.active_alert(alert.dedup_key) == alert  # type: ignore[attr-defined]
    done = box.enqueue(alert.resolution("cleared"), ["slack"])  # type: ignore[attr-defined]
    assert done.queued
    assert box.active_alert(alert.dedup_key) is None  # type: ignore[attr-defined]
    # after the resolution a new occurrence alerts at once, inside the old window
    clock.advance(1)
    assert box.enqueue(alert, ["slack"]).queued  # type: ignore[arg-type]
    box.close()


def test_claim_leases_a_row_so_a_second_worker_skips_it(db: Path, clock: FakeClock) -> None:
    a = Outbox(db, clock=clock, claim_seconds=60)
    b = Outbox(db, clock=clock, claim_seconds=60)
    a.enqueue(trip(), ["slack"])  # type: ignore[arg-type]
    row = a.claim_next(["slack"])
    assert row is not None
    assert b.claim_next(["slack"]) is None
    # the first worker died mid-send: after the lease the row is due again, not lost
    a.close()
    clock.advance(61)
    again = b.claim_next(["slack"])
    assert again is not None and again.id == row.id
    b.mark_delivered(again.id)
    assert b.stats().depth == 0
    b.close()


def test_concurrent_claims_never_hand_out_a_row_twice(db: Path, clock: FakeClock) -> None:
    boxes = [Outbox(db, clock=clock) for _ in range(4)]
    for i in range(40):
        boxes[0].enqueue(cat.bot_started(f"b{i}", created_at=float(i)), ["slack"])
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(box: Outbox) -> None:
        while (row := box.claim_next(["slack"])) is not None:
            with lock:
                claimed.append(row.id)

    threads = [threading.Thread(target=worker, args=(b,)) for b in boxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 40 and len(set(claimed)) == 40
    for box in boxes:
        box.close()


def test_most_urgent_then_oldest_is_claimed_first(db: Path, clock: FakeClock) -> None:
    box = Outbox(db, clock=clock)
    box.enqueue(cat.bot_started("b"), ["slack"])
    clock.advance(1)
    box.enqueue(cat.low_balance("USDT", 1, 2), ["slack"])
    clock.advance(1)
    box.enqueue(trip(), ["slack"])  # type: ignore[arg-type]
    kinds = []
    while (row := box.claim_next(["slack"])) is not None:
        kinds.append(row.alert.kind)
    assert kinds == ["breaker_tripped", "low_balance", "bot_started"]
    box.close()


def test_failures_never_delete_and_many_make_a_row_stuck(db: Path, clock: FakeClock) -> None:
    box = Outbox(db, clock=clock)
    res = box.enqueue(trip(), ["email"])  # type: ignore[arg-type]
    rid = res.row_ids["email"]
    for _ in range(12):
        row = box.claim_next(["email"])
        assert row is not None and row.id == rid
        box.mark_failed(rid, "SMTPDataError: 451", clock() + 5)
        clock.advance(5)
    stats = box.stats(stuck_after=10)
    assert stats.depth == 1 and stats.stuck == 1
    assert stats.failures_by_channel == {"email": 12}
    assert stats.oldest_age_seconds == pytest.approx(60)
    assert box.rows()[0].last_error == "SMTPDataError: 451"
    box.mark_delivered(rid)
    stats = box.stats()
    assert (stats.depth, stats.stuck, stats.delivered_by_channel) == (0, 0, {"email": 1})
    box.close()


def test_delivered_rows_are_kept_a_while_then_pruned(db: Path, clock: FakeClock) -> None:
    box = Outbox(db, clock=clock, keep_delivered_seconds=3600)
    box.enqueue(trip(), ["slack", "email"])  # type: ignore[arg-type]
    row = box.claim_next(["slack"])
    assert row is not None
    box.mark_delivered(row.id)
    clock.advance(1800)
    assert box.prune() == 0
    clock.advance(1801)
    assert box.prune() == 1
    left = box.rows()
    assert [r.channel for r in left] == ["email"]  # the undelivered row is never pruned
    # counters outlive the pruned rows
    assert box.stats().delivered_by_channel == {"slack": 1}
    box.close()


def test_no_channel_writes_nothing(db: Path, clock: FakeClock) -> None:
    box = Outbox(db, clock=clock)
    res = box.enqueue(trip(), [])  # type: ignore[arg-type]
    assert not res.queued and not res.suppressed and res.reason
    assert box.rows() == []
    box.close()
