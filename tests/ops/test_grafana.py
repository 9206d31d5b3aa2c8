"""ops/grafana: the dashboards are what ops/grafana/generate.py makes with grafana-foundation-sdk
(in sync), show what the seed and the trader ask for, read only series a running daemon and a
running node_exporter export, parse as PromQL, and are provisioned."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.ops.promql import REPO, known_names, metric_names, recording_rules, tool

GRAFANA = REPO / "ops" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
REQUIRED_PANELS = {
    "pnl-risk.json": {
        "Equity",
        "P&L (realised + unrealised)",
        "Fees paid",
        "Open exposure",
        "Exposure / equity",
        "Drawdown vs breaker thresholds",
        "Daily loss vs breaker threshold",
        "Breakers used (share of threshold)",
    },
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
        "Streams connected / polling fallback",
        "Stream fallback",
        "Stream last message age",
        "Stream reconnects (per hour)",
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


def all_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, also those inside a collapsed row (Grafana keeps them in the row)."""
    return [q for p in board["panels"] for q in (p, *p.get("panels", []))]


def exprs(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression: panel targets, annotations, variable queries' metrics."""
    out = [t["expr"] for p in all_panels(board) for t in p.get("targets", [])]
    out += [a["expr"] for a in board["annotations"]["list"] if "expr" in a]
    for v in board["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((\w+), *\w+\)", v["query"])
            assert m, v["query"]
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


def test_the_generator_builds_with_grafana_foundation_sdk() -> None:
    """Panels, queries, variables come from the SDK's builders: no hand-built panel dicts."""
    tree = ast.parse((GRAFANA / "generate.py").read_text())
    imported = {
        (n.module if isinstance(n, ast.ImportFrom) else a.name)
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in (n.names if isinstance(n, ast.Import) else [n])
    }
    assert "grafana_foundation_sdk.builders" in imported
    assert "grafana_foundation_sdk.cog.encoder" in imported
    hand_built = {
        k.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Dict)
        for k in n.keys
        if isinstance(k, ast.Constant)
        and k.value in ("gridPos", "targets", "fieldConfig", "panels", "templating", "refId")
    }
    assert hand_built == set()


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
            rules.append(
                {"record": f"grafana:{name.removesuffix('.json').replace('-', '_')}:{i}", "expr": e}
            )
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


# --- every dashboard query against the series real processes export -----------------------
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created", ""),
    "gauge": ("",),
    "untyped": ("",),
    "info": ("_info",),
}
NODE_EXPORTER_BIN = "/usr/bin/prometheus-node-exporter"  # Debian's node_exporter


def exposition(text: str) -> tuple[set[str], set[str]]:
    """(every series name a family declares, the names that have a sample now)."""
    declared, sampled = set(), set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            if kind == "counter":  # the text format names a counter with or without _total
                name = name.removesuffix("_total")
            declared |= {name + sfx for sfx in SUFFIXES.get(kind, ("",))}
        elif line and not line.startswith("#"):
            m = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line)
            assert m, line
            sampled.add(m.group(0))
    return declared | sampled, sampled


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - a local test process
        return r.read().decode()


def scrape_until(url: str, ready: Any, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            last = fetch(url)
            if ready(last):
                return last
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready in {timeout}s; last scrape:\n{last[:2000]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def recorded_from() -> dict[str, set[str]]:
    """Each recording rule's name -> the metric names its expression reads."""
    return {r["record"]: metric_names(r["expr"]) for r in recording_rules()}


def test_every_dashboard_query_reads_series_a_running_daemon_and_node_exporter_export(
    tmp_path: Path, clean_env: None
) -> None:
    """A paper daemon and node_exporter run for real; every metric name in every panel,
    annotation and variable of every dashboard is in their /metrics (through the recording
    rules for recorded names). The P&L and risk page needs samples, not just declarations:
    a paper daemon has every number it shows."""
    from tests.integration.daemon.helpers import start

    daemon = start(tmp_path / "state", "run", "--follow", "--no-console")
    node_port = free_port()
    node = subprocess.Popen(  # noqa: S603 - a fixed binary
        [NODE_EXPORTER_BIN, f"--web.listen-address=127.0.0.1:{node_port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert daemon.stdout is not None
        port = next(
            int(json.loads(line)["metrics_port"])
            for line in daemon.stdout
            if '"daemon ready"' in line
        )
        text = scrape_until(
            f"http://127.0.0.1:{port}/metrics",
            lambda t: (
                "\ntradewarden_pnl_realized_usd{" in t and "tradewarden_breaker_value_ratio{" in t
            ),
        )
        node_text = scrape_until(
            f"http://127.0.0.1:{node_port}/metrics", lambda t: "node_load1 " in t
        )
    finally:
        for proc in (daemon, node):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    daemon_names, daemon_samples = exposition(text)
    _, node_samples = exposition(node_text)
    recorded = recorded_from()
    # written by Prometheus itself for each target and rule (not by any exporter)
    prometheus_own = {"up"}

    def resolve(names: set[str]) -> set[str]:
        out = set()
        for n in names:
            out |= resolve(recorded[n]) if n in recorded else {n}
        return out

    def lost(names: set[str], have: set[str]) -> set[str]:
        # node_* from node_exporter (job="node"); everything else from the daemon's exporter
        raw = resolve(names) - prometheus_own
        return {n for n in raw if n not in (node_samples if n.startswith("node_") else have)}

    missing: dict[str, list[str]] = {}
    for name, board in dashboards().items():
        gone = lost(set().union(*(metric_names(e) for e in exprs(board))), daemon_names)
        if name == "pnl-risk.json":  # the trader's panels show numbers, not "No data"
            panels = [t["expr"] for p in all_panels(board) for t in p.get("targets", [])]
            gone |= lost(set().union(*(metric_names(e) for e in panels)), daemon_samples)
        if gone:
            missing[name] = sorted(gone)
    assert missing == {}
    assert {"node_load1", "node_memory_MemAvailable_bytes"} <= node_samples


def test_the_live_check_catches_a_name_nobody_exports() -> None:
    declared, sampled = exposition(
        "# HELP a_total x\n# TYPE a_total counter\na_total 1\n# TYPE c counter\n"
        "# HELP h x\n# TYPE h histogram\n# HELP g x\n# TYPE g gauge\ng 2\n"
    )
    assert {"a_total", "c_total", "h_bucket", "h_count", "g"} <= declared
    assert sampled == {"a_total", "g"}
    assert "tradewarden_no_such_metric" not in declared


def test_attack_a_query_hidden_from_the_name_check_is_caught() -> None:
    """Adversarial review: a query may name a metric nobody exports through a `__name__`
    matcher (the label-matcher braces were dropped before names were read) or from a panel
    inside a collapsed row (only top-level panels were read). Both must be reported."""
    board = json.loads((DASHBOARDS / "overview.json").read_text())
    bogus = "tradewarden_no_such_metric"
    panel = next(p for p in board["panels"] if p.get("targets"))
    panel["targets"][0]["expr"] = f'sum({{__name__="{bogus}_a", bot="b1"}})'
    board["panels"].append(
        {
            "type": "row",
            "title": "Hidden",
            "collapsed": True,
            "panels": [{"type": "stat", "title": "x", "targets": [{"expr": f"{bogus}_b"}]}],
        }
    )
    names = set().union(*(metric_names(e) for e in exprs(board)))
    assert {f"{bogus}_a", f"{bogus}_b"} <= names - known_names()
    assert metric_names('{__name__=~"tradewarden_.*"}') == {"tradewarden_.*"}  # not a name
