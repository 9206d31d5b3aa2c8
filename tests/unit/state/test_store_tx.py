"""`Store.tx(fsync=False)` relaxes exactly one commit and always restores synchronous=FULL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.state.store import Store

FULL, NORMAL = 2, 1


def sync_level(store: Store) -> int:
    return int(store.query("PRAGMA synchronous")[0][0])


def test_relaxed_commit_is_kept_and_full_sync_restored(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3", durable=True)
    assert sync_level(store) == FULL
    with store.tx(fsync=False) as db:
        assert db.execute("PRAGMA synchronous").fetchone()[0] == NORMAL
        db.execute("INSERT INTO kv(key, value) VALUES ('k', '1')")
    assert sync_level(store) == FULL
    assert store.query("SELECT value FROM kv WHERE key='k'")[0][0] == "1"


def test_restored_after_a_rollback(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3", durable=True)
    with pytest.raises(RuntimeError), store.tx(fsync=False) as db:
        db.execute("INSERT INTO kv(key, value) VALUES ('k', '1')")
        raise RuntimeError("boom")
    assert sync_level(store) == FULL
    assert store.query("SELECT value FROM kv WHERE key='k'") == []


def test_non_durable_store_is_untouched(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3", durable=False)
    with store.tx(fsync=False):
        pass
    assert sync_level(store) == NORMAL
