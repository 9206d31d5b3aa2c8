"""Prometheus metrics on an own registry, served on localhost with /healthz and /readyz.

Names follow Prometheus conventions: prefix `tradewarden_`, base units, `_total` counters.
The daemon updates gauges from its status once a second and counters as events happen.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tradewarden.alerts.catalogue import COUNT_BREAKERS  # the breakers counted in losses

STATES = ("active", "reducing", "halted")


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        g, c = Gauge, Counter
        self.build_info = g(
            "tradewarden_build_info", "Version and mode", ["version", "mode"], registry=r
        )
        self.portfolio_value = g("tradewarden_portfolio_value_usd", "Portfolio equity", registry=r)
        self.wallet_balance = g(
            "tradewarden_wallet_balance_usd", "Hot, cold and target hot", ["wallet"], registry=r
        )
        self.hot_ratio = g("tradewarden_hot_wallet_ratio", "Hot balance / target hot", registry=r)
        self.pnl_realized = g("tradewarden_pnl_realized_usd", "Realised P&L", ["bot"], registry=r)
        self.pnl_unrealized = g(
            "tradewarden_pnl_unrealized_usd", "Unrealised P&L", ["bot"], registry=r
        )
        self.fees = g(
            "tradewarden_fees_paid_usd", "Commissions paid, in the quote asset", ["bot"], registry=r
        )
        self.position_value = g(
            "tradewarden_position_value_usd",
            "Open exposure: the bot's position at the last price",
            ["bot"],
            registry=r,
        )
        self.win_rate = g(
            "tradewarden_win_rate_ratio", "Winning round trips / all", ["bot"], registry=r
        )
        self.profit_factor = g(
            "tradewarden_profit_factor", "Gross profit / gross loss", ["bot"], registry=r
        )
        self.drawdown = g(
            "tradewarden_drawdown_ratio", "Drawdown from peak equity", ["bot"], registry=r
        )
        self.breaker_tripped = g(
            "tradewarden_breaker_tripped", "1 while tripped", ["breaker", "bot"], registry=r
        )
        # one unit per metric: the count breaker (consecutive losses) apart from the ratio
        # breakers (daily loss, bot and portfolio drawdown, 0..1)
        lb = ["breaker", "bot"]
        self.breaker_value_ratio = g(
            "tradewarden_breaker_value_ratio", "Ratio breaker reading (0..1)", lb, registry=r
        )
        self.breaker_threshold_ratio = g(
            "tradewarden_breaker_threshold_ratio", "Ratio breaker threshold (0..1)", lb, registry=r
        )
        self.breaker_value_losses = g(
            "tradewarden_breaker_value_losses", "Losing round trips in a row", lb, registry=r
        )
        self.breaker_threshold_losses = g(
            "tradewarden_breaker_threshold_losses",
            "Losing round trips in a row that trip the breaker",
            lb,
            registry=r,
        )
        self.breaker_trips = c(
            "tradewarden_breaker_trips", "Breaker trips", ["breaker", "bot"], registry=r
        )
        self.trading_state = g(
            "tradewarden_trading_state", "1 for the current state", ["state"], registry=r
        )
        self.emergency_stop = g(
            "tradewarden_emergency_stop", "1 while the emergency stop holds", registry=r
        )
        self.api_latency = Histogram(
            "tradewarden_api_request_duration_seconds",
            "Exchange API latency",
            ["endpoint"],
            registry=r,
        )
        self.weight_used = g(
            "tradewarden_rate_limit_weight_used", "Request weight used this minute", registry=r
        )
        self.weight_limit = g(
            "tradewarden_rate_limit_weight_limit", "Request weight limit per minute", registry=r
        )
        self.exchange_responses = c(
            "tradewarden_exchange_responses", "Exchange responses by code", ["code"], registry=r
        )
        self.orders = c("tradewarden_orders", "Orders by outcome", ["bot", "outcome"], registry=r)
        self.denials = c(
            "tradewarden_order_denials", "Orders refused by the risk engine", ["reason"], registry=r
        )
        self.db_time = Histogram(
            "tradewarden_db_query_duration_seconds", "State database time", registry=r
        )
        self.errors = c("tradewarden_errors", "Errors by kind", ["kind"], registry=r)
        self.outbox_depth = g(
            "tradewarden_alert_outbox_depth", "Alert deliveries pending", registry=r
        )
        self.outbox_oldest = g(
            "tradewarden_alert_outbox_oldest_age_seconds",
            "Age of the oldest pending delivery",
            registry=r,
        )
        self.alerts_delivered = c(
            "tradewarden_alerts_delivered", "Alert deliveries acknowledged", ["channel"], registry=r
        )
        self.alert_failures = c(
            "tradewarden_alert_delivery_failures",
            "Failed delivery attempts",
            ["channel"],
            registry=r,
        )
        self.secret_age = g(
            "tradewarden_secret_age_seconds", "Age of each secret", ["secret"], registry=r
        )
        self.reconciled_at = g(
            "tradewarden_reconciliation_last_success_timestamp_seconds",
            "Last reconciliation",
            registry=r,
        )
        self.audit_anchor_success = g(
            "tradewarden_audit_anchor_last_success_timestamp_seconds",
            "Last time the audit chain head was anchored off the host (0: never)",
            registry=r,
        )
        self.audit_anchor_failures = c(
            "tradewarden_audit_anchor_failures",
            "Failed attempts to anchor the audit chain head off the host",
            registry=r,
        )
        self.clock_skew = g(
            "tradewarden_clock_skew_seconds", "Exchange clock minus ours", registry=r
        )
        self.heartbeat = g(
            "tradewarden_heartbeat_timestamp_seconds", "Main loop heartbeat", registry=r
        )
        self.ready = g("tradewarden_ready", "1 when ready to trade", registry=r)
        self.size_factor = g(
            "tradewarden_size_factor_ratio",
            "Gradual restart: share of the normal order size in use (1 = full)",
            registry=r,
        )
        # --- for ops/prometheus/rules/alerts.yml (ExchangeBan418): the daemon sets it from the
        # persisted ban (store key "exchange.banned_until") at each snapshot; 0 = no ban
        self.exchange_ban_until = g(
            "tradewarden_exchange_ban_until_timestamp_seconds",
            "End of the exchange's 418 IP ban (0 when none)",
            registry=r,
        )

        # --- the event-driven exchange loop (issue 19, TRADEWARDEN_STREAMS=on) ---------------
        self.stream_fallback = g(
            "tradewarden_stream_fallback_active",
            "1 while the exchange loop polls because a stream is down or stale",
            registry=r,
        )
        self.stream_connected = g(
            "tradewarden_stream_connected",
            "1 while the stream is connected",
            ["stream"],
            registry=r,
        )
        self.stream_age = g(
            "tradewarden_stream_last_event_age_seconds",
            "Seconds since the stream's last message (-1: none yet)",
            ["stream"],
            registry=r,
        )
        self.stream_reconnects = c(
            "tradewarden_stream_reconnects",
            "Stream connections after the first one",
            ["stream"],
            registry=r,
        )
        self.stream_inbox_overflows = c(
            "tradewarden_stream_inbox_overflows",
            "Stream events refused by the full inbox (the stream reconnects, REST checks)",
            ["stream"],
            registry=r,
        )
        # more for /readyz's JSON next to ready and reasons (the exchange loop's streams)
        self.ready_details: Callable[[], dict[str, Any]] | None = None

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def update_from_status(self, st: dict[str, Any]) -> None:
        """Refresh the gauges from the daemon's status dict (once a second)."""
        self.heartbeat.set(time.time())
        eq = st.get("equity") or {}
        self.portfolio_value.set(eq.get("portfolio_equity", 0.0))
        for bot, b in (eq.get("bots") or {}).items():
            self.pnl_realized.labels(bot).set(b["realized_pnl"])
            self.pnl_unrealized.labels(bot).set(b["unrealized_pnl"])
            self.fees.labels(bot).set(b.get("fees", 0.0))
            if "equity" in b and "cash" in b:
                self.position_value.labels(bot).set(b["equity"] - b["cash"])
            self.win_rate.labels(bot).set(b["win_rate"] or 0.0)
            pf = b["profit_factor"]
            self.profit_factor.labels(bot).set(pf if pf is not None else 0.0)
        self.set_trading_state(st.get("state"))
        tripped = {(t["breaker"], t["bot"]) for t in st.get("trips", [])}
        for b in st.get("breakers", []):
            key = (b["breaker"], b["bot"])
            self.set_breaker(b["breaker"], b["bot"], b["value"], b["threshold"])
            self.breaker_tripped.labels(*key).set(1.0 if key in tripped else 0.0)
            if b["breaker"].endswith("drawdown"):
                self.drawdown.labels(b["bot"]).set(b["value"])
        self.emergency_stop.set(1.0 if any(t[0] == "portfolio_drawdown" for t in tripped) else 0.0)
        self.size_factor.set(float(st.get("size_factor", 1.0)))

    def set_breaker(self, breaker: str, bot: str, value: float, threshold: float) -> None:
        """A breaker's reading and threshold, on the gauge pair of its unit."""
        if breaker in COUNT_BREAKERS:
            self.breaker_value_losses.labels(breaker, bot).set(value)
            self.breaker_threshold_losses.labels(breaker, bot).set(threshold)
        else:
            self.breaker_value_ratio.labels(breaker, bot).set(value)
            self.breaker_threshold_ratio.labels(breaker, bot).set(threshold)

    def set_trading_state(self, state: str | None) -> None:
        """`tradewarden_trading_state{state}`: 1 for the current state, 0 for the others."""
        for s in STATES:
            self.trading_state.labels(s).set(1.0 if state == s else 0.0)

    def declare_breakers(self, series: list[tuple[str, str, float]]) -> None:
        """Every (breaker, bot, threshold) exists from the start: the trip counter at 0 (so
        increase()/changes() see the first trip), the reading at 0 and the threshold."""
        for breaker, bot, threshold in series:
            self.breaker_trips.labels(breaker, bot)
            self.breaker_tripped.labels(breaker, bot)
            self.set_breaker(breaker, bot, 0.0, threshold)

    def count_trip(self, breaker: str, bot: str) -> None:
        self.breaker_trips.labels(breaker, bot).inc()


class _Handler(BaseHTTPRequestHandler):
    metrics: Metrics
    readiness: Callable[[], tuple[bool, list[str]]]

    def do_GET(self) -> None:  # noqa: N802 - http.server's API
        if self.path == "/metrics":
            self._send(200, self.metrics.render(), CONTENT_TYPE_LATEST)
        elif self.path == "/healthz":
            self._send(200, b"ok\n", "text/plain")
        elif self.path == "/readyz":
            ok, reasons = self.readiness()
            doc: dict[str, Any] = {"ready": ok, "reasons": reasons}
            details = self.metrics.ready_details
            if details is not None:
                doc.update(details())
            body = json.dumps(doc).encode()
            self._send(200 if ok else 503, body, "application/json")
        else:
            self._send(404, b"not found\n", "text/plain")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return  # scrapes are not worth a log line


class MetricsServer:
    def __init__(self, server: ThreadingHTTPServer, handler: type[_Handler]) -> None:
        self._server = server
        self._handler = handler  # the server's request handler class
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def serve(self, metrics: Metrics) -> None:
        """Serve these metrics from now on (the daemon's, once built, after a start-up
        wait served the waiting ones)."""
        self._handler.metrics = metrics

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_http_server(
    metrics: Metrics,
    host: str = "127.0.0.1",
    port: int = 9108,
    readiness: Callable[[], tuple[bool, list[str]]] = lambda: (True, []),
) -> MetricsServer:
    handler: type[_Handler] = type(
        "Handler", (_Handler,), {"metrics": metrics, "readiness": staticmethod(readiness)}
    )
    return MetricsServer(ThreadingHTTPServer((host, port), handler), handler)
