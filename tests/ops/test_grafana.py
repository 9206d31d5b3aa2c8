"""ops/grafana: the dashboards are what ops/grafana/generate.py makes (in sync), show what the
seed asks for, read only metrics that exist, parse as PromQL, and are provisioned."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.ops.promql import REPO, known_names, metric_names, tool

GRAFANA = REPO / "ops" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
REQUIRED_PANELS = {
    "overview.json": {
        "Portfolio equity",
        "Equity and wallets",
        "P&L by bot",
        "Drawdown vs limits",
        "Breakers vs limits",
        "Breaker states",
        "Trading state",
        "Emergency stop",
    },
    "exchange.json": {
        "API latency p95 by endpoint",
        "Request weight used vs limit",
        "Exchange answers by code",
        "Errors by kind",
    },
    "host.json": {"CPU busy", "Memory used", "Daemon memory (RSS) vs MemoryMax", "Daemon CPU"},
}


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def exprs(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression: panel targets, annotations, variable queries' metrics."""
    out = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    out += [a["expr"] for a in board["annotations"]["list"] if "expr" in a]
    for v in board["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((\w+), *\w+\)", v["definition"])
            assert m, v["definition"]
            out.append(m.group(1))
    return out


def test_dashboards_are_in_sync_with_the_generator() -> None:
    built = generator().build()
    assert set(built) == {p.name for p in DASHBOARDS.glob("*.json")} == set(REQUIRED_PANELS)
    for name, text in built.items():
        assert (DASHBOARDS / name).read_text() == text, (
            f"run: python ops/grafana/generate.py ({name})"
        )
    res = subprocess.run(
        [sys.executable, str(GRAFANA / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr


def test_check_mode_catches_a_hand_edited_dashboard(tmp_path: Path) -> None:
    copy = tmp_path / "grafana"
    shutil.copytree(GRAFANA, copy)
    board = copy / "dashboards" / "overview.json"
    board.write_text(board.read_text().replace("Portfolio equity", "Portfolio equity (edited)"))
    res = subprocess.run(
        [sys.executable, str(copy / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 1 and "overview.json" in res.stderr


def test_the_generator_needs_only_the_standard_library() -> None:
    tree = ast.parse((GRAFANA / "generate.py").read_text())
    imported = {
        (n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in (n.names if isinstance(n, ast.Import) else [n])
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


@pytest.mark.parametrize("name", sorted(REQUIRED_PANELS))
def test_dashboard_shows_what_the_seed_asks_for(name: str) -> None:
    board = dashboards()[name]
    titles = {p["title"] for p in board["panels"]}
    assert REQUIRED_PANELS[name] <= titles, REQUIRED_PANELS[name] - titles


@pytest.mark.parametrize("name", sorted(REQUIRED_PANELS))
def test_every_expression_reads_metrics_that_exist(name: str) -> None:
    known = known_names()
    unknown = {e: sorted(metric_names(e) - known) for e in exprs(dashboards()[name])}
    assert {e: u for e, u in unknown.items() if u} == {}


def test_every_expression_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each expression (Grafana's variables substituted) as a recording rule."""
    rules = []
    for name, board in dashboards().items():
        for i, e in enumerate(exprs(board)):
            e = e.replace("$__rate_interval", "1m").replace("$instance", ".*")
            rules.append({"record": f"grafana:{name.removesuffix('.json')}:{i}", "expr": e})
    path = tmp_path / "grafana_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules}]}))
    res = subprocess.run(
        [tool("promtool"), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{len(rules)} rules found" in res.stdout


def test_layout_ids_and_datasource() -> None:
    boards = dashboards()
    assert len({b["uid"] for b in boards.values()}) == len(boards)
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    for name, board in boards.items():
        variable = board["templating"]["list"][0]
        assert variable["type"] == "datasource" and variable["current"]["value"] == uid
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        cells: set[tuple[int, int]] = set()
        for p in board["panels"]:
            g = p["gridPos"]
            assert 0 <= g["x"] and g["x"] + g["w"] <= 24, (name, p["title"])
            mine = {
                (x, y)
                for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])
            }
            assert not mine & cells, f"{name}: {p['title']} overlaps another panel"
            cells |= mine
            if p["type"] != "row":
                assert p["datasource"]["uid"] == "${datasource}" and p["targets"], p["title"]
                assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])


def test_provisioning_points_at_the_dashboards() -> None:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "tradewarden.yml").read_text())
    assert doc["apiVersion"] == 1
    (provider,) = doc["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/var/lib/grafana")
    assert provider["allowUiUpdates"] is False  # the generator is the source of truth
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://127.0.0.1:9090"
