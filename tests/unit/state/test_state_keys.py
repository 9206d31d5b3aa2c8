"""The store's key/value keys live in one place (`tradewarden.state.keys`).

No caller of `Store.get/put` passes a bare string (mypy rejects one too: the parameter is
`StateKey | ScopedKey`), and no key's text is written anywhere else in the daemon (a raw
``SELECT ... FROM kv WHERE key=?`` included).
"""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import tradewarden
from tradewarden.state.keys import StateKey, breaker_key, trip_scope_key
from tradewarden.state.store import Store

PACKAGE = Path(tradewarden.__file__).parent
KEYS_MODULE = PACKAGE / "state" / "keys.py"
STORE_NAMES = ("store", "src", "dst")  # what the daemon calls a Store it reads/writes
KV_METHODS = {"get", "put", "_put", "put_many"}


def _is_text(node: ast.AST) -> bool:
    """A key written out: "x", f"x{y}", "x" + y."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.JoinedStr):
        return True
    return isinstance(node, ast.BinOp) and (_is_text(node.left) or _is_text(node.right))


def _receiver(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Attribute) and node.func.attr in KV_METHODS:
        return ast.unparse(node.func.value)
    return None


def literal_keys(root: Path) -> list[str]:
    """`path:line: call` of every store call under `root` whose key is a bare string."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            recv = _receiver(node)
            if recv is None or recv.split(".")[-1] not in STORE_NAMES:
                continue
            assert isinstance(node.func, ast.Attribute)
            method = node.func.attr
            args = list(node.args)
            if method == "_put":
                args = args[1:]  # (db, key, value)
            keys: list[ast.AST] = args[:1]
            if method == "put_many" and args and isinstance(args[0], ast.Dict):
                keys = [k for k in args[0].keys if k is not None]
            if any(_is_text(k) for k in keys):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return found


def key_texts_outside(root: Path) -> list[str]:
    """Every string literal under `root` (but the keys module) equal to a key's text."""
    values = {k.value for k in StateKey}
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "keys.py" and path.parent.name == "state":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value in values:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value!r}")
    return found


def test_no_store_caller_passes_a_bare_string_key() -> None:
    assert literal_keys(PACKAGE) == []


def test_no_key_text_is_written_outside_the_keys_module() -> None:
    assert key_texts_outside(PACKAGE) == []


def test_the_scan_finds_a_literal_key(tmp_path: Path) -> None:
    """The scan is not blind: each form of a written-out key is found."""
    (tmp_path / "m.py").write_text(
        "def f(store, self, db, name):\n"
        '    store.get("status_snapshot")\n'
        '    self.store.put(f"breaker:{name}", 1)\n'
        '    self.d.store.put_many({"audit.config": {}})\n'
        '    Store._put(db, "x" + name, 1)\n'
        "    store.get(KEY)\n"
        '    settings.get("status_snapshot")\n'
    )
    assert [f.split(":")[1] for f in literal_keys(tmp_path)] == ["2", "3", "4"]
    assert sorted(f.split(":")[1] for f in key_texts_outside(tmp_path)) == ["2", "4", "7"]


def test_keys_are_the_rows_existing_state_files_have(tmp_path: Path) -> None:
    """A `StateKey` reads and writes the same row as its text did before the enum (state
    files written by older versions keep working), and the families keep their form."""
    store = Store(tmp_path / "state.db")
    try:
        store.put(StateKey.STATUS_SNAPSHOT, {"state": "active"})
        store.put(breaker_key("daily_loss"), {"day": 3})
        store.put(trip_scope_key("drawdown", "bot1"), "bot")
    finally:
        store.close()
    con = sqlite3.connect(tmp_path / "state.db")
    try:
        rows = dict(con.execute("SELECT key, value FROM kv"))
    finally:
        con.close()
    assert rows == {
        "status_snapshot": '{"state": "active"}',
        "breaker:daily_loss": '{"day": 3}',
        "trip_scope:drawdown:bot1": '"bot"',
    }
    assert len({k.value for k in StateKey}) == len(StateKey)  # no two names for one row
