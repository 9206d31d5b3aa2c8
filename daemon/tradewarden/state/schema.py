"""The state database's schema version (``PRAGMA user_version``) and its migrations.

A state file records the version of the schema it holds. On open (`prepare`):

- a file without our tables (new, or holding only the alert outbox's) is brought from
  version 0 to `CURRENT_VERSION` by running every migration;
- version 0 with our tables is a file written before versions existed: the same
  migrations bring it up (the first completes that schema: missing tables and the
  columns added since the first release);
- an older version runs the migrations after it;
- a newer version, or tables that are not what this version expects (a corrupt file, one
  written by other software), is refused with `SchemaError`, and the file is not changed.

Every migration is a function run with the others in one transaction (all or none,
``user_version`` included), then the schema is checked against what the migrations build
on an empty database before it commits. Each applied migration is logged and recorded in
``schema_migrations`` (the daemon audits those of an existing file at its start).

To change the schema: add a function and a `Migration` with the next version to
`MIGRATIONS`; never edit one that has shipped.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)


class SchemaError(Exception):
    """The state file's schema is newer than this code, unknown, or a migration failed."""


# The schema before versions existed, as the last unversioned release created it.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    bot TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    order_type TEXT NOT NULL,
    qty REAL NOT NULL,
    price REAL,
    status TEXT NOT NULL,
    filled_qty REAL NOT NULL DEFAULT 0,
    avg_price REAL NOT NULL DEFAULT 0,
    exchange_order_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status);
CREATE TABLE IF NOT EXISTS fills (
    trade_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    bot TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty REAL NOT NULL,
    price REAL NOT NULL,
    fee REAL NOT NULL,
    ts REAL NOT NULL,
    fee_base REAL NOT NULL DEFAULT 0,
    commission REAL NOT NULL DEFAULT 0,
    commission_asset TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS trades (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
    symbol TEXT NOT NULL,
    pnl REAL NOT NULL,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS equity_marks (
    bot TEXT NOT NULL,
    ts REAL NOT NULL,
    equity REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS breakers (
    breaker TEXT NOT NULL,
    bot TEXT NOT NULL,
    tripped INTEGER NOT NULL,
    tripped_at REAL,
    value REAL,
    threshold REAL,
    reason TEXT,
    PRIMARY KEY (breaker, bot)
);
CREATE TABLE IF NOT EXISTS resets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    cleared TEXT NOT NULL,
    scope TEXT
);
CREATE TABLE IF NOT EXISTS control_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    result TEXT,
    expires_at REAL,
    payload TEXT
);
CREATE TABLE IF NOT EXISTS halts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    cleared_at REAL,
    cleared_by TEXT,
    clear_reason TEXT
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    hmac TEXT,
    signed_from INTEGER,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    from_version INTEGER NOT NULL,
    applied_at REAL NOT NULL,
    audited INTEGER NOT NULL DEFAULT 0
);
"""
# columns unversioned files created before them lack: (table, column, declaration)
V0_LATE_COLUMNS = (
    ("control_requests", "expires_at", "REAL"),
    ("control_requests", "payload", "TEXT"),
    ("resets", "scope", "TEXT"),
    ("fills", "fee_base", "REAL NOT NULL DEFAULT 0"),
    ("fills", "commission", "REAL NOT NULL DEFAULT 0"),
    ("fills", "commission_asset", "TEXT NOT NULL DEFAULT ''"),
)


def statements(script: str) -> list[str]:
    """The statements of a DDL script (none of ours holds a ';' inside a statement), to run
    one by one inside a transaction (`executescript` would commit first)."""
    return [s.strip() for s in script.split(";") if s.strip()]


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [str(r[1]) for r in db.execute(f"PRAGMA table_info({table})")]


def _v1_baseline(db: sqlite3.Connection) -> None:
    """The schema of the last unversioned release: the tables a file lacks are created,
    and the columns added after the first release are added where missing."""
    for stmt in statements(SCHEMA_V1):
        db.execute(stmt)
    for table, column, decl in V0_LATE_COLUMNS:
        if column not in _columns(db, table):
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


@dataclass(frozen=True)
class Migration:
    version: int  # the version the file is at once this ran
    name: str
    apply: Callable[[sqlite3.Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "baseline: the unversioned schema, completed", _v1_baseline),
)
CURRENT_VERSION = MIGRATIONS[-1].version


def user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


@cache
def _expected(migrations: tuple[Migration, ...]) -> dict[str, tuple[str, ...]]:
    """Table -> columns, as the migrations build them on an empty database."""
    mem = sqlite3.connect(":memory:")
    try:
        for m in migrations:
            m.apply(mem)
        return {t: tuple(_columns(mem, t)) for t in _tables(mem)}
    finally:
        mem.close()


def _tables(db: sqlite3.Connection) -> list[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
    )
    return [str(r[0]) for r in rows]


def _problems(db: sqlite3.Connection, expected: dict[str, tuple[str, ...]]) -> list[str]:
    out = []
    for table, cols in expected.items():
        have = _columns(db, table)
        if not have:
            out.append(f"table {table} is missing")
        elif sorted(have) != sorted(cols):
            extra, lack = sorted(set(have) - set(cols)), sorted(set(cols) - set(have))
            out.append(f"table {table}: unexpected columns {extra}, missing {lack}")
    return out


def _refuse(path: Path, found: int, why: str) -> SchemaError:
    return SchemaError(
        f"state directory {path.parent}: {path.name} has schema version {found} and this"
        f" tradewarden knows versions 0 to {CURRENT_VERSION}: {why}. Refusing to open it"
        " (nothing was changed); run the release that wrote it, or restore a backup"
        " (runbooks/deploy-rollback.md, runbooks/system-recovery.md)"
    )


def prepare(db: sqlite3.Connection, path: Path) -> list[Migration]:
    """Bring the open database `db` (autocommit mode) to `CURRENT_VERSION`, or raise
    `SchemaError`. Returns the migrations applied (none when it was current)."""
    expected = _expected(MIGRATIONS)
    found = user_version(db)
    if found > CURRENT_VERSION:
        raise _refuse(path, found, "it was written by a newer tradewarden")
    if found == CURRENT_VERSION:
        problems = _problems(db, expected)
        if problems:
            raise _refuse(path, found, "its tables are not this version's: " + "; ".join(problems))
        return []
    db.execute("BEGIN IMMEDIATE")  # one transaction; another process may have migrated
    try:
        found = user_version(db)
        pending = [m for m in MIGRATIONS if m.version > found]
        if found > CURRENT_VERSION:
            raise _refuse(path, found, "it was written by a newer tradewarden")
        known = set(expected) - {"schema_migrations"}
        fresh = found == 0 and not known & set(_tables(db))
        step = found
        for m in pending:
            try:
                m.apply(db)
            except Exception as exc:  # any failure: nothing of the run is kept
                raise _refuse(
                    path, found, f"migration {m.version} ({m.name}) failed: {exc}"
                ) from None
            db.execute(  # a new file's creation is not audited: there was nothing to change
                "INSERT OR REPLACE INTO schema_migrations (version, name, from_version,"
                " applied_at, audited) VALUES (?,?,?,?,?)",
                (m.version, m.name, step, time.time(), int(fresh)),
            )
            step = m.version
        db.execute(f"PRAGMA user_version={CURRENT_VERSION:d}")
        problems = _problems(db, expected)
        if problems:
            raise _refuse(path, found, "its tables are not this version's: " + "; ".join(problems))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    if fresh:
        log.info("state database %s created at schema version %d", path, CURRENT_VERSION)
    elif pending:
        log.warning(
            "state database %s migrated from schema version %d to %d: %s",
            path,
            found,
            CURRENT_VERSION,
            "; ".join(f"{m.version} {m.name}" for m in pending),
        )
    return pending
