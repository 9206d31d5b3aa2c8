"""The persisted alert outbox: one SQLite row per (alert, channel), kept until delivered.

`enqueue` commits before it returns and does no network I/O: it is what a breaker trip
calls on the order path. Rows are delivered by the dispatcher, which claims one due row at
a time (the claim pushes ``next_attempt_at`` out by a lease, so two workers on the same
file never send the same row concurrently, and a worker that dies mid-send leaves the row
to be retried once the lease runs out). A failed row is rescheduled; nothing is ever
deleted before it was delivered. Delivered rows are kept a while, then pruned.

Duplicate suppression lives in ``alert_dedup``: while a key is *active* (alerted and not
resolved), a repeat inside the window is counted instead of sent. A resolved alert is only
sent for an active key, and deactivates it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from tradewarden.alerts.model import Alert

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_outbox (
    id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL,
    alert_json TEXT NOT NULL,
    channel TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    dedup_key TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS alert_outbox_pending
    ON alert_outbox(next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX IF NOT EXISTS alert_outbox_delivered
    ON alert_outbox(delivered_at) WHERE delivered_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS alert_dedup (
    dedup_key TEXT PRIMARY KEY,
    alert_json TEXT NOT NULL,
    sent_at REAL NOT NULL,
    active INTEGER NOT NULL,
    suppressed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS alert_counters (
    name TEXT NOT NULL,
    channel TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (name, channel)
);
"""

DEFAULT_DEDUP_SECONDS = 300.0
DEFAULT_KEEP_DELIVERED_SECONDS = 7 * 86400.0
DEFAULT_CLAIM_SECONDS = 60.0
DEFAULT_STUCK_AFTER = 10


class OutboxClosedError(RuntimeError):
    """The outbox was closed; open a new one on the same file."""


@dataclass(frozen=True)
class EnqueueResult:
    """What `enqueue` did: the rows written per channel, or why nothing was written."""

    alert_id: str | None
    row_ids: dict[str, str]
    suppressed: bool = False
    reason: str = ""

    @property
    def queued(self) -> bool:
        return bool(self.row_ids)


@dataclass(frozen=True)
class OutboxRow:
    id: str
    alert_id: str
    alert: Alert
    channel: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    delivered_at: float | None


class OutboxStats(NamedTuple):
    """For metrics. The counters (delivered, failures, suppressed) persist across restarts."""

    depth: int
    oldest_age_seconds: float
    delivered_by_channel: dict[str, int]
    failures_by_channel: dict[str, int]
    stuck: int
    suppressed: int
    pending_by_channel: dict[str, int]


class Outbox:
    def __init__(
        self,
        path: Path | str,
        *,
        dedup_seconds: float = DEFAULT_DEDUP_SECONDS,
        keep_delivered_seconds: float = DEFAULT_KEEP_DELIVERED_SECONDS,
        claim_seconds: float = DEFAULT_CLAIM_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.dedup_seconds = dedup_seconds
        self.keep_delivered_seconds = keep_delivered_seconds
        self.claim_seconds = claim_seconds
        self.clock = clock
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(self.path), timeout=10.0, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # an enqueued critical alert survives power loss
        conn.execute("PRAGMA busy_timeout=10000")
        conn.executescript(SCHEMA)
        self._conn: sqlite3.Connection | None = conn

    # --- plumbing ---------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: the write lock up front, so no upgrades)."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise OutboxClosedError("the alert outbox is closed")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise OutboxClosedError("the alert outbox is closed")
            yield self._conn

    @staticmethod
    def _bump(conn: sqlite3.Connection, name: str, channel: str, by: int = 1) -> None:
        conn.execute(
            "INSERT INTO alert_counters(name, channel, value) VALUES (?, ?, ?) "
            "ON CONFLICT(name, channel) DO UPDATE SET value = value + excluded.value",
            (name, channel, by),
        )

    @property
    def closed(self) -> bool:
        return self._conn is None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # --- writing alerts ---------------------------------------------------------------------
    def enqueue(self, alert: Alert, channels: Sequence[str]) -> EnqueueResult:
        """Write one row per channel and commit. No network. Returns what was written."""
        channels = list(dict.fromkeys(channels))
        if not channels:
            return EnqueueResult(None, {}, reason="no channel configured for this severity")
        now = self.clock()
        alert_json = alert.to_json()
        key = alert.dedup_key
        with self._tx() as conn:
            seen = conn.execute(
                "SELECT sent_at, active FROM alert_dedup WHERE dedup_key = ?", (key,)
            ).fetchone()
            active = bool(seen and seen["active"])
            if alert.resolved and not active:
                return EnqueueResult(None, {}, suppressed=True, reason="nothing active to resolve")
            if (
                not alert.resolved
                and active
                and self.dedup_seconds > 0
                and now - seen["sent_at"] < self.dedup_seconds
            ):
                conn.execute(
                    "UPDATE alert_dedup SET suppressed = suppressed + 1 WHERE dedup_key = ?",
                    (key,),
                )
                self._bump(conn, "suppressed", "*")
                return EnqueueResult(None, {}, suppressed=True, reason="duplicate within window")
            alert_id = uuid.uuid4().hex
            row_ids: dict[str, str] = {}
            for channel in channels:
                row_id = uuid.uuid4().hex
                conn.execute(
                    "INSERT INTO alert_outbox(id, alert_id, alert_json, channel, severity_rank,"
                    " dedup_key, attempts, next_attempt_at, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
                    (row_id, alert_id, alert_json, channel, alert.severity.rank, key, now, now),
                )
                row_ids[channel] = row_id
            if alert.resolved:
                conn.execute("UPDATE alert_dedup SET active = 0 WHERE dedup_key = ?", (key,))
            else:
                conn.execute(
                    "INSERT INTO alert_dedup(dedup_key, alert_json, sent_at, active)"
                    " VALUES (?, ?, ?, 1) ON CONFLICT(dedup_key) DO UPDATE SET"
                    " alert_json = excluded.alert_json, sent_at = excluded.sent_at, active = 1",
                    (key, alert_json, now),
                )
        return EnqueueResult(alert_id, row_ids)

    def active_alert(self, dedup_key: str) -> Alert | None:
        """The last alert sent under this key while it is unresolved, else None."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT alert_json FROM alert_dedup WHERE dedup_key = ? AND active = 1",
                (dedup_key,),
            ).fetchone()
        return Alert.from_json(row["alert_json"]) if row else None

    def suppressed_count(self, dedup_key: str) -> int:
        with self._read() as conn:
            row = conn.execute(
                "SELECT suppressed FROM alert_dedup WHERE dedup_key = ?", (dedup_key,)
            ).fetchone()
        return int(row["suppressed"]) if row else 0

    # --- delivery bookkeeping ---------------------------------------------------------------
    def claim_next(self, channels: Iterable[str], now: float | None = None) -> OutboxRow | None:
        """Take the most urgent due row of these channels, leasing it for `claim_seconds`."""
        names = sorted(set(channels))
        if not names:
            return None
        now = self.clock() if now is None else now
        with self._tx() as conn:
            row = conn.execute(
                "UPDATE alert_outbox SET next_attempt_at = ? WHERE id = ("
                " SELECT id FROM alert_outbox WHERE delivered_at IS NULL AND next_attempt_at <= ?"
                " AND channel IN (SELECT value FROM json_each(?))"
                " ORDER BY severity_rank, created_at, id LIMIT 1)"
                " RETURNING *",
                (now + self.claim_seconds, now, json.dumps(names)),
            ).fetchone()
        return _row(row) if row else None

    def mark_delivered(self, row_id: str, now: float | None = None) -> None:
        """The channel acknowledged. `last_error` stays as the history of the retries."""
        now = self.clock() if now is None else now
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE alert_outbox SET delivered_at = ?, attempts = attempts + 1"
                " WHERE id = ? AND delivered_at IS NULL RETURNING channel",
                (now, row_id),
            )
            hit = cur.fetchone()
            if hit:
                self._bump(conn, "delivered", hit["channel"])

    def mark_failed(self, row_id: str, error: str, retry_at: float) -> None:
        """Record a failed attempt (error text already redacted) and when to try again."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?,"
                " next_attempt_at = ? WHERE id = ? AND delivered_at IS NULL RETURNING channel",
                (error, retry_at, row_id),
            )
            hit = cur.fetchone()
            if hit:
                self._bump(conn, "failed", hit["channel"])

    def release(self, row_id: str, at: float) -> None:
        """Give a claimed row back untried, due again at `at`."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE alert_outbox SET next_attempt_at = ? WHERE id = ? AND delivered_at IS NULL",
                (at, row_id),
            )

    def next_due_at(self, channels: Iterable[str]) -> float | None:
        names = sorted(set(channels))
        if not names:
            return None
        with self._read() as conn:
            row = conn.execute(
                "SELECT MIN(next_attempt_at) AS t FROM alert_outbox WHERE delivered_at IS NULL"
                " AND channel IN (SELECT value FROM json_each(?))",
                (json.dumps(names),),
            ).fetchone()
        return None if row["t"] is None else float(row["t"])

    # --- housekeeping and views -------------------------------------------------------------
    def prune(self, now: float | None = None) -> int:
        """Delete delivered rows older than the keep period, and stale resolved dedup keys."""
        now = self.clock() if now is None else now
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM alert_outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?",
                (now - self.keep_delivered_seconds,),
            )
            conn.execute(
                "DELETE FROM alert_dedup WHERE active = 0 AND sent_at < ?",
                (now - max(self.dedup_seconds, self.keep_delivered_seconds),),
            )
            return cur.rowcount

    def rows(self, channel: str | None = None, pending_only: bool = False) -> list[OutboxRow]:
        sql = "SELECT * FROM alert_outbox WHERE 1=1"
        args: list[str] = []
        if channel:
            sql += " AND channel = ?"
            args.append(channel)
        if pending_only:
            sql += " AND delivered_at IS NULL"
        with self._read() as conn:
            found = conn.execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [_row(r) for r in found]

    def stats(
        self, stuck_after: int = DEFAULT_STUCK_AFTER, now: float | None = None
    ) -> OutboxStats:
        now = self.clock() if now is None else now
        with self._read() as conn:
            pending = conn.execute(
                "SELECT COUNT(*) AS n, MIN(created_at) AS oldest,"
                " SUM(attempts >= ?) AS stuck FROM alert_outbox WHERE delivered_at IS NULL",
                (stuck_after,),
            ).fetchone()
            by_channel = conn.execute(
                "SELECT channel, COUNT(*) AS n FROM alert_outbox"
                " WHERE delivered_at IS NULL GROUP BY channel"
            ).fetchall()
            counters = conn.execute("SELECT name, channel, value FROM alert_counters").fetchall()
        delivered = {r["channel"]: r["value"] for r in counters if r["name"] == "delivered"}
        failed = {r["channel"]: r["value"] for r in counters if r["name"] == "failed"}
        suppressed = sum(r["value"] for r in counters if r["name"] == "suppressed")
        oldest = pending["oldest"]
        return OutboxStats(
            depth=int(pending["n"]),
            oldest_age_seconds=max(0.0, now - oldest) if oldest is not None else 0.0,
            delivered_by_channel=delivered,
            failures_by_channel=failed,
            stuck=int(pending["stuck"] or 0),
            suppressed=int(suppressed),
            pending_by_channel={r["channel"]: r["n"] for r in by_channel},
        )


def _row(r: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        id=r["id"],
        alert_id=r["alert_id"],
        alert=Alert.from_json(r["alert_json"]),
        channel=r["channel"],
        attempts=int(r["attempts"]),
        next_attempt_at=float(r["next_attempt_at"]),
        last_error=r["last_error"],
        created_at=float(r["created_at"]),
        delivered_at=None if r["delivered_at"] is None else float(r["delivered_at"]),
    )
