#!/usr/bin/env python3
"""Generate the Grafana dashboards in ops/grafana/dashboards/ with grafana-foundation-sdk.

    uv run python ops/grafana/generate.py          # rewrite the JSON files
    uv run python ops/grafana/generate.py --check  # exit 1 if a file differs from what this makes

The dashboards are built with the SDK's typed builders (grafana_foundation_sdk.builders:
dashboard, rows, panels, Prometheus queries, variables, annotations) and encoded with its
JSONEncoder, so every field has the name and type Grafana's schema gives it. The JSON files
are plain dashboard models: provisioned as files (ops/grafana/provisioning/) and into Amazon
Managed Grafana.

Four dashboards (folder "tradewarden"):

- pnl-risk: the trader's page. Equity, P&L, fees, open exposure at a glance; drawdown and
  daily loss against their breaker thresholds; how much of each breaker is used;
- overview: equity and wallets, P&L, drawdown vs its limits, breakers vs limits and their
  states, trading state, emergency stop, readiness, orders, alert outbox;
- exchange: API latency by endpoint, request weight vs limit, answers by code, errors,
  clock skew, reconciliation age, 418 ban, the streams (connected, polling fallback, last
  message age, reconnects);
- host: CPU, load, memory, disk, network (node_exporter) and the daemon process (RSS vs its
  1 GiB MemoryMax, CPU, DB time, heartbeat).

Every expression reads only metrics the daemon exports (daemon/tradewarden/runtime/metrics.py),
node_exporter's, Prometheus' own or the recording rules (ops/prometheus/rules/recording.yml):
tests/ops/test_grafana.py checks the names against a running paper daemon's /metrics and a
running node_exporter, and that the files are what this script makes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, gauge, prometheus, stat, statetimeline
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import timeseries as ts
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
DATASOURCE_UID = "tradewarden-prometheus"  # provisioning/datasources/prometheus.yml
DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
GIB = 1073741824
Pairs = Sequence[tuple[str, str]]


# --- building blocks -------------------------------------------------------------------------
def query(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> Builder[Any]:
    q = prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref)
    q = q.datasource(DS)
    return q.instant() if instant else q.range()


def queries(pairs: Pairs, instant: bool = False) -> list[Builder[Any]]:
    return [query(e, leg, chr(ord("A") + i), instant) for i, (e, leg) in enumerate(pairs)]


def thresholds(*steps: tuple[float | None, str]) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in steps])
    )


def mapping(values: dict[str, tuple[str, str]]) -> list[dm.ValueMapping]:
    """value -> (text, color) as one Grafana value mapping."""
    return [
        dm.ValueMap(
            options={
                v: dm.ValueMappingResult(text=text, color=color, index=i)
                for i, (v, (text, color)) in enumerate(values.items())
            }
        )
    ]


def dashed_red(regexp: str) -> tuple[str, list[dm.DynamicConfigValue]]:
    """Threshold series drawn as red dashed lines."""
    return regexp, [
        dm.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}),
        dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": "red"}),
    ]


def common(panel: Any, title: str, pairs: Pairs, unit: str, description: str, w: int, h: int,
           instant: bool = False) -> Any:  # fmt: skip
    panel = panel.title(title).datasource(DS).unit(unit).span(w).height(h)
    if description:
        panel = panel.description(description)
    return panel.targets(queries(pairs, instant))


def timeseries(
    title: str,
    pairs: Pairs,
    *,
    unit: str = "short",
    description: str = "",
    w: int = 12,
    h: int = 8,
    min_max: tuple[float, float] | None = None,
    limits: str = "",
) -> ts.Panel:
    p = common(ts.Panel(), title, pairs, unit, description, w, h)
    p = p.legend(
        cb.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.LIST)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(True)
    ).tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE))
    if min_max:
        p = p.min(min_max[0]).max(min_max[1])
    if limits:
        p = p.override_by_regexp(*dashed_red(limits))
    return p


def reduce_last() -> cb.ReduceDataOptions:
    return cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields("")


def single(
    title: str,
    expr: str,
    *,
    unit: str = "short",
    description: str = "",
    w: int = 6,
    h: int = 4,
    mappings: list[dm.ValueMapping] | None = None,
    steps: tuple[tuple[float | None, str], ...] = (),
    color: str = "",
) -> stat.Panel:
    p = common(stat.Panel(), title, [(expr, "{{instance}}")], unit, description, w, h)
    p = (
        p.reduce_options(reduce_last())
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
    )
    if mappings:
        p = p.mappings(mappings)
    if steps:
        p = p.thresholds(thresholds(*steps))
    if color:
        p = p.color_scheme(db.FieldColor().mode(dm.FieldColorModeId.FIXED).fixed_color(color))
    return p


def utilisation_bars(title: str, expr: str, description: str, w: int = 12, h: int = 8) -> Any:
    p = common(bargauge.Panel(), title, [(expr, "{{breaker}} {{bot}}")], "percentunit",
               description, w, h, instant=True)  # fmt: skip
    return (
        p.min(0)
        .max(1)
        .thresholds(thresholds((None, "green"), (0.8, "orange"), (1, "red")))
        .orientation(cm.VizOrientation.HORIZONTAL)
        .display_mode(cm.BarGaugeDisplayMode.GRADIENT)
        .reduce_options(reduce_last())
    )


def variables(instance_metric: str) -> list[Builder[Any]]:
    definition = f"label_values({instance_metric}, instance)"
    return [
        db.DatasourceVariable("datasource")
        .label("Prometheus")
        .type("prometheus")
        .current(dm.VariableOption(text="Prometheus", value=DATASOURCE_UID, selected=True)),
        db.QueryVariable("instance")
        .label("instance")
        .datasource(DS)
        .query(definition)
        .include_all(True)
        .multi(True)
        .all_value(".*")
        .current(dm.VariableOption(text="All", value="$__all", selected=True))
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC),
    ]


def dashboard(
    uid: str,
    title: str,
    description: str,
    rows: list[tuple[str, list[Builder[Any]]]],
    instance_metric: str,
) -> dict[str, Any]:
    """Rows of panels: the SDK lays them out left to right (each line's widths add up to 24);
    ids are given in order."""
    d = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["tradewarden"])
        .timezone("utc")
        .readonly()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .refresh("30s")
        .time("now-24h", "now")
        .version(1)
        .variables(variables(instance_metric))
        .annotation(
            db.AnnotationQuery()
            .name("Breaker trips")
            .datasource(DS)
            .enable(True)
            .icon_color("red")
            .expr(
                "changes(tradewarden_breaker_trips_total"
                '{job="tradewarden", instance=~"$instance"}[1m]) > 0'
            )
        )
        .link(
            db.DashboardLink("tradewarden dashboards")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(["tradewarden"])
            .as_dropdown(True)
        )
    )
    n = 0
    for row_title, panels in rows:
        n += 1
        d = d.with_row(db.Row(row_title).id(n))
        for p in panels:
            n += 1
            d = d.with_panel(p.id(n))
    return json.loads(json.dumps(d.build(), cls=JSONEncoder))


# --- selectors -------------------------------------------------------------------------------
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
DRAWDOWN = 'breaker=~"bot_drawdown|portfolio_drawdown"'


def trading_state() -> str:
    reducing = tw("tradewarden_trading_state", 'state="reducing"')
    halted = tw("tradewarden_trading_state", 'state="halted"')
    return f"max by (instance) ({reducing}) + 2 * max by (instance) ({halted})"


def by_instance(metric: str, extra: str = "") -> str:
    return f"sum by (instance) ({tw(metric, extra)})"


# --- the dashboards --------------------------------------------------------------------------
def pnl_risk() -> dict[str, Any]:
    equity = by_instance("tradewarden_portfolio_value_usd")
    pnl = (
        f"{by_instance('tradewarden_pnl_realized_usd')}"
        f" + {by_instance('tradewarden_pnl_unrealized_usd')}"
    )
    exposure = by_instance("tradewarden_position_value_usd")
    # one unit per metric: ratios (daily loss, drawdowns) apart from counts (losses)
    used = (
        f"({tw('tradewarden_breaker_value_ratio')}"
        f" / ({tw('tradewarden_breaker_threshold_ratio')} > 0))"
        f" or ({tw('tradewarden_breaker_value_losses')}"
        f" / ({tw('tradewarden_breaker_threshold_losses')} > 0))"
    )
    daily = 'breaker="daily_loss"'
    glance = [
        single("Equity", equity, unit="currencyUSD", w=4, color="blue",
               description="Portfolio equity: every bot's cash and position at the last price."),
        single("P&L (realised + unrealised)", pnl, unit="currencyUSD", w=4,
               steps=((None, "red"), (0, "green"))),
        single("Fees paid", by_instance("tradewarden_fees_paid_usd"), unit="currencyUSD", w=4,
               color="purple", description="Commissions since the ledger began, in USD."),
        single("Open exposure", exposure, unit="currencyUSD", w=4, color="blue",
               description="Every open position at the last price."),
        single("Exposure / equity", f"{exposure} / ({equity} > 0)", unit="percentunit", w=4,
               steps=((None, "green"), (0.8, "orange"), (1, "red"))),
        single("Trading state", trading_state(), w=4, mappings=STATE,
               description="ACTIVE, REDUCING (exposure-reducing orders only) or HALTED."),
    ]  # fmt: skip
    limits = [
        timeseries(
            "Drawdown vs breaker thresholds",
            [
                (tw("tradewarden_breaker_value_ratio", DRAWDOWN), "{{breaker}} {{bot}}"),
                (
                    f"max by (breaker) ({tw('tradewarden_breaker_threshold_ratio', DRAWDOWN)})",
                    "threshold {{breaker}}",
                ),
            ],  # fmt: skip
            unit="percentunit",
            description="Drawdown from peak equity per bot (bot_drawdown) and for the"
            " portfolio (portfolio_drawdown: the emergency stop), with each breaker's"
            " threshold as a red dashed line.",
            limits="threshold .*",
        ),
        timeseries(
            "Daily loss vs breaker threshold",
            [
                (tw("tradewarden_breaker_value_ratio", daily), "daily loss {{bot}}"),
                (
                    f"max by (breaker) ({tw('tradewarden_breaker_threshold_ratio', daily)})",
                    "threshold",
                ),
            ],  # fmt: skip
            unit="percentunit",
            description="Today's loss as a share of the day-start equity (UTC day).",
            limits="threshold",
        ),
        utilisation_bars(
            "Breakers used (share of threshold)",
            used,
            "Each breaker's reading over its threshold: warns at 80%, trips at 100%.",
            w=24,
            h=7,
        ),
    ]
    exposure_fees = [
        timeseries(
            "Open exposure by bot",
            [
                (tw("tradewarden_position_value_usd"), "{{bot}}"),
                (equity, "equity"),
            ],
            unit="currencyUSD",
        ),
        timeseries(
            "P&L and fees by bot",
            [
                (tw("tradewarden_pnl_realized_usd"), "realised {{bot}}"),
                (tw("tradewarden_pnl_unrealized_usd"), "unrealised {{bot}}"),
                (tw("tradewarden_fees_paid_usd"), "fees {{bot}}"),
            ],
            unit="currencyUSD",
            description="Realised P&L is after fees; fees are shown on their own to see"
            " what trading costs.",
        ),
    ]
    return dashboard(
        "tradewarden-pnl-risk",
        "tradewarden / P&L and risk",
        "For the trader: equity, P&L, fees and open exposure at a glance; drawdown and daily"
        " loss against their breaker thresholds.",
        [
            ("At a glance", glance),
            ("Losses vs breaker thresholds", limits),
            ("Exposure, P&L and fees", exposure_fees),
        ],
        "tradewarden_build_info",
    )


def overview() -> dict[str, Any]:
    trips = tw("tradewarden_breaker_trips_total")
    limits = tw("tradewarden_breaker_threshold_ratio", DRAWDOWN)
    now = [
        single("Portfolio equity", by_instance("tradewarden_portfolio_value_usd"),
               unit="currencyUSD", color="blue"),
        single("Trading state", trading_state(), mappings=STATE,
               description="ACTIVE, REDUCING (exposure-reducing orders only) or HALTED."),
        single("Emergency stop", f"max by (instance) ({tw('tradewarden_emergency_stop')})",
               mappings=mapping({"0": ("off", "green"), "1": ("EMERGENCY STOP", "red")})),
        single("Ready (/readyz)", f"min by (instance) ({tw('tradewarden_ready')})",
               mappings=mapping({"0": ("NOT READY", "red"), "1": ("ready", "green")})),
    ]  # fmt: skip
    pnl = [
        timeseries(
            "Equity and wallets",
            [
                (tw("tradewarden_portfolio_value_usd"), "portfolio {{instance}}"),
                (tw("tradewarden_wallet_balance_usd"), "{{wallet}}"),
            ],
            unit="currencyUSD",
            description="Portfolio equity; hot (exchange), cold (declared) and target hot.",
        ),
        timeseries(
            "P&L by bot",
            [
                (tw("tradewarden_pnl_realized_usd"), "realized {{bot}}"),
                (tw("tradewarden_pnl_unrealized_usd"), "unrealized {{bot}}"),
                ('tradewarden:pnl_usd:sum{instance=~"$instance"}', "total"),
            ],
            unit="currencyUSD",
        ),
        timeseries(
            "Drawdown vs limits",
            [
                (tw("tradewarden_drawdown_ratio"), "drawdown {{bot}}"),
                (f"max by (breaker) ({limits})", "limit {{breaker}}"),
            ],
            unit="percentunit",
            description="Drawdown from peak equity per bot and for the portfolio, with the"
            " bot-drawdown (25%) and portfolio-drawdown emergency-stop (40%) limits.",
            limits="limit .*",
        ),
        timeseries(
            "Win rate and profit factor",
            [
                (tw("tradewarden_win_rate_ratio"), "win rate {{bot}}"),
                (tw("tradewarden_profit_factor"), "profit factor {{bot}}"),
            ],
            description="Promotion criteria: win rate >= 60%, profit factor >= 1.5.",
        ),
    ]
    states = (
        common(statetimeline.Panel(), "Breaker states",
               [(tw("tradewarden_breaker_tripped"), "{{breaker}} {{bot}}")], "short",
               "Sticky: a trip stays until a human `tradewarden reset --reason ...`.", 12, 8)
        .mappings(TRIPPED)
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .thresholds(thresholds((None, "green"), (1, "red")))
        .show_value(cm.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
    )  # fmt: skip
    breakers = [
        utilisation_bars(
            "Breakers vs limits",
            'tradewarden:breaker_utilisation:ratio{instance=~"$instance"}',
            "Each breaker's reading as a share of its threshold: warns at 80%, trips at 100%.",
        ),
        states,
        timeseries(
            "Breaker trips",
            [(f"sum by (breaker, bot) (increase({trips}[1h]))", "{{breaker}} {{bot}}")],
            description="Trips per hour.",
        ),
        timeseries(
            "Orders by outcome and denials",
            [
                (f"sum by (outcome) ({rate(tw('tradewarden_orders_total'))})", "{{outcome}}"),
                (
                    f"sum by (reason) ({rate(tw('tradewarden_order_denials_total'))})",
                    "denied: {{reason}}",
                ),
            ],
            unit="ops",
        ),
    ]
    alerts = [
        timeseries(
            "Alert outbox",
            [
                (tw("tradewarden_alert_outbox_depth"), "pending deliveries"),
                (tw("tradewarden_alert_outbox_oldest_age_seconds"), "oldest age (s)"),
            ],
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
        [("Now", now), ("Equity and P&L", pnl), ("Breakers", breakers), ("Alerts", alerts)],
        "tradewarden_build_info",
    )


def exchange() -> dict[str, Any]:
    buckets = rate(tw("tradewarden_api_request_duration_seconds_bucket"))
    counts = tw("tradewarden_api_request_duration_seconds_count")
    not_paper = 'tradewarden_build_info{job="tradewarden", mode!="paper"}'
    since = f"time() - {tw('tradewarden_reconciliation_last_success_timestamp_seconds')}"
    ban = f"max by (instance) ({tw('tradewarden_exchange_ban_until_timestamp_seconds')})"
    latency = [
        timeseries(
            "API latency p95 by endpoint",
            [(f"histogram_quantile(0.95, sum by (le, endpoint) ({buckets}))", "{{endpoint}}")],
            unit="s",
        ),
        timeseries(
            "API latency p50 / p99 (all endpoints)",
            [
                (f"histogram_quantile(0.5, sum by (le) ({buckets}))", "p50"),
                (f"histogram_quantile(0.99, sum by (le) ({buckets}))", "p99"),
            ],
            unit="s",
        ),
        timeseries(
            "Requests by endpoint",
            [(f"sum by (endpoint) ({rate(counts)})", "{{endpoint}}")],
            unit="reqps",
            w=24,
        ),
    ]
    weight_gauge = (
        common(gauge.Panel(), "Weight used",
               [('tradewarden:rate_limit_weight_utilisation:ratio{instance=~"$instance"}',
                 "{{instance}}")], "percentunit", "", 6, 8, instant=True)
        .min(0)
        .max(1)
        .thresholds(thresholds((None, "green"), (0.8, "orange"), (0.95, "red")))
        .reduce_options(reduce_last())
    )  # fmt: skip
    limits = [
        timeseries(
            "Request weight used vs limit",
            [
                (tw("tradewarden_rate_limit_weight_used"), "used (X-MBX-USED-WEIGHT-1M)"),
                (tw("tradewarden_rate_limit_weight_limit"), "limit per minute"),
            ],
            description="The exchange counts per IP; RateLimitNearBudget fires above 80%.",
        ),
        weight_gauge,
        single("418 ban remaining", f"clamp_min({ban} - time(), 0)", unit="s", h=8,
               steps=((None, "green"), (1, "red"))),
    ]  # fmt: skip
    errors = [
        timeseries(
            "Exchange answers by code",
            [
                (
                    f"sum by (code) ({rate(tw('tradewarden_exchange_responses_total'))})",
                    "{{code}}",
                )
            ],
            unit="reqps",
            description="Code 0 = no answer (timeout, dropped connection).",
        ),
        timeseries(
            "Errors by kind",
            [(f"sum by (kind) ({rate(tw('tradewarden_errors_total'))})", "{{kind}}")],
            unit="ops",
        ),
    ]
    skew = timeseries(
        "Clock skew (exchange minus host)",
        [(tw("tradewarden_clock_skew_seconds"), "{{instance}}")],
        unit="s",
    )
    skew = skew.thresholds(thresholds((None, "green"), (0.5, "orange"), (1, "red")))
    skew = skew.thresholds_style(
        cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.LINE)
    )
    time_rec = [
        skew,
        timeseries(
            "Time since last reconciliation",
            [(f"{since} and on (instance, job) {not_paper}", "{{instance}}")],
            unit="s",
            description="Testnet/live only; ReconciliationStale fires past 180 s.",
        ),
    ]
    return dashboard(
        "tradewarden-exchange",
        "tradewarden / exchange",
        "Binance gateway: latency, request weight, answers and errors, clock, reconciliation,"
        " the user data and market streams.",
        [
            ("Latency", latency),
            ("Rate limits", limits),
            ("Errors", errors),
            ("Time and reconciliation", time_rec),
            ("Streams", streams()),
        ],
        "tradewarden_build_info",
    )


FALLBACK = mapping({"0": ("event-driven", "green"), "1": ("POLLING", "orange")})
CONNECTED = mapping({"0": ("down", "red"), "1": ("connected", "green")})


def streams() -> list[Builder[Any]]:
    """The event-driven exchange (TRADEWARDEN_STREAMS=on, issue 19): each stream connected,
    the polling fallback, last message age, reconnects."""
    fallback = f"max by (instance) ({tw('tradewarden_stream_fallback_active')})"
    health = (
        common(statetimeline.Panel(), "Streams connected / polling fallback",
               [(tw("tradewarden_stream_connected"), "{{instance}} {{stream}}")], "short",
               "Each stream connected (1) or down (0). Starting up is no fallback; a stream "
               "down or a stale market stream is (StreamFallback fires after 5 minutes).",
               18, 8)
        .mappings(CONNECTED)
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .thresholds(thresholds((None, "red"), (1, "green")))
        .show_value(cm.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
    )  # fmt: skip
    return [
        health,
        single("Stream fallback", fallback, h=8, mappings=FALLBACK,
               description="POLLING: the exchange loop polls over REST (a stream is down or "
               "stale); it still trades, fills and prices arrive a poll interval late.",
               steps=((None, "green"), (1, "orange"))),
        timeseries(
            "Stream last message age",
            [(f"{tw('tradewarden_stream_last_event_age_seconds')} >= 0",
              "{{instance}} {{stream}}")],
            unit="s",
            description="The market stream is stale past TRADEWARDEN_STREAM_STALE_SECONDS "
            "(default 10 s); the user stream is quiet between trades.",
        ),
        timeseries(
            "Stream reconnects (per hour)",
            [(f"increase({tw('tradewarden_stream_reconnects_total')}[1h])",
              "{{instance}} {{stream}}")],
            description="Binance closes a stream once a day; StreamReconnectsFrequent "
            "fires above 6 an hour.",
        ),
    ]  # fmt: skip


def host() -> dict[str, Any]:
    idle = rate(node("node_cpu_seconds_total", 'mode="idle"'))
    root = 'mountpoint="/"'
    nic = 'device!="lo"'
    machine = [
        timeseries("CPU busy", [(f"1 - avg by (instance) ({idle})", "{{instance}}")],
                   unit="percentunit", min_max=(0, 1)),
        timeseries("Load", [(node("node_load1"), "1m"), (node("node_load5"), "5m"),
                            (node("node_load15"), "15m")]),
        timeseries(
            "Memory used",
            [(f"1 - {node('node_memory_MemAvailable_bytes')}"
              f" / {node('node_memory_MemTotal_bytes')}", "{{instance}}")],
            unit="percentunit",
            min_max=(0, 1),
        ),
        timeseries(
            "Memory",
            [
                (node("node_memory_MemTotal_bytes"), "total"),
                (node("node_memory_MemAvailable_bytes"), "available"),
                (f"{node('node_memory_SwapTotal_bytes')} - {node('node_memory_SwapFree_bytes')}",
                 "swap used"),
            ],
            unit="bytes",
        ),
        timeseries(
            "Disk free (/)",
            [(f"{node('node_filesystem_avail_bytes', root)}"
              f" / {node('node_filesystem_size_bytes', root)}", "{{instance}}")],
            unit="percentunit",
            min_max=(0, 1),
        ),
        timeseries(
            "Network",
            [
                (f"sum by (instance) ({rate(node('node_network_receive_bytes_total', nic))})",
                 "in"),
                (f"sum by (instance) ({rate(node('node_network_transmit_bytes_total', nic))})",
                 "out"),
            ],
            unit="Bps",
        ),
    ]  # fmt: skip
    process = [
        timeseries(
            "Daemon memory (RSS) vs MemoryMax",
            [
                ('process_resident_memory_bytes{job="tradewarden"}', "RSS {{instance}}"),
                (f"vector({GIB})", "MemoryMax (1 GiB)"),
            ],
            unit="bytes",
            description="MemoryGrowth warns when RSS is on track to pass 90% of 1 GiB within 6 h.",
        ),
        timeseries(
            "Daemon CPU",
            [(rate('process_cpu_seconds_total{job="tradewarden"}'), "{{instance}}")],
            unit="percentunit",
        ),
        timeseries(
            "State database time p95",
            [("tradewarden:db_query_duration_seconds:p95_5m", "{{instance}}")],
            unit="s",
        ),
        timeseries(
            "Heartbeat age and scrape health",
            [
                ("tradewarden:heartbeat_age_seconds", "heartbeat age (s) {{instance}}"),
                ('up{job=~"tradewarden|node"}', "up {{job}}"),
            ],
            description="The main loop refreshes the heartbeat every second;"
            " HeartbeatStale fires past 60 s.",
        ),
    ]
    return dashboard(
        "tradewarden-host",
        "tradewarden / host",
        "Host CPU, memory, disk, network (node_exporter) and the daemon process.",
        [("Host (node_exporter)", machine), ("The daemon process", process)],
        "node_load1",
    )


DASHBOARDS = {
    "pnl-risk.json": pnl_risk,
    "overview.json": overview,
    "exchange.json": exchange,
    "host.json": host,
}


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
            f"out of date: {', '.join(stale)}; run: uv run python ops/grafana/generate.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
