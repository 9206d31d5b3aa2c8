#!/usr/bin/env python3
"""Generate the Grafana dashboards in ops/grafana/dashboards/ from plain Python dicts.

    python ops/grafana/generate.py          # rewrite the JSON files
    python ops/grafana/generate.py --check  # exit 1 if a file differs from what this makes

Three dashboards, provisioned by ops/grafana/provisioning/ (folder "tradewarden"):

- overview: equity and wallets, P&L, drawdown vs its limits, breakers vs limits and their
  states, trading state, emergency stop, readiness, orders, alert outbox;
- exchange: API latency by endpoint, request weight vs limit, answers by code, errors,
  clock skew, reconciliation age, 418 ban;
- host: CPU, load, memory, disk, network (node_exporter) and the daemon process (RSS vs its
  1 GiB MemoryMax, CPU, DB time, heartbeat).

Every expression reads only metrics the daemon exports (daemon/tradewarden/metrics.py),
node_exporter's, Prometheus' own or the recording rules (ops/prometheus/rules/recording.yml);
tests/ops/test_grafana.py checks that and that the files are in sync with this script.
No third-party library: the JSON model is small enough to write directly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
DATASOURCE_UID = "tradewarden-prometheus"  # provisioning/datasources/prometheus.yml
DS = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 38
GIB = 1073741824


# --- building blocks -------------------------------------------------------------------------
def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {
        "datasource": DS,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "refId": ref,
        "range": not instant,
        "instant": instant,
    }
    return t


def targets(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def panel(
    kind: str,
    title: str,
    tgts: list[dict[str, Any]],
    *,
    w: int = 12,
    h: int = 8,
    unit: str = "short",
    description: str = "",
    defaults: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    overrides: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    field: dict[str, Any] = {"unit": unit}
    field.update(defaults or {})
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": field, "overrides": overrides or []},
        "options": options or {},
        "gridPos": {"w": w, "h": h},
    }


def timeseries(title: str, tgts: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    kw.setdefault(
        "options",
        {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
    )
    return panel("timeseries", title, tgts, **kw)


def stat(title: str, tgts: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    kw.setdefault("w", 6)
    kw.setdefault("h", 4)
    kw.setdefault(
        "options",
        {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value_and_name",
        },
    )
    return panel("stat", title, tgts, **kw)


def mapping(values: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """value -> (text, color) as one Grafana value mapping."""
    return [
        {
            "type": "value",
            "options": {
                v: {"text": text, "color": color, "index": i}
                for i, (v, (text, color)) in enumerate(values.items())
            },
        }
    ]


def row(title: str) -> dict[str, Any]:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"w": 24, "h": 1},
    }


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ids and positions: left to right, wrapping at 24 columns; rows start a new line."""
    x = y = line_h = 0
    out = []
    for i, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if p["type"] == "row" or x + w > 24:
            x, y, line_h = 0, y + line_h, 0
        p = {**p, "id": i, "gridPos": {"x": x, "y": y, "w": w, "h": h}}
        out.append(p)
        x += w
        line_h = max(line_h, h)
        if p["type"] == "row":
            x, y, line_h = 0, y + h, 0
    return out


def variables(instance_metric: str, label: str = "instance") -> dict[str, Any]:
    return {
        "list": [
            {
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus",
                "current": {"text": "Prometheus", "value": DATASOURCE_UID},
                "hide": 0,
                "refresh": 1,
            },
            {
                "name": label,
                "label": label,
                "type": "query",
                "datasource": DS,
                "query": {"query": f"label_values({instance_metric}, instance)", "refId": "vars"},
                "definition": f"label_values({instance_metric}, instance)",
                "includeAll": True,
                "multi": True,
                "allValue": ".*",
                "current": {"text": "All", "value": "$__all"},
                "refresh": 2,
                "sort": 1,
                "hide": 0,
            },
        ]
    }


def dashboard(
    uid: str, title: str, description: str, panels: list[dict[str, Any]], instance_metric: str
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["tradewarden"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "templating": variables(instance_metric),
        "annotations": {
            "list": [
                {
                    "name": "Breaker trips",
                    "datasource": DS,
                    "enable": True,
                    "iconColor": "red",
                    "expr": "changes(tradewarden_breaker_trips_total"
                    '{job="tradewarden", instance=~"$instance"}[1m]) > 0',
                    "titleFormat": "{{breaker}} tripped on {{bot}}",
                    "step": "60s",
                }
            ]
        },
        "links": [
            {
                "title": "tradewarden dashboards",
                "type": "dashboards",
                "tags": ["tradewarden"],
                "asDropdown": True,
            }
        ],
        "panels": layout(panels),
    }


# --- the dashboards --------------------------------------------------------------------------
def tw(metric: str, extra: str = "") -> str:
    """A selector of the daemon's metric on the chosen instances."""
    labels = 'job="tradewarden", instance=~"$instance"' + (f", {extra}" if extra else "")
    return f"{metric}{{{labels}}}"


def node(metric: str, extra: str = "") -> str:
    labels = 'job="node", instance=~"$instance"' + (f", {extra}" if extra else "")
    return f"{metric}{{{labels}}}"


def rate(selector: str) -> str:
    return f"rate({selector}[$__rate_interval])"


STATE = mapping({"0": ("ACTIVE", "green"), "1": ("REDUCING", "orange"), "2": ("HALTED", "red")})
TRIPPED = mapping({"0": ("ok", "green"), "1": ("TRIPPED", "red")})
REDUCE_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


def overview() -> dict[str, Any]:
    reducing = tw("tradewarden_trading_state", 'state="reducing"')
    halted = tw("tradewarden_trading_state", 'state="halted"')
    state = f"max by (instance) ({reducing}) + 2 * max by (instance) ({halted})"
    trips = tw("tradewarden_breaker_trips_total")
    limits = tw("tradewarden_breaker_threshold_ratio", 'breaker=~"bot_drawdown|portfolio_drawdown"')
    panels = [
        row("Now"),
        stat(
            "Portfolio equity",
            [
                target(
                    f"sum by (instance) ({tw('tradewarden_portfolio_value_usd')})", "{{instance}}"
                )
            ],
            unit="currencyUSD",
            defaults={"color": {"mode": "fixed", "fixedColor": "blue"}},
        ),
        stat(
            "Trading state",
            [target(state, "{{instance}}")],
            defaults={"mappings": STATE},
            description="ACTIVE, REDUCING (exposure-reducing orders only) or HALTED.",
        ),
        stat(
            "Emergency stop",
            [target(f"max by (instance) ({tw('tradewarden_emergency_stop')})", "{{instance}}")],
            defaults={"mappings": mapping({"0": ("off", "green"), "1": ("EMERGENCY STOP", "red")})},
        ),
        stat(
            "Ready (/readyz)",
            [target(f"min by (instance) ({tw('tradewarden_ready')})", "{{instance}}")],
            defaults={"mappings": mapping({"0": ("NOT READY", "red"), "1": ("ready", "green")})},
        ),
        row("Equity and P&L"),
        timeseries(
            "Equity and wallets",
            targets(
                (tw("tradewarden_portfolio_value_usd"), "portfolio {{instance}}"),
                (tw("tradewarden_wallet_balance_usd"), "{{wallet}}"),
            ),
            unit="currencyUSD",
            description="Portfolio equity; hot (exchange), cold (declared) and target hot.",
        ),
        timeseries(
            "P&L by bot",
            targets(
                (tw("tradewarden_pnl_realized_usd"), "realized {{bot}}"),
                (tw("tradewarden_pnl_unrealized_usd"), "unrealized {{bot}}"),
                ('tradewarden:pnl_usd:sum{instance=~"$instance"}', "total"),
            ),
            unit="currencyUSD",
        ),
        timeseries(
            "Drawdown vs limits",
            targets(
                (tw("tradewarden_drawdown_ratio"), "drawdown {{bot}}"),
                (f"max by (breaker) ({limits})", "limit {{breaker}}"),
            ),
            unit="percentunit",
            description="Drawdown from peak equity per bot and for the portfolio, with the"
            " bot-drawdown (25%) and portfolio-drawdown emergency-stop (40%) limits.",
            overrides=[
                {
                    "matcher": {"id": "byRegexp", "options": "limit .*"},
                    "properties": [
                        {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                    ],
                }
            ],
        ),
        timeseries(
            "Win rate and profit factor",
            targets(
                (tw("tradewarden_win_rate_ratio"), "win rate {{bot}}"),
                (tw("tradewarden_profit_factor"), "profit factor {{bot}}"),
            ),
            description="Promotion criteria: win rate >= 60%, profit factor >= 1.5.",
        ),
        row("Breakers"),
        panel(
            "bargauge",
            "Breakers vs limits",
            [
                target(
                    'tradewarden:breaker_utilisation:ratio{instance=~"$instance"}',
                    "{{breaker}} {{bot}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            defaults={
                "min": 0,
                "max": 1,
                "thresholds": thresholds((None, "green"), (0.8, "orange"), (1, "red")),
            },
            options={
                "orientation": "horizontal",
                "displayMode": "gradient",
                "reduceOptions": REDUCE_LAST,
            },
            description="Each breaker's reading as a share of its threshold:"
            " warns at 80%, trips at 100%.",
        ),
        panel(
            "state-timeline",
            "Breaker states",
            [target(tw("tradewarden_breaker_tripped"), "{{breaker}} {{bot}}")],
            defaults={
                "mappings": TRIPPED,
                "color": {"mode": "thresholds"},
                "thresholds": thresholds((None, "green"), (1, "red")),
            },
            options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8},
            description="Sticky: a trip stays until a human `tradewarden reset --reason ...`.",
        ),
        timeseries(
            "Breaker trips",
            [
                target(
                    f"sum by (breaker, bot) (increase({trips}[1h]))",
                    "{{breaker}} {{bot}}",
                )
            ],
            description="Trips per hour.",
        ),
        timeseries(
            "Orders by outcome and denials",
            targets(
                (f"sum by (outcome) ({rate(tw('tradewarden_orders_total'))})", "{{outcome}}"),
                (
                    f"sum by (reason) ({rate(tw('tradewarden_order_denials_total'))})",
                    "denied: {{reason}}",
                ),
            ),
            unit="ops",
        ),
        row("Alerts"),
        timeseries(
            "Alert outbox",
            targets(
                (tw("tradewarden_alert_outbox_depth"), "pending deliveries"),
                (tw("tradewarden_alert_outbox_oldest_age_seconds"), "oldest age (s)"),
            ),
            description="The daemon's own Slack/email/SMS outbox;"
            " AlertOutboxBacklog fires past 300 s.",
            w=24,
            h=6,
        ),
    ]
    return dashboard(
        "tradewarden-overview",
        "tradewarden / overview",
        "Equity, P&L, drawdown vs limits, breaker states, trading state.",
        panels,
        "tradewarden_build_info",
    )


def exchange() -> dict[str, Any]:
    buckets = rate(tw("tradewarden_api_request_duration_seconds_bucket"))
    counts = tw("tradewarden_api_request_duration_seconds_count")
    not_paper = 'tradewarden_build_info{job="tradewarden", mode!="paper"}'
    since = f"time() - {tw('tradewarden_reconciliation_last_success_timestamp_seconds')}"
    ban = f"max by (instance) ({tw('tradewarden_exchange_ban_until_timestamp_seconds')})"
    panels = [
        row("Latency"),
        timeseries(
            "API latency p95 by endpoint",
            [
                target(
                    f"histogram_quantile(0.95, sum by (le, endpoint) ({buckets}))", "{{endpoint}}"
                )
            ],
            unit="s",
        ),
        timeseries(
            "API latency p50 / p99 (all endpoints)",
            targets(
                (f"histogram_quantile(0.5, sum by (le) ({buckets}))", "p50"),
                (f"histogram_quantile(0.99, sum by (le) ({buckets}))", "p99"),
            ),
            unit="s",
        ),
        timeseries(
            "Requests by endpoint",
            [
                target(
                    f"sum by (endpoint) ({rate(counts)})",
                    "{{endpoint}}",
                )
            ],
            unit="reqps",
        ),
        row("Rate limits"),
        timeseries(
            "Request weight used vs limit",
            targets(
                (tw("tradewarden_rate_limit_weight_used"), "used (X-MBX-USED-WEIGHT-1M)"),
                (tw("tradewarden_rate_limit_weight_limit"), "limit per minute"),
            ),
            description="The exchange counts per IP; RateLimitNearBudget fires above 80%.",
        ),
        panel(
            "gauge",
            "Weight used",
            [
                target(
                    'tradewarden:rate_limit_weight_utilisation:ratio{instance=~"$instance"}',
                    "{{instance}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            w=6,
            defaults={
                "min": 0,
                "max": 1,
                "thresholds": thresholds((None, "green"), (0.8, "orange"), (0.95, "red")),
            },
            options={"reduceOptions": REDUCE_LAST},
        ),
        stat(
            "418 ban remaining",
            [target(f"clamp_min({ban} - time(), 0)", "{{instance}}")],
            unit="s",
            h=8,
            defaults={"thresholds": thresholds((None, "green"), (1, "red"))},
        ),
        row("Errors"),
        timeseries(
            "Exchange answers by code",
            [
                target(
                    f"sum by (code) ({rate(tw('tradewarden_exchange_responses_total'))})",
                    "{{code}}",
                )
            ],
            unit="reqps",
            description="Code 0 = no answer (timeout, dropped connection).",
        ),
        timeseries(
            "Errors by kind",
            [target(f"sum by (kind) ({rate(tw('tradewarden_errors_total'))})", "{{kind}}")],
            unit="ops",
        ),
        row("Time and reconciliation"),
        timeseries(
            "Clock skew (exchange minus host)",
            [target(tw("tradewarden_clock_skew_seconds"), "{{instance}}")],
            unit="s",
            defaults={
                "thresholds": thresholds((None, "green"), (0.5, "orange"), (1, "red")),
                "custom": {"thresholdsStyle": {"mode": "line"}},
            },
        ),
        timeseries(
            "Time since last reconciliation",
            [target(f"{since} and on (instance, job) {not_paper}", "{{instance}}")],
            unit="s",
            description="Testnet/live only; ReconciliationStale fires past 180 s.",
        ),
    ]
    return dashboard(
        "tradewarden-exchange",
        "tradewarden / exchange",
        "Binance gateway: latency, request weight, answers and errors, clock, reconciliation.",
        panels,
        "tradewarden_build_info",
    )


def host() -> dict[str, Any]:
    idle = rate(node("node_cpu_seconds_total", 'mode="idle"'))
    root = 'mountpoint="/"'
    nic = 'device!="lo"'
    panels = [
        row("Host (node_exporter)"),
        timeseries(
            "CPU busy",
            [target(f"1 - avg by (instance) ({idle})", "{{instance}}")],
            unit="percentunit",
            defaults={"min": 0, "max": 1},
        ),
        timeseries(
            "Load",
            targets(
                (node("node_load1"), "1m"),
                (node("node_load5"), "5m"),
                (node("node_load15"), "15m"),
            ),
        ),
        timeseries(
            "Memory used",
            [
                target(
                    f"1 - {node('node_memory_MemAvailable_bytes')}"
                    f" / {node('node_memory_MemTotal_bytes')}",
                    "{{instance}}",
                )
            ],
            unit="percentunit",
            defaults={"min": 0, "max": 1},
        ),
        timeseries(
            "Memory",
            targets(
                (node("node_memory_MemTotal_bytes"), "total"),
                (node("node_memory_MemAvailable_bytes"), "available"),
                (
                    f"{node('node_memory_SwapTotal_bytes')} - {node('node_memory_SwapFree_bytes')}",
                    "swap used",
                ),
            ),
            unit="bytes",
        ),
        timeseries(
            "Disk free (/)",
            [
                target(
                    f"{node('node_filesystem_avail_bytes', root)}"
                    f" / {node('node_filesystem_size_bytes', root)}",
                    "{{instance}}",
                )
            ],
            unit="percentunit",
            defaults={"min": 0, "max": 1},
        ),
        timeseries(
            "Network",
            targets(
                (
                    f"sum by (instance) ({rate(node('node_network_receive_bytes_total', nic))})",
                    "in",
                ),
                (
                    f"sum by (instance) ({rate(node('node_network_transmit_bytes_total', nic))})",
                    "out",
                ),
            ),
            unit="Bps",
        ),
        row("The daemon process"),
        timeseries(
            "Daemon memory (RSS) vs MemoryMax",
            targets(
                ('process_resident_memory_bytes{job="tradewarden"}', "RSS {{instance}}"),
                (f"vector({GIB})", "MemoryMax (1 GiB)"),
            ),
            unit="bytes",
            description="MemoryGrowth warns when RSS is on track to pass 90% of 1 GiB within 6 h.",
        ),
        timeseries(
            "Daemon CPU",
            [target(rate('process_cpu_seconds_total{job="tradewarden"}'), "{{instance}}")],
            unit="percentunit",
        ),
        timeseries(
            "State database time p95",
            [target("tradewarden:db_query_duration_seconds:p95_5m", "{{instance}}")],
            unit="s",
        ),
        timeseries(
            "Heartbeat age and scrape health",
            targets(
                ("tradewarden:heartbeat_age_seconds", "heartbeat age (s) {{instance}}"),
                ('up{job=~"tradewarden|node"}', "up {{job}}"),
            ),
            description="The main loop refreshes the heartbeat every second;"
            " HeartbeatStale fires past 60 s.",
        ),
    ]
    return dashboard(
        "tradewarden-host",
        "tradewarden / host",
        "Host CPU, memory, disk, network (node_exporter) and the daemon process.",
        panels,
        "node_load1",
    )


DASHBOARDS = {"overview.json": overview, "exchange.json": exchange, "host.json": host}


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build() -> dict[str, str]:
    """file name -> JSON text."""
    return {name: render(make()) for name, make in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, text in build().items():
        path = OUT / name
        if check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(
            f"out of date: {', '.join(stale)}; run: python ops/grafana/generate.py", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
