"""One owner for order state (issue 18, item 3), kept true by reading the source.

- Only `trading/order_tracker.py` calls the store's order-writing methods
  (`Store.ORDER_WRITERS`), and no module but the store holds SQL that writes the orders
  or fills tables.
- The risk engine's in-memory book is read-only from outside: it changes only through the
  engine's methods.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import tradewarden
from tradewarden.state.store import Store

PACKAGE = Path(tradewarden.__file__).parent
OWNER = PACKAGE / "trading" / "order_tracker.py"
STORE = PACKAGE / "state" / "store.py"
WRITE_SQL = re.compile(
    r"\b(INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+(orders|fills)\b", re.IGNORECASE
)


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p not in (OWNER, STORE))


def order_writers() -> set[str]:
    """The `Store` methods that write the orders or fills tables: those holding such SQL,
    and those calling one of them (read from store.py, so a new writer is covered)."""
    tree = ast.parse(STORE.read_text())
    (store_cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Store"]
    methods = {f.name: f for f in store_cls.body if isinstance(f, ast.FunctionDef)}
    writers = {
        name
        for name, f in methods.items()
        if any(
            isinstance(n, ast.Constant) and isinstance(n.value, str) and WRITE_SQL.search(n.value)
            for n in ast.walk(f)
        )
    }
    while True:
        more = {
            name
            for name, f in methods.items()
            if name not in writers
            and any(
                isinstance(n, ast.Attribute) and n.attr in writers and isinstance(n.ctx, ast.Load)
                for n in ast.walk(f)
            )
        }
        if not more:
            return writers
        writers |= more


def test_only_the_tracker_calls_the_order_writing_store_methods() -> None:
    writers = order_writers()
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in writers
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.func.attr}")
    assert offenders == [], "order rows written outside the order tracker:\n" + "\n".join(offenders)


def test_no_module_but_the_store_holds_sql_writing_orders_or_fills() -> None:
    offenders = []
    for path in _modules() + [OWNER]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if WRITE_SQL.search(node.value):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == [], "SQL writing orders/fills outside the store:\n" + "\n".join(offenders)


def test_the_writers_are_found() -> None:
    # the guard above is only as good as this list
    writers = order_writers()
    assert {"insert_intent", "set_order_state", "insert_fill", "set_fill_state"} <= writers
    assert {"record_intent", "book_fill"} <= writers  # callers of writers count too
    assert not {"get_order", "open_orders", "fills_for", "order_in"} & writers
    for name in writers:
        assert callable(getattr(Store, name, None)), name


@pytest.mark.parametrize("module", ["trading", "runtime", "operations", "exchange"])
def test_no_module_assigns_into_the_risk_book(module: str) -> None:
    # the engine's book is a read-only view (tests/unit/risk/test_book_view.py); this
    # catches a new `risk.book.x = ...` / `.book.x[...] = ...` at review time too
    offenders = []
    for path in sorted((PACKAGE / module).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for t in targets:
                if "book." in ast.unparse(t) and "ledger" not in ast.unparse(t):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
