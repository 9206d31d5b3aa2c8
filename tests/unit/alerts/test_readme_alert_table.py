"""The README's alert table (issue 17) names every catalogue alert, and every test it cites
exists: a renamed or deleted test, or a new alert kind without a row, fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tradewarden.alerts.catalogue import RUNBOOKS

ROOT = Path(__file__).resolve().parents[3]


def _table() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("**Every catalogue alert the daemon raises**")
    return text[start : text.index("**Meta-monitoring**", start)]


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_every_catalogue_alert_has_a_row() -> None:
    rows = [line for line in _table().splitlines() if line.startswith("| ") and "`" in line]
    first_cells = " ".join(line.split("|")[1] for line in rows)
    missing = [k for k in RUNBOOKS if k != "custom" and f"`{k}`" not in first_cells]
    assert missing == []


def test_every_cited_test_exists() -> None:
    table = _table()
    cited = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", table)
    assert len(cited) >= 10
    bad = []
    last_file: Path | None = None
    for file, name in cited:
        path = ROOT / file
        if not path.is_file():
            bad.append(file)
            continue
        last_file = path
        if name and name not in _tests_in(path):
            bad.append(f"{file}::{name}")
    # short references (`file.py::name` after the full path was given once) resolve too
    for file, name in re.findall(r"`(test_\w+\.py)::(\w+)`", table):
        hits = list((ROOT / "tests").rglob(file))
        if not hits or not any(name in _tests_in(h) for h in hits):
            bad.append(f"{file}::{name}")
    assert last_file is not None and bad == []
