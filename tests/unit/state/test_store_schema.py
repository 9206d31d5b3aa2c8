"""The state database's schema version: created current, an old file migrated in one
transaction, a newer or unknown one refused untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tradewarden.alerts.outbox import Outbox
from tradewarden.state import schema
from tradewarden.state.keys import StateKey
from tradewarden.state.schema import CURRENT_VERSION, Migration
from tradewarden.state.store import StateSchemaError, Store

# The schema as the unversioned code created it (daemon/tradewarden/state/store.py before
# versions, commit 2411b60), for a file from before `expires_at`, `payload`, `scope` and
# the commission columns were added: the oldest state file a host may still have.
OLD_DDL = """
CREATE TABLE orders (client_order_id TEXT PRIMARY KEY, bot TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, order_type TEXT NOT NULL, qty REAL NOT NULL,
    price REAL, status TEXT NOT NULL, filled_qty REAL NOT NULL DEFAULT 0,
    avg_price REAL NOT NULL DEFAULT 0, exchange_order_id TEXT, created_at REAL NOT NULL,
    updated_at REAL NOT NULL);
CREATE INDEX orders_status ON orders(status);
CREATE TABLE fills (trade_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL,
    bot TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL, qty REAL NOT NULL,
    price REAL NOT NULL, fee REAL NOT NULL, ts REAL NOT NULL);
CREATE TABLE trades (id INTEGER PRIMARY KEY AUTOINCREMENT, bot TEXT NOT NULL,
    symbol TEXT NOT NULL, pnl REAL NOT NULL, ts REAL NOT NULL);
CREATE TABLE equity_marks (bot TEXT NOT NULL, ts REAL NOT NULL, equity REAL NOT NULL);
CREATE TABLE breakers (breaker TEXT NOT NULL, bot TEXT NOT NULL, tripped INTEGER NOT NULL,
    tripped_at REAL, value REAL, threshold REAL, reason TEXT, PRIMARY KEY (breaker, bot));
CREATE TABLE resets (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL,
    actor TEXT NOT NULL, reason TEXT NOT NULL, cleared TEXT NOT NULL);
CREATE TABLE control_requests (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL,
    action TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', result TEXT);
CREATE TABLE halts (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL,
    state TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,
    cleared_at REAL, cleared_by TEXT, clear_reason TEXT);
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO orders VALUES ('tw-a-1', 'bot1', 'BTCUSDT', 'BUY', 'MARKET', 0.5, NULL,
    'FILLED', 0.5, 100.0, '42', 1.0, 2.0);
INSERT INTO fills VALUES ('BTCUSDT:7', 'tw-a-1', 'bot1', 'BTCUSDT', 'BUY', 0.5, 100.0,
    0.05, 2.0);
INSERT INTO kv VALUES ('status_snapshot', '{"state": "active"}');
"""

# The same file after the unversioned code opened it (its ad-hoc column migrations ran):
# exactly what that code created for a new state directory.
TODAY_DDL = (
    OLD_DDL
    + """
ALTER TABLE control_requests ADD COLUMN expires_at REAL;
ALTER TABLE control_requests ADD COLUMN payload TEXT;
ALTER TABLE resets ADD COLUMN scope TEXT;
ALTER TABLE fills ADD COLUMN fee_base REAL NOT NULL DEFAULT 0;
ALTER TABLE fills ADD COLUMN commission REAL NOT NULL DEFAULT 0;
ALTER TABLE fills ADD COLUMN commission_asset TEXT NOT NULL DEFAULT '';
CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL,
    hash TEXT NOT NULL, hmac TEXT, signed_from INTEGER, ts REAL NOT NULL);
INSERT INTO audit_head VALUES (1, 7, 'abc', NULL, NULL, 3.0);
"""
)


def old_state_file(path: Path, ddl: str = OLD_DDL) -> Path:
    con = sqlite3.connect(path)
    try:
        con.executescript(ddl)
    finally:
        con.close()
    return path


def dump(path: Path) -> list[str]:
    """The whole file as SQL, and its version: to show it was not changed."""
    con = sqlite3.connect(path)
    try:
        return [*con.iterdump(), str(con.execute("PRAGMA user_version").fetchone()[0])]
    finally:
        con.close()


def test_a_new_file_is_created_at_the_current_version(tmp_path: Path) -> None:
    # the alert outbox shares the file and may create its tables first: still a new file
    Outbox(tmp_path / "s.db").close()
    store = Store(tmp_path / "s.db")
    try:
        assert store.schema_version() == CURRENT_VERSION
        assert [m.version for m in store.migrated] == list(range(1, CURRENT_VERSION + 1))
        rows = store.query("SELECT version, from_version, audited FROM schema_migrations")
        assert [tuple(r) for r in rows] == [(1, 0, 1)]  # a new file: nothing to audit
        assert store.audit_migrations(lambda _db, m: None) == 0
    finally:
        store.close()
    again = Store(tmp_path / "s.db")  # current: nothing to do
    assert again.migrated == []
    again.close()


@pytest.mark.parametrize("ddl", [OLD_DDL, TODAY_DDL], ids=["oldest", "last-unversioned"])
def test_an_old_state_file_opens_migrated_and_keeps_its_data(tmp_path: Path, ddl: str) -> None:
    path = old_state_file(tmp_path / "s.db", ddl)
    store = Store(path)
    try:
        assert store.schema_version() == CURRENT_VERSION
        assert [m.version for m in store.migrated] == [1]
        order = store.get_order("tw-a-1")
        assert order is not None and order.filled_qty == 0.5 and order.exchange_order_id == "42"
        (fill,) = store.fills("bot1")
        assert fill["commission_asset"] == "" and fill["fee_base"] == 0  # columns added
        assert store.get(StateKey.STATUS_SNAPSHOT) == {"state": "active"}
        store.add_control("halt", "why", "ops", payload={"x": 1})  # columns added
        head = store.audit_head()  # created, or kept
        assert (head is None) if ddl is OLD_DDL else (head is not None and head["seq"] == 7)
        audited: list[dict[str, object]] = []
        assert store.audit_migrations(lambda _db, m: audited.append(m)) == 1
        assert audited[0]["version"] == 1 and audited[0]["from_version"] == 0
        assert store.audit_migrations(lambda _db, m: audited.append(m)) == 0  # once
    finally:
        store.close()


def test_a_newer_version_is_refused_naming_the_directory_and_versions(tmp_path: Path) -> None:
    path = tmp_path / "state" / "tradewarden.sqlite3"
    Store(path).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version={CURRENT_VERSION + 1}")
    con.close()
    before = dump(path)
    with pytest.raises(StateSchemaError) as err:
        Store(path)
    msg = str(err.value)
    assert f"state directory {path.parent}" in msg
    assert f"schema version {CURRENT_VERSION + 1}" in msg and f"0 to {CURRENT_VERSION}" in msg
    assert "newer tradewarden" in msg
    assert dump(path) == before


@pytest.mark.parametrize(
    ("ddl", "why"),
    [
        # our table, not our columns: another program's file, or a damaged one
        (
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, what TEXT);",
            "migration 1 .* failed: no such column: status",
        ),
        # the current version's number, but a table of it is missing
        (
            f"CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            f" PRAGMA user_version={CURRENT_VERSION};",
            "table orders is missing",
        ),
    ],
)
def test_an_unknown_schema_is_refused_untouched(tmp_path: Path, ddl: str, why: str) -> None:
    path = old_state_file(tmp_path / "s.db", ddl)
    before = dump(path)
    with pytest.raises(StateSchemaError, match=why):
        Store(path)
    assert dump(path) == before


def test_a_failed_migration_rolls_everything_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def breaks(db: sqlite3.Connection) -> None:
        """Fine on an empty database; fails on this file's data, half way through."""
        db.execute("ALTER TABLE orders ADD COLUMN half_done TEXT")
        db.execute("CREATE UNIQUE INDEX one_fill_per_order ON fills(client_order_id)")

    broken = (*schema.MIGRATIONS, Migration(CURRENT_VERSION + 1, "breaks", breaks))
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    monkeypatch.setattr(schema, "CURRENT_VERSION", CURRENT_VERSION + 1)
    second_fill = "INSERT INTO fills VALUES ('BTCUSDT:8','tw-a-1','bot1','BTCUSDT','BUY',1,1,0,3);"
    path = old_state_file(tmp_path / "s.db", OLD_DDL + second_fill)
    before = dump(path)
    with pytest.raises(StateSchemaError, match=r"migration 2 \(breaks\) failed: UNIQUE"):
        Store(path)
    # not even migration 1 (which ran first, in the same transaction) is kept
    assert dump(path) == before
    monkeypatch.undo()
    store = Store(path)  # the code that knows it opens it as before
    assert store.schema_version() == CURRENT_VERSION
    store.close()
