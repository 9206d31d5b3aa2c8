"""Helpers for the ops tests: the Prometheus files, the metric names a PromQL expression
reads, and the names that really exist (the daemon's registry, Prometheus, node_exporter)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PROM = REPO / "ops" / "prometheus"
RULES = PROM / "rules"
ALERT_RULES = RULES / "alerts.yml"
RECORDING_RULES = RULES / "recording.yml"
PROM_TESTS = PROM / "tests"
RUNBOOKS = REPO / "runbooks"
RUNBOOK_PREFIX = "https://github.com/tradewarden/tradewarden/blob/main/runbooks/"

# written by Prometheus itself for every target / rule
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS"}
# node_exporter (ops/systemd/node_exporter.service), default collectors, for the host dashboard
NODE_EXPORTER = {
    "node_cpu_seconds_total",
    "node_load1",
    "node_load5",
    "node_load15",
    "node_memory_MemTotal_bytes",
    "node_memory_MemAvailable_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_SwapFree_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_boot_time_seconds",
    "node_time_seconds",
    "process_start_time_seconds",  # its own start (the Go process collector)
    # node alerts: filesystem, --collector.systemd, timex (node_exporter 1.5)
    "node_filesystem_readonly",
    "node_systemd_unit_state",
    "node_timex_sync_status",
    "node_timex_maxerror_seconds",
    "node_timex_offset_seconds",
}
# Prometheus 2.42's and Alertmanager 0.25's own /metrics (read from the running Debian
# binaries; tests/ops/test_alertmanager.py checks Alertmanager's against a live one)
PROMETHEUS_SELF = {
    "prometheus_rule_evaluation_failures_total",
    "prometheus_notifications_errors_total",
    "prometheus_notifications_sent_total",
    "prometheus_notifications_alertmanagers_discovered",
    "prometheus_config_last_reload_successful",
}
ALERTMANAGER_SELF = {
    "alertmanager_notifications_total",
    "alertmanager_notifications_failed_total",
    "alertmanager_config_last_reload_successful",
}
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
    "atan2",
}
_BRACES = re.compile(r"""\{(?:[^{}"']|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')*\}""")
_RANGES = re.compile(r"\[[^\]]*\]")
_STRINGS = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`""")
_LABEL_LISTS = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_NAME_MATCHER = re.compile(r"""\b__name__\s*(=~|!~|!=|=)\s*["'`]((?:\\.|[^"'`\\])*)["'`]""")
_TOKENS = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*|\d[\w.]*|\S")


def metric_names(expr: str) -> set[str]:
    """The metric (series) names a PromQL expression selects.

    Label matchers, ranges, strings, grouping label lists and Grafana variables are dropped
    first; then every identifier that is not a function call, keyword or number is a name.
    """
    text = _VARIABLES.sub("1", expr)
    # a `__name__` matcher names a series inside the braces: its value is the name (a regex
    # is kept as written, so it is never a known name: the check fails closed)
    names = {m.group(2) for b in _BRACES.findall(text) for m in _NAME_MATCHER.finditer(b)}
    text = _BRACES.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _STRINGS.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    tokens = _TOKENS.findall(text)
    for i, tok in enumerate(tokens):
        if not re.match(r"[A-Za-z_:]", tok) or tok.lower() in KEYWORDS:
            continue
        if i + 1 < len(tokens) and tokens[i + 1] == "(":
            continue  # a function or aggregation
        names.add(tok)
    return names


def exported_metric_names() -> set[str]:
    """Every series name the daemon's exporter can produce (tradewarden/runtime/metrics.py)."""
    from tradewarden.runtime.metrics import Metrics

    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created", ""),
        "gauge": ("",),
        "info": ("_info",),
    }
    names = set()
    for family in Metrics().registry.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
        names.update(s.name for s in family.samples)
    return names


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in load_yaml(ALERT_RULES)["groups"] for r in g["rules"]]


def recording_rules() -> list[dict[str, Any]]:
    return [r for g in load_yaml(RECORDING_RULES)["groups"] for r in g["rules"]]


def textfile_names() -> set[str]:
    """The background jobs' freshness gauges (ops/probe/job_stamp.py, textfile collector)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("job_stamp", REPO / "ops/probe/job_stamp.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {mod.metric_name(job) for job in mod.JOBS} | {mod.REBOOT_METRIC}


def known_names() -> set[str]:
    """What a dashboard or rule may read: exported, Prometheus', node_exporter's, recorded."""
    recorded = {r["record"] for r in recording_rules()}
    return (
        exported_metric_names()
        | PROMETHEUS_SERIES
        | NODE_EXPORTER
        | PROMETHEUS_SELF
        | ALERTMANAGER_SELF
        | textfile_names()
        | recorded
    )


def runbook_path(url: str) -> Path | None:
    if not url.startswith(RUNBOOK_PREFIX):
        return None
    return RUNBOOKS / url[len(RUNBOOK_PREFIX) :]


def tool(name: str) -> str:
    """A Debian Prometheus tool; missing means the CI image is wrong, not a skip."""
    path = shutil.which(name)
    assert path, f"{name} missing: .ci/run installs Debian's prometheus / prometheus-alertmanager"
    return path


def alertmanager_binary() -> str:
    """Debian names it prometheus-alertmanager; upstream tarballs call it alertmanager."""
    for name in ("prometheus-alertmanager", "alertmanager"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("neither prometheus-alertmanager nor alertmanager is installed")
