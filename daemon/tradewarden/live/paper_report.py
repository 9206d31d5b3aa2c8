"""The paper-to-live promotion criteria, computed from the recorded paper/testnet history.

Seed criteria (pets-security-guidelines, "Testing"): 100+ trades, win rate >= 60%, profit
factor >= 1.5, max drawdown <= 15%. Sharpe (hourly equity returns, annualised) is reported
for information. A bot passes only when every criterion passes.

Futures bots (``TRADEWARDEN_FUTURES_ENABLED=true``, issue 20; the seeds give no futures
numbers, so these are ours) must meet the same four plus what leverage adds, read from the
run's audit log (`futures_facts`; its chain is verified first by the caller) and the
breaker table:

- ``liquidations`` = 0: no position was liquidated (``futures_liquidation``);
- ``liq_flatten`` = 0: the liquidation-distance breaker never reached its flatten level
  (``breaker_tripped`` of ``liquidation_distance``, or its row in the breaker table); its
  reduce level may act (``futures_reduce``: counted and reported, not a failure);
- ``funding_booked`` >= 1: funding was paid or received and booked into P&L during the
  run (``futures_funding`` entries, each a finite amount; a run that never held a position
  over a funding time has not shown that its funding is accounted). The total is reported.
- ``spot_runs`` = 0: the bot's trades and equity (one table for both markets) hold no run
  of the other market: no ``daemon_started`` in the audit log ran this bot with
  ``futures_enabled`` false. A spot run's 100+ trades topped up with one futures funding
  payment is not a futures record; the reverse, ``futures_runs`` = 0, holds for a spot
  report read with its audit log (`report(..., audit_dir)`, what the CLI does). Promote
  from a state directory that ran the bot on one market only.
- ``audit_pruned`` = 0: the audit log holds the whole history (no ``chain-anchor.json``:
  nothing pruned after TRADEWARDEN_AUDIT_RETENTION_DAYS, no ``audit new-chain``). The
  trades outlive pruned audit files; a liquidation or a spot run recorded only in them
  would be missed, so a cut history is no futures record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tradewarden.audit.chain import ANCHOR
from tradewarden.state.store import Store

MIN_TRADES = 100
MIN_WIN_RATE = 0.60
MIN_PROFIT_FACTOR = 1.5
MAX_DRAWDOWN = 0.15
HOURS_PER_YEAR = 24 * 365
MAX_LIQUIDATIONS = 0
MAX_LIQ_FLATTEN = 0
MIN_FUNDING_BOOKED = 1
LIQ_BREAKER = "liquidation_distance"
# criteria that count events: (comparison, shown as integers)
_COUNTS = {
    "trades": ">=",
    "liquidations": "<=",
    "liq_flatten": "<=",
    "funding_booked": ">=",
    "spot_runs": "<=",
    "futures_runs": "<=",
    "audit_pruned": "<=",
}
MAX_OTHER_MARKET_RUNS = 0


@dataclass(frozen=True)
class Criterion:
    name: str
    value: float | None
    limit: float
    passed: bool

    def describe(self) -> str:
        if self.name in _COUNTS:
            v = "-" if self.value is None else f"{self.value:.0f}"
            lim = f"{_COUNTS[self.name]} {self.limit:.0f}"
        elif self.name == "profit_factor":
            v = (
                "-"
                if self.value is None
                else ("inf" if math.isinf(self.value) else f"{self.value:.2f}")
            )
            lim = f">= {self.limit:.2f}"
        else:
            v = "-" if self.value is None else f"{self.value:.1%}"
            lim = ("<= " if self.name == "max_drawdown" else ">= ") + f"{self.limit:.0%}"
        return f"{self.name:<14}{v:>9}  {lim:<8} {'PASS' if self.passed else 'FAIL'}"


@dataclass(frozen=True)
class FuturesFacts:
    """What a futures run must show beyond spot's criteria (see the module docstring)."""

    liquidations: int = 0
    flatten_trips: int = 0  # the liquidation-distance breaker at its flatten level
    reduces: int = 0  # ... at its reduce level (reported only)
    funding_payments: int = 0
    funding_total: float = 0.0  # received > 0, paid < 0 (USDT)
    funding_unreadable: int = 0  # funding entries without a finite amount
    spot_runs: int = 0  # daemon starts that ran this bot on spot (`market_runs`)
    audit_pruned: int = 0  # 1: the audit log's beginning was cut (pruned or restarted)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BotReport:
    bot: str
    criteria: list[Criterion]
    sharpe: float | None
    market: str = "spot"  # spot or futures: which criteria were applied
    futures: FuturesFacts | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bot": self.bot,
            "passed": self.passed,
            "sharpe": self.sharpe,
            "criteria": [asdict(c) for c in self.criteria],
            "market": self.market,
            "futures": None if self.futures is None else self.futures.as_dict(),
        }


def evaluate(pnls: list[float], equity: list[float]) -> BotReport:
    """Pure: trade P&Ls (round trips) and an equity curve -> the criteria."""
    n = len(pnls)
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if p <= 0]
    win_rate = len(wins) / n if n else None
    gross_loss = sum(losses)
    pf = sum(wins) / gross_loss if gross_loss > 0 else (math.inf if wins else None)
    peak, mdd = 0.0, 0.0
    for e in equity:
        peak = max(peak, e)
        if peak > 0:
            mdd = max(mdd, (peak - e) / peak)
    rets = [b / a - 1 for a, b in zip(equity, equity[1:], strict=False) if a > 0]
    sharpe = None
    if len(rets) > 1:
        mean = sum(rets) / len(rets)
        sd = math.sqrt(sum((r - mean) ** 2 for r in rets) / (len(rets) - 1))
        sharpe = mean / sd * math.sqrt(HOURS_PER_YEAR) if sd > 0 else None
    crit = [
        Criterion("trades", float(n), MIN_TRADES, n >= MIN_TRADES),
        Criterion(
            "win_rate", win_rate, MIN_WIN_RATE, win_rate is not None and win_rate >= MIN_WIN_RATE
        ),
        Criterion(
            "profit_factor", pf, MIN_PROFIT_FACTOR, pf is not None and pf >= MIN_PROFIT_FACTOR
        ),
        Criterion(
            "max_drawdown",
            mdd if equity else None,
            MAX_DRAWDOWN,
            bool(equity) and mdd <= MAX_DRAWDOWN,
        ),
    ]
    return BotReport("", crit, sharpe)


def futures_criteria(facts: FuturesFacts) -> list[Criterion]:
    """Pure: the futures facts -> the criteria a futures run adds."""
    funding_ok = facts.funding_payments >= MIN_FUNDING_BOOKED and not facts.funding_unreadable
    return [
        Criterion(
            "liquidations",
            float(facts.liquidations),
            MAX_LIQUIDATIONS,
            facts.liquidations <= MAX_LIQUIDATIONS,
        ),
        Criterion(
            "liq_flatten",
            float(facts.flatten_trips),
            MAX_LIQ_FLATTEN,
            facts.flatten_trips <= MAX_LIQ_FLATTEN,
        ),
        Criterion("funding_booked", float(facts.funding_payments), MIN_FUNDING_BOOKED, funding_ok),
        Criterion(
            "spot_runs",
            float(facts.spot_runs),
            MAX_OTHER_MARKET_RUNS,
            facts.spot_runs <= MAX_OTHER_MARKET_RUNS,
        ),
        Criterion("audit_pruned", float(facts.audit_pruned), 0, facts.audit_pruned == 0),
    ]


def evaluate_futures(pnls: list[float], equity: list[float], facts: FuturesFacts) -> BotReport:
    """Pure: spot's criteria plus `futures_criteria`."""
    base = evaluate(pnls, equity)
    return BotReport("", [*base.criteria, *futures_criteria(facts)], base.sharpe, "futures", facts)


def audit_entries(directory: Path) -> Iterator[dict[str, Any]]:
    """Every entry of the audit log files in `directory`, oldest first (the caller
    verifies the chain; an unreadable line is skipped here, and `verify` reports it)."""
    for path in sorted(directory.glob("audit-*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and isinstance(entry.get("data"), dict):
                    yield entry


def _runs_bot(entry: dict[str, Any], bot: str) -> str | None:
    """The market a ``daemon_started`` entry ran `bot` on ("spot"/"futures"), else None."""
    if entry.get("event") != "daemon_started":
        return None
    config = entry["data"].get("config")
    if not isinstance(config, dict):
        return "spot"  # a start without its config: not shown to be futures (fail closed)
    bots = config.get("bots")
    if isinstance(bots, list) and not any(
        isinstance(b, str) and b.split(":", 1)[0] == bot for b in bots
    ):
        return None
    # a start from before futures existed has no futures_enabled: spot
    return "futures" if config.get("futures_enabled") is True else "spot"


def market_runs(audit_dir: Path, bot: str) -> dict[str, int]:
    """How many daemon starts in the audit log ran `bot` on each market."""
    runs = {"spot": 0, "futures": 0}
    for entry in audit_entries(audit_dir):
        market = _runs_bot(entry, bot)
        if market is not None:
            runs[market] += 1
    return runs


def futures_facts(store: Store, audit_dir: Path, bot: str) -> FuturesFacts:
    """`bot`'s `FuturesFacts` from the audit log in `audit_dir` and the breaker table."""
    liquidations = flattens = reduces = payments = unreadable = 0
    total = 0.0
    spot_runs = 0
    for entry in audit_entries(audit_dir):
        data = entry["data"]
        if _runs_bot(entry, bot) == "spot":
            spot_runs += 1
        if data.get("bot") != bot:
            continue
        event = entry.get("event")
        if event == "futures_liquidation":
            liquidations += 1
        elif event == "futures_reduce":
            reduces += 1
        elif event == "breaker_tripped" and data.get("breaker") == LIQ_BREAKER:
            flattens += 1
        elif event == "futures_funding":
            amount = data.get("amount")
            if (
                isinstance(amount, int | float)
                and not isinstance(amount, bool)
                and math.isfinite(amount)
            ):
                payments += 1
                total += float(amount)
            else:
                unreadable += 1
    if not flattens and store.query(
        "SELECT 1 FROM breakers WHERE breaker=? AND bot=? LIMIT 1", (LIQ_BREAKER, bot)
    ):
        flattens = 1  # tripped (and perhaps reset since) with no audit entry left to count
    pruned = int((audit_dir / ANCHOR).exists())  # the chain starts after a cut
    return FuturesFacts(
        liquidations, flattens, reduces, payments, total, unreadable, spot_runs, pruned
    )


def report(store: Store, bots: list[str], audit_dir: Path | None = None) -> list[BotReport]:
    """The spot criteria per bot; with `audit_dir` (the CLI's paper-report and promote) also
    ``futures_runs`` = 0: no futures run of the bot is in its trades (module docstring)."""
    out = []
    for bot in bots:
        r = evaluate(
            [row["pnl"] for row in store.trades(bot)], [e for _, e in store.equity_curve(bot)]
        )
        criteria = list(r.criteria)
        if audit_dir is not None:
            n = market_runs(audit_dir, bot)["futures"]
            criteria.append(
                Criterion(
                    "futures_runs", float(n), MAX_OTHER_MARKET_RUNS, n <= MAX_OTHER_MARKET_RUNS
                )
            )
        out.append(BotReport(bot, criteria, r.sharpe))
    return out


def futures_report(store: Store, audit_dir: Path, bots: list[str]) -> list[BotReport]:
    """`report` with the futures criteria (the audit chain in `audit_dir` verified first by
    the caller)."""
    out = []
    for bot in bots:
        r = evaluate_futures(
            [row["pnl"] for row in store.trades(bot)],
            [e for _, e in store.equity_curve(bot)],
            futures_facts(store, audit_dir, bot),
        )
        out.append(BotReport(bot, r.criteria, r.sharpe, r.market, r.futures))
    return out


def render(reports: list[BotReport]) -> str:
    futures = any(r.market == "futures" for r in reports)
    title = "seed criteria + futures criteria" if futures else "seed criteria"
    lines = [f"Paper-to-live report ({title}):"]
    for r in reports:
        sharpe = "-" if r.sharpe is None else f"{r.sharpe:.2f}"
        lines.append(f"  {r.bot}: {'PASS' if r.passed else 'FAIL'} (Sharpe {sharpe})")
        lines.extend(f"    {c.describe()}" for c in r.criteria)
        if r.futures is not None:
            lines.append(
                f"    futures: {r.futures.reduces} liquidation-distance reduce(s),"
                f" funding {r.futures.funding_total:+.4f} USDT over"
                f" {r.futures.funding_payments} payment(s)"
            )
    return "\n".join(lines)
