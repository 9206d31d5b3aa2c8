"""Human-readable output: the running summary of `tradewarden run` and `status`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from tradewarden.core.models import Tick
from tradewarden.risk.engine import Trip
from tradewarden.strategy import Signal
from tradewarden.trading.order_gate import Submission
from tradewarden.trading.trader import Bot, Trader

PROGRESS_EVERY = 6 * 3600  # simulated seconds between progress lines


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


class RunPrinter:
    """Prints progress, orders, denials and breaker trips while the scenario replays."""

    def __init__(
        self, trader: Trader, out: TextIO | None = None, start_equity: float = 0.0
    ) -> None:
        self.trader = trader
        self.out = out or sys.stdout
        self.start_equity = start_equity or trader.ledger.portfolio_equity()
        self.next_progress = 0.0
        self.last_ts = 0.0
        self.denials: dict[str, int] = {}
        self.orders = 0
        trader.events.on_order.append(self.on_order)
        trader.events.on_trip.append(self.on_trip)

    def p(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def on_tick(self, tick: Tick) -> None:
        self.last_ts = tick.ts
        if not self.next_progress:
            self.next_progress = tick.ts - tick.ts % PROGRESS_EVERY + PROGRESS_EVERY
        if tick.ts >= self.next_progress:
            self.next_progress += PROGRESS_EVERY
            self.progress(tick.ts)

    def progress(self, ts: float) -> None:
        eq = self.trader.ledger.portfolio_equity()
        change = (eq / self.start_equity - 1) if self.start_equity else 0.0
        trades = sum(b.trades for b in self.trader.ledger.books.values())
        px = "  ".join(f"{s} {p:,.2f}" for s, p in sorted(self.trader.prices.items()))
        self.p(
            f"[{utc(ts)}] equity {eq:,.2f} USDT ({change:+.2%})  trades {trades}  "
            f"state {self.trader.risk.state.label}  | {px}"
        )

    def on_order(self, bot: Bot, signal: Signal, sub: Submission) -> None:
        when = utc(self.last_ts) if self.last_ts else "start"
        if sub.denied is not None:
            self.denials[sub.denied] = self.denials.get(sub.denied, 0) + 1
            if self.denials[sub.denied] <= 3:
                more = (
                    " (further denials of this kind are counted, not printed)"
                    if (self.denials[sub.denied] == 3)
                    else ""
                )
                self.p(
                    f"[{when}]   DENIED {signal.side} {bot.name}: {sub.denied} "
                    f"(zone Z{signal.zone}, {signal.reason}){more}"
                )
            return
        if sub.order is None or not sub.accepted:
            self.p(f"[{when}]   ERROR  {signal.side} {bot.name}: {sub.error}")
            return
        self.orders += 1
        o = sub.order
        self.p(
            f"[{when}]   {o.side:<4} {bot.name} {o.qty:g} {o.symbol} @ {o.avg_price or 0:,.2f}"
            f"  ({signal.reason}, Z{signal.zone})"
        )

    def on_trip(self, trip: Trip, actions: dict[str, Any]) -> None:
        scope = "ALL TRADING HALTED" if trip.portfolio_scope else f"bot {trip.bot} halted"
        kind = "EMERGENCY STOP" if trip.emergency else "BREAKER TRIPPED"
        self.p("")
        self.p(f"!! [{utc(trip.ts)}] {kind}: {trip.breaker} on {trip.bot} — {trip.reason}")
        self.p(
            f"!!   {scope}; {len(actions['orders_cancelled'])} open order(s) cancelled; "
            f"{len(actions['positions_closed'])} position(s) closed"
        )
        self.p("!!   it stays tripped across restarts until a human runs:")
        scope = f"--breaker {trip.breaker}" + ("" if trip.portfolio_scope else f" --bot {trip.bot}")
        self.p(f'!!     tradewarden reset --reason "<why it is safe to resume>" {scope}')
        self.p("")

    def summary(self, status: dict[str, Any], paper_report: str = "") -> None:
        eq = status["equity"]
        self.p("")
        self.p("=" * 78)
        halted = [b for b, st in status["bots"].items() if st != "active"]
        state = status["state"].upper() + (f" (halted bots: {', '.join(halted)})" if halted else "")
        self.p(
            f"Scenario finished. Portfolio equity {eq['portfolio_equity']:,.2f} USDT "
            f"(started {self.start_equity:,.2f}).  State: {state}"
        )
        self.p(
            f"{'bot':<12}{'symbol':<10}{'equity':>12}{'realized':>11}{'trades':>8}"
            f"{'win rate':>10}  state"
        )
        for name, b in eq["bots"].items():
            wr = f"{b['win_rate']:.0%}" if b["win_rate"] is not None else "-"
            self.p(
                f"{name:<12}{b['symbol']:<10}{b['equity']:>12,.2f}{b['realized_pnl']:>11,.2f}"
                f"{b['trades']:>8}{wr:>10}  {status['bots'].get(name, '?')}"
            )
        if self.denials:
            d = ", ".join(f"{k}: {v}" for k, v in sorted(self.denials.items()))
            self.p(f"Orders refused by the risk engine: {d}")
        print_breakers(status, self.out)
        if paper_report:
            self.p(paper_report)
        self.p("=" * 78)


def print_breakers(status: dict[str, Any], out: TextIO) -> None:
    print(f"{'breaker':<22}{'bot':<12}{'value':>10}{'threshold':>11}  status", file=out)
    for b in status["breakers"]:
        fmt: Callable[[float], str] = (
            (lambda v: f"{v:g}") if b["breaker"] == "consecutive_losses" else (lambda v: f"{v:.2%}")
        )
        st = "TRIPPED" if b["tripped"] else "ok"
        print(
            f"{b['breaker']:<22}{b['bot']:<12}{fmt(b['value']):>10}{fmt(b['threshold']):>11}  {st}",
            file=out,
        )


def print_status(status: dict[str, Any], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    running = status.get("daemon_running")
    head = "daemon running" if running else "daemon not running"
    if status.get("snapshot_ts"):
        when = datetime.fromtimestamp(status["snapshot_ts"], UTC)
        head += f" (snapshot {when:%Y-%m-%d %H:%M:%S} UTC)"
    print(f"tradewarden {status.get('version', '')} — {head}", file=out)
    print(f"Mode:        {status.get('mode', '?')}", file=out)
    blockers = status.get("why_not_live") or []
    if status.get("mode") != "live":
        print("Not live because:", file=out)
        for b in blockers or ["(unknown)"]:
            print(f"  - {b}", file=out)
    reason = f" — {status['state_reason']}" if status.get("state_reason") else ""
    print(f"State:       {status['state'].upper()}{reason}", file=out)
    bots = ", ".join(f"{k} {v}" for k, v in status.get("bots", {}).items())
    print(f"Bots:        {bots}", file=out)
    print(f"Open orders: {status.get('open_orders', 0)}", file=out)
    streams = status.get("streams")
    if streams:
        for line in stream_lines(streams):
            print(line, file=out)
    factor = status.get("size_factor", 1.0)
    if factor < 1.0:
        print(f"Order size:  {factor:.0%} of normal (gradual restart)", file=out)
    eq = status.get("equity") or {}
    if eq:
        print(f"Equity:      {eq.get('portfolio_equity', 0):,.2f} USDT", file=out)
    print("Breakers:", file=out)
    print_breakers(status, out)
    for t in status.get("trips", []):
        print(
            f"  TRIPPED {t['breaker']} ({t['bot']}) at "
            f"{datetime.fromtimestamp(t['tripped_at'], UTC):%Y-%m-%d %H:%M:%S} UTC: {t['reason']}",
            file=out,
        )
    for h in status.get("halts", []):
        print(
            f"  HALT {h['key']} ({h['state']}) set by {h['set_by']} at "
            f"{datetime.fromtimestamp(h['at'], UTC):%Y-%m-%d %H:%M:%S} UTC: {h['reason']}",
            file=out,
        )
    if status.get("trips") or status.get("state") != "active":
        print(
            'Resume only after review: tradewarden reset --reason "<why it is safe>" '
            "--bot B | --breaker NAME | --all (see --help)",
            file=out,
        )


def stream_lines(streams: dict[str, Any]) -> list[str]:
    """The exchange loop's streams (issue 19) for `tradewarden status`."""
    if streams.get("mode") != "on":
        return ["Streams:     off (polling)"]
    if not streams.get("started"):
        return ["Streams:     on, not started yet"]
    kline = streams.get("kline_interval", "?")
    # futures (issue 20): the user data stream only, no market stream ("market": None)
    head = f"Streams:     on ({kline} klines), " if kline else "Streams:     on (user only), "
    if streams.get("fallback"):
        lines = [head + f"FALLBACK (polling): {streams.get('fallback_reason')}"]
    else:
        lines = [head + "event-driven"]
    for kind in ("user", "market"):
        if kind in streams and streams[kind] is None:
            continue  # futures: no market stream
        h = streams.get(kind) or {}
        age = h.get("last_message_age_s")
        shown = "no message yet" if age is None else f"last message {age:.1f}s ago"
        state = "connected" if h.get("connected") else "DISCONNECTED"
        err = f", last error: {h['last_error']}" if h.get("last_error") else ""
        lines.append(f"  {kind:<7}{state}, {shown}, {h.get('reconnects', 0)} reconnect(s){err}")
    for gap in streams.get("candle_gaps") or []:
        lines.append(f"  GAP    {gap}")
    return lines
