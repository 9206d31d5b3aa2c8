"""Durable state in one SQLite file (WAL): orders, fills, positions, equity, breakers.

Writes that guard an action (an order intent, a breaker trip) are committed before the
action happens, so a crash at any point leaves a state the next start can resume from.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tradewarden.core.models import OPEN_STATUSES, Fill, Order, OrderStatus, OrderType, Side
from tradewarden.state.keys import KeyName, StateKey
from tradewarden.state.schema import Migration, SchemaError, prepare


class StateError(Exception):
    """The state database cannot be used (corrupt, locked, unreadable)."""


class StateSchemaError(StateError):
    """The state file's schema is newer than this code or not one it knows, or migrating it
    failed (nothing changed): exit 2, naming the state directory and the versions."""


def _order(row: sqlite3.Row) -> Order:
    return Order(
        client_order_id=row["client_order_id"],
        bot=row["bot"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        order_type=OrderType(row["order_type"]),
        qty=row["qty"],
        price=row["price"],
        status=OrderStatus(row["status"]),
        filled_qty=row["filled_qty"],
        avg_price=row["avg_price"],
        exchange_order_id=row["exchange_order_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def fill_from_row(row: sqlite3.Row) -> Fill:
    """A booked fill as read back from the ``fills`` table."""
    return Fill(
        trade_id=row["trade_id"],
        client_order_id=row["client_order_id"],
        bot=row["bot"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=row["qty"],
        price=row["price"],
        fee=row["fee"],
        ts=row["ts"],
        fee_base=row["fee_base"],
        commission=row["commission"],
        commission_asset=row["commission_asset"],
    )


class Store:
    """Thin, explicit access to the state file. Thread-safe through one lock."""

    def __init__(self, path: Path | str, *, timeout: float = 5.0, durable: bool = True) -> None:
        """`durable=True` fsyncs every commit (synchronous=FULL: survives power loss).
        `durable=False` (paper replay) keeps WAL's guarantee against process crashes
        (kill -9) but lets the OS flush, which is ~10x faster."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.durable = durable
        self._lock = threading.RLock()
        # called with the seconds each query / transaction took (the daemon's DB-time
        # histogram, tradewarden_db_query_duration_seconds); None: not measured
        self.observe: Callable[[float], None] | None = None
        try:
            self._db = sqlite3.connect(
                str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA cache_size=-4096")  # 4 MiB page cache: flat memory
            ok = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise StateError(f"state database {self.path} failed its integrity check: {ok}")
            # schema version: created, migrated (one transaction) or refused (`state.schema`)
            self.migrated: list[Migration] = prepare(self._db, self.path)
        except SchemaError as exc:
            self._db.close()
            raise StateSchemaError(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise StateError(f"state database {self.path} is unusable: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def tx(self, *, fsync: bool = True) -> Iterator[sqlite3.Connection]:
        """One committed transaction; raises StateError if the file is locked or broken.

        `fsync=False` skips the fsync of this one commit on a durable store (WAL keeps it
        crash-safe; a power loss may drop it, and the next fsynced commit carries it). Only
        for writes that are a cache of the exchange's truth and are re-learned by a query
        after a restart (an order's state as the exchange reported it) — never for an intent,
        a fill, a trip or an approval."""
        with self._lock:
            relax = self.durable and not fsync
            started = time.perf_counter()
            try:
                if relax:
                    self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                raise StateError(f"state database {self.path}: {exc}") from None
            finally:
                if relax:
                    self._db.execute("PRAGMA synchronous=FULL")
                self._observe(started)

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Read-only access for modules that own their own tables (approvals, promotions)."""
        return self._query(sql, args)

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            started = time.perf_counter()
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StateError(f"state database {self.path}: {exc}") from None
            finally:
                self._observe(started)

    def _observe(self, started: float) -> None:
        if self.observe is not None:
            self.observe(time.perf_counter() - started)

    # --- orders -----------------------------------------------------------------------------
    # The methods that write the orders and fills tables are called by one module only,
    # `tradewarden.trading.order_tracker`, which holds the allowed transitions
    # (tests/unit/trading/test_order_state_owner.py checks that nobody else calls them).
    def record_intent(self, order: Order) -> None:
        """Commit the order (status PENDING) before any request is sent."""
        with self.tx() as db:
            self.insert_intent(db, order)

    @staticmethod
    def insert_intent(db: sqlite3.Connection, order: Order) -> None:
        """`record_intent` inside the caller's transaction (the order gate commits the
        intent and its audit head together)."""
        now = time.time()
        db.execute(
            "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                order.client_order_id,
                order.bot,
                order.symbol,
                str(order.side),
                str(order.order_type),
                order.qty,
                order.price,
                str(order.status),
                order.filled_qty,
                order.avg_price,
                order.exchange_order_id,
                order.created_at or now,
                now,
            ),
        )

    def update_order(self, order: Order) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE orders SET status=?, filled_qty=?, avg_price=?, exchange_order_id=?,"
                " updated_at=? WHERE client_order_id=?",
                (
                    str(order.status),
                    order.filled_qty,
                    order.avg_price,
                    order.exchange_order_id,
                    time.time(),
                    order.client_order_id,
                ),
            )

    @staticmethod
    def set_order_state(
        db: sqlite3.Connection,
        client_order_id: str,
        status: OrderStatus,
        *,
        exchange_order_id: str | None = None,
        qty: float | None = None,
    ) -> None:
        """Status, and the exchange's order id and quantity when given, inside the caller's
        transaction; fill state (``filled_qty``, ``avg_price``) is left alone."""
        db.execute(
            "UPDATE orders SET status=?, exchange_order_id=COALESCE(?, exchange_order_id),"
            " qty=COALESCE(?, qty), updated_at=? WHERE client_order_id=?",
            (str(status), exchange_order_id, qty, time.time(), client_order_id),
        )

    @staticmethod
    def order_in(db: sqlite3.Connection, client_order_id: str) -> Order | None:
        """The order's row as seen inside the caller's transaction."""
        row = db.execute(
            "SELECT * FROM orders WHERE client_order_id=?", (client_order_id,)
        ).fetchone()
        return _order(row) if row is not None else None

    @staticmethod
    def booked_qty_in(db: sqlite3.Connection, client_order_id: str) -> float:
        """The sum of the order's booked fills, inside the caller's transaction."""
        return float(
            db.execute(
                "SELECT COALESCE(SUM(qty), 0) FROM fills WHERE client_order_id=?",
                (client_order_id,),
            ).fetchone()[0]
        )

    def get_order(self, client_order_id: str) -> Order | None:
        rows = self._query("SELECT * FROM orders WHERE client_order_id=?", (client_order_id,))
        return _order(rows[0]) if rows else None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        marks = ",".join("?" * len(OPEN_STATUSES))
        args: tuple[Any, ...] = tuple(str(s) for s in OPEN_STATUSES)
        sql = f"SELECT * FROM orders WHERE status IN ({marks})"  # noqa: S608 - fixed placeholders
        if symbol:
            sql += " AND symbol=?"
            args += (symbol,)
        return [_order(r) for r in self._query(sql + " ORDER BY created_at", args)]

    def order_count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM orders")[0][0])

    # --- fills and trades -------------------------------------------------------------------
    def book_fill(self, fill: Fill, order: Order | None) -> bool:
        """Record a fill and the order's new fill state in one transaction."""
        with self.tx() as db:
            if not self.insert_fill(db, fill):
                return False
            if order is not None:
                self.set_fill_state(db, order)
            return True

    @staticmethod
    def insert_fill(db: sqlite3.Connection, fill: Fill) -> bool:
        """Store a fill once, inside the caller's transaction; False if its trade id is
        already booked."""
        cur = db.execute(
            "INSERT OR IGNORE INTO fills (trade_id, client_order_id, bot, symbol, side,"
            " qty, price, fee, ts, fee_base, commission, commission_asset)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                fill.trade_id,
                fill.client_order_id,
                fill.bot,
                fill.symbol,
                str(fill.side),
                fill.qty,
                fill.price,
                fill.fee,
                fill.ts,
                fill.fee_base,
                fill.commission,
                fill.commission_asset,
            ),
        )
        return cur.rowcount == 1

    @staticmethod
    def set_fill_state(db: sqlite3.Connection, order: Order) -> None:
        """The order's status and fill state (``filled_qty``, ``avg_price``), inside the
        caller's transaction (the one that books the fill)."""
        db.execute(
            "UPDATE orders SET status=?, filled_qty=?, avg_price=?, updated_at=?"
            " WHERE client_order_id=?",
            (
                str(order.status),
                order.filled_qty,
                order.avg_price,
                time.time(),
                order.client_order_id,
            ),
        )

    def fills_for(self, client_order_id: str) -> list[sqlite3.Row]:
        return self._query("SELECT * FROM fills WHERE client_order_id=?", (client_order_id,))

    def fills(self, bot: str | None = None) -> list[sqlite3.Row]:
        if bot:
            return self._query("SELECT * FROM fills WHERE bot=? ORDER BY ts", (bot,))
        return self._query("SELECT * FROM fills ORDER BY ts")

    def record_trade(self, bot: str, symbol: str, pnl: float, ts: float) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO trades (bot, symbol, pnl, ts) VALUES (?,?,?,?)", (bot, symbol, pnl, ts)
            )

    def trades(self, bot: str | None = None) -> list[sqlite3.Row]:
        if bot:
            return self._query("SELECT * FROM trades WHERE bot=? ORDER BY id", (bot,))
        return self._query("SELECT * FROM trades ORDER BY id")

    def mark_equities(self, ts: float, marks: dict[str, float]) -> None:
        with self.tx() as db:
            db.executemany(
                "INSERT INTO equity_marks VALUES (?,?,?)", [(b, ts, e) for b, e in marks.items()]
            )

    def equity_curve(self, bot: str) -> list[tuple[float, float]]:
        rows = self._query("SELECT ts, equity FROM equity_marks WHERE bot=? ORDER BY ts", (bot,))
        return [(r[0], r[1]) for r in rows]

    # --- breakers ---------------------------------------------------------------------------
    def trip(self, breaker: str, bot: str, value: float, threshold: float, reason: str) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO breakers VALUES (?,?,1,?,?,?,?) ON CONFLICT(breaker, bot) DO UPDATE"
                " SET tripped=1, tripped_at=excluded.tripped_at, value=excluded.value,"
                " threshold=excluded.threshold, reason=excluded.reason",
                (breaker, bot, time.time(), value, threshold, reason),
            )

    def tripped(self) -> list[sqlite3.Row]:
        return self._query("SELECT * FROM breakers WHERE tripped=1 ORDER BY tripped_at")

    def clear_trips(
        self,
        actor: str,
        reason: str,
        trips: list[tuple[str, str, float]],
        halts: Sequence[int] = (),
        *,
        asked_at: float,
        extra_cleared: Sequence[str] = (),
        scope: dict[str, Any] | None = None,
    ) -> list[str]:
        """The human reset, in one transaction: clear exactly the listed trips (breaker, bot,
        tripped_at) and halts (ids) that are still as listed and were recorded at or before
        `asked_at`; a trip that tripped again since, or a halt recorded later, stays. Returns
        what was cleared ("breaker:bot", "halt#id"), recorded in `resets` with the scope (a
        row without one is from before scoped resets: it cleared everything)."""
        now = time.time()
        cleared: list[str] = []
        with self.tx() as db:
            for breaker, bot, tripped_at in trips:
                cur = db.execute(
                    "UPDATE breakers SET tripped=0 WHERE breaker=? AND bot=? AND tripped=1"
                    " AND tripped_at=? AND tripped_at<=?",
                    (breaker, bot, tripped_at, asked_at),
                )
                if cur.rowcount == 1:
                    cleared.append(f"{breaker}:{bot}")
            for hid in halts:
                cur = db.execute(
                    "UPDATE halts SET cleared_at=?, cleared_by=?, clear_reason=?"
                    " WHERE id=? AND cleared_at IS NULL AND ts<=?",
                    (now, actor, reason, hid, asked_at),
                )
                if cur.rowcount == 1:
                    cleared.append(f"halt#{hid}")
            cleared.extend(extra_cleared)
            db.execute(
                "INSERT INTO resets (ts, actor, reason, cleared, scope) VALUES (?,?,?,?,?)",
                (now, actor, reason, json.dumps(cleared), json.dumps(scope or {})),
            )
        return cleared

    # --- halts (human and automatic; never lowered except by a reset) -----------------------
    def add_halt(self, state: str, reason: str, actor: str, kind: str) -> int:
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO halts (ts, state, reason, actor, kind) VALUES (?,?,?,?,?)",
                (time.time(), state, reason, actor, kind),
            )
            return int(cur.lastrowid or 0)

    def active_halts(self) -> list[sqlite3.Row]:
        return self._query("SELECT * FROM halts WHERE cleared_at IS NULL ORDER BY id")

    def resets(self) -> list[sqlite3.Row]:
        return self._query("SELECT * FROM resets ORDER BY id")

    # --- key/value (risk counters, manual halt, peaks): the keys are in `state.keys` ---------
    def get(self, key: KeyName, default: Any = None) -> Any:
        rows = self._query("SELECT value FROM kv WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def put(self, key: KeyName, value: Any) -> None:
        with self.tx() as db:
            self._put(db, key, value)

    @staticmethod
    def _put(db: sqlite3.Connection, key: KeyName, value: Any) -> None:
        db.execute(
            "INSERT INTO kv VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, json.dumps(value)),
        )

    def put_many(self, items: dict[StateKey, Any]) -> None:
        with self.tx() as db:
            for k, v in items.items():
                self._put(db, k, v)

    # --- control requests (CLI -> running daemon) -------------------------------------------
    # pending -> applying (the daemon claimed it) -> done | failed
    # pending -> holding -> held (a halt put in force while the daemon waits) -> done | failed
    # pending -> expired (the CLI gave up, or its time-to-live passed): never applied
    def add_control(
        self,
        action: str,
        reason: str,
        actor: str,
        *,
        ttl: float = 10.0,
        payload: Any = None,
    ) -> int:
        now = time.time()
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO control_requests (ts, action, reason, actor, expires_at, payload)"
                " VALUES (?,?,?,?,?,?)",
                (now, action, reason, actor, now + ttl, json.dumps(payload)),
            )
            return int(cur.lastrowid or 0)

    def pending_controls(self, actions: tuple[str, ...] = ()) -> list[sqlite3.Row]:
        """Requests still waiting to be applied and not past their time-to-live."""
        sql = "SELECT * FROM control_requests WHERE status='pending' AND expires_at>?"
        args: tuple[Any, ...] = (time.time(),)
        if actions:
            sql += f" AND action IN ({','.join('?' * len(actions))})"
            args += actions
        return self._query(sql + " ORDER BY id", args)

    def held_controls(self) -> list[sqlite3.Row]:
        return self._query("SELECT * FROM control_requests WHERE status='held' ORDER BY id")

    def _move_control(self, req_id: int, to: str, *, unexpired: bool) -> bool:
        """pending -> `to` in one transaction; False if it is no longer pending (or, with
        `unexpired`, past its time-to-live)."""
        sql = "UPDATE control_requests SET status=? WHERE id=? AND status='pending'"
        args: tuple[Any, ...] = (to, req_id)
        if unexpired:
            sql += " AND expires_at>?"
            args += (time.time(),)
        with self.tx() as db:
            return db.execute(sql, args).rowcount == 1

    def claim_control(self, req_id: int) -> bool:
        """The daemon takes a request to apply it, only while it is pending and alive."""
        return self._move_control(req_id, "applying", unexpired=True)

    def hold_control(self, req_id: int) -> bool:
        """The daemon takes a halt to put it in force while waiting ("holding"; "held" with
        its result once in force); its cancels follow in the loop."""
        return self._move_control(req_id, "holding", unexpired=True)

    def expire_control(self, req_id: int) -> bool:
        """The CLI gives up: the request can never be applied after this returns True."""
        with self.tx() as db:
            cur = db.execute(
                "UPDATE control_requests SET status='expired', result=? WHERE id=?"
                " AND status='pending'",
                (json.dumps("expired: the daemon did not take it in time"), req_id),
            )
            return cur.rowcount == 1

    def expire_stale_controls(self) -> int:
        """At daemon start: pending requests past their time-to-live (or from before TTLs
        existed) expire; one a dead daemon had claimed is marked interrupted (never redone)."""
        with self.tx() as db:
            n = db.execute(
                "UPDATE control_requests SET status='expired', result=? WHERE status='pending'"
                " AND (expires_at IS NULL OR expires_at<=?)",
                (json.dumps("expired: not applied within its time-to-live"), time.time()),
            ).rowcount
            db.execute(
                "UPDATE control_requests SET status='failed', result=?"
                " WHERE status IN ('applying', 'holding')",
                (json.dumps("interrupted: the daemon stopped while applying it"),),
            )
            return int(n)

    def finish_control(self, req_id: int, status: str, result: Any) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE control_requests SET status=?, result=? WHERE id=?",
                (status, json.dumps(result), req_id),
            )

    def control(self, req_id: int) -> sqlite3.Row | None:
        rows = self._query("SELECT * FROM control_requests WHERE id=?", (req_id,))
        return rows[0] if rows else None

    # --- audit chain head (written by AuditLog.append; checked by `audit verify`) -----------
    def audit_head(self) -> sqlite3.Row | None:
        rows = self._query("SELECT * FROM audit_head WHERE id=1")
        return rows[0] if rows else None

    @staticmethod
    def put_audit_head(
        db: sqlite3.Connection, seq: int, hash_: str, hmac: str | None, ts: float
    ) -> None:
        """Record the chain head inside the caller's transaction. Never moves backwards;
        `signed_from` keeps the first signed seq (from then on every entry must be)."""
        db.execute(
            "INSERT INTO audit_head VALUES (1,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
            " seq=excluded.seq, hash=excluded.hash, hmac=excluded.hmac, ts=excluded.ts,"
            " signed_from=COALESCE(audit_head.signed_from, excluded.signed_from)"
            " WHERE excluded.seq > audit_head.seq",
            (seq, hash_, hmac, seq if hmac else None, ts),
        )

    # --- schema version (`state.schema`) ---------------------------------------------------
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    def audit_migrations(
        self, record: Callable[[sqlite3.Connection, dict[str, Any]], object]
    ) -> int:
        """Hand each applied schema migration not audited yet to `record(db, row)` (which
        appends it to the audit log in this transaction), then mark it audited: the entry
        and the mark commit together. Returns how many."""
        with self.tx() as db:
            rows = db.execute(
                "SELECT version, name, from_version, applied_at FROM schema_migrations"
                " WHERE audited=0 ORDER BY version"
            ).fetchall()
            for r in rows:
                record(db, dict(r))
            db.execute("UPDATE schema_migrations SET audited=1 WHERE audited=0")
        return len(rows)

    def integrity_check(self) -> str:
        return str(self._query("PRAGMA integrity_check")[0][0])
