"""The catalogue alerts the running daemon raises on its own (issue 17), besides those of
the order path (breakers, reconciliation, key permissions):

- ``bot_started`` / ``bot_stopped`` (info): one per bot once the daemon is READY, and when
  it stops (with why). A halt or a reset is not a start or stop: halts have their own
  critical alerts, and a reset sends their RESOLVED messages.
- ``daily_summary`` (info): at ``TRADEWARDEN_DAILY_SUMMARY_UTC`` (`DailySummary`).
- ``audit_chain_broken`` (critical): the chain verified every
  ``TRADEWARDEN_AUDIT_VERIFY_SECONDS`` (`AuditWatch`); a break halts trading.
- ``secret_age`` (warning at 80 days, critical at 90): from the secret ages the daemon
  reads for its gauge (`alert_secret_ages`).
- ``rebalance_executed`` (info): an approved rebalance recorded as done
  (``tradewarden wallet declare-cold --proposal ID``) (`announce_executed_rebalances`).

Each is a ``notifier.notify(kind, ...)``: the outbox persists it and retries delivery.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from tradewarden.alerts.catalogue import COUNT_BREAKERS
from tradewarden.audit.chain import AuditError, AuditLog, VerifyResult, recorded_head
from tradewarden.core.config import Mode, Settings
from tradewarden.core.models import Order
from tradewarden.risk.breakers.base import PORTFOLIO
from tradewarden.risk.engine import RiskEngine
from tradewarden.risk.state import TradingState
from tradewarden.secrets.age import CRITICAL_DAYS, DAY, WARN_DAYS
from tradewarden.state.keys import StateKey
from tradewarden.state.store import Store
from tradewarden.trading.bot_ledger import Ledger
from tradewarden.trading.order_gate import OrderGate
from tradewarden.trading.trader import Bot, Notifier, Trader
from tradewarden.wallet.approvals import ApprovalQueue
from tradewarden.wallet.ledger import view as wallet_view

log = logging.getLogger(__name__)


class Decision(Protocol):
    @property
    def mode(self) -> Mode: ...

    @property
    def blockers(self) -> list[str]: ...


class RunningDaemon(Protocol):
    """What these alerts read of the running daemon (`tradewarden.runtime.daemon.Daemon`,
    which imports this module)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def decision(self) -> Decision: ...

    @property
    def store(self) -> Store: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def notifier(self) -> Notifier: ...

    @property
    def risk(self) -> RiskEngine: ...

    @property
    def bots(self) -> list[Bot]: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def gate(self) -> OrderGate: ...

    @property
    def trader(self) -> Trader: ...

    @property
    def approvals(self) -> ApprovalQueue: ...

    @property
    def stopping(self) -> threading.Event: ...

    def write_snapshot(self, final: bool = False) -> None: ...

    def security_halt(
        self, reason: str, actor: str, record: dict[str, Any], *, reducing: bool = False
    ) -> list[Order]: ...


def breaker_scopes(risk: Any, bots: list[str]) -> list[tuple[str, str, float]]:
    """Every (breaker, bot label, threshold) the risk engine watches: a portfolio breaker
    once ("portfolio"), a bot breaker once per bot."""
    return [
        (b.name, bot, b.threshold)
        for b in risk.breakers
        for bot in ([PORTFOLIO] if b.portfolio_scope or b.emergency else bots)
    ]


# --- bot started / stopped --------------------------------------------------------------------
def bots_started(d: RunningDaemon) -> None:
    for bot in d.bots:
        d.notifier.notify(
            "bot_started",
            bot=bot.name,
            mode=d.decision.mode.value,
            why_not_live=list(d.decision.blockers),
        )


def bots_stopped(d: RunningDaemon, reason: str) -> None:
    for bot in d.bots:
        d.notifier.notify("bot_stopped", bot=bot.name, reason=reason)


# --- daily summary ------------------------------------------------------------------------------
SUMMARY_KEY = StateKey.DAILY_SUMMARY_LAST_DUE  # epoch seconds of the last one sent
LATE_AFTER_S = 300.0  # sent this long after its time: it says it is late, and why


def seconds_of_day(hhmm: str) -> int:
    parts = [int(x) for x in hhmm.split(":")]
    return parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) > 2 else 0)


def last_due(now: float, at_s: int) -> float:
    """The latest scheduled time (today's or yesterday's `at_s` seconds after 00:00 UTC)
    not after `now`."""
    due = math.floor(now / DAY) * DAY + at_s
    return due if due <= now else due - DAY


def _utc(ts: float, fmt: str) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime(fmt)


class DailySummary:
    """Sends the daily summary once per scheduled time, from the daemon's housekeeping.

    The last scheduled time sent is persisted (`SUMMARY_KEY`), so a restart does not send it
    twice. Down at the scheduled time: the missed summary (the latest one only, not one per
    missed day) is sent at the next start, marked late. A last time sent that lies in the
    future (the clock was ahead and corrected) is reset to the latest scheduled time, so
    the next one is sent. The very first start of a state
    directory sends none: it records the latest scheduled time and begins with the next."""

    def __init__(self, daemon: RunningDaemon, clock: Callable[[], float] = time.time) -> None:
        self.d = daemon
        self.clock = clock
        self.at = seconds_of_day(daemon.settings.daily_summary_utc)
        last = daemon.store.get(SUMMARY_KEY)
        if last is None:
            last = last_due(clock(), self.at)
            daemon.store.put(SUMMARY_KEY, last)
        self.last = float(last)

    def __call__(self) -> None:
        now = self.clock()
        due = last_due(now, self.at)
        if self.last > now:
            # the last one was sent while the clock was ahead (a bad NTP source, a wrong
            # RTC): that future time would silence every summary until the clock gets
            # there again. Start again from the latest scheduled time of the clock as is.
            log.warning(
                "daily summary schedule was ahead of the clock: reset",
                extra={"was": _utc(self.last, "%Y-%m-%d %H:%M"), "now": _utc(now, "%H:%M")},
            )
            self.d.store.put(SUMMARY_KEY, due)
            self.last = due
        if due <= self.last:
            return
        late = ""
        if now - due > LATE_AFTER_S:
            late = f"the daemon was not running at {_utc(due, '%Y-%m-%d %H:%M')} UTC"
        self.d.notifier.notify("daily_summary", **self.summary(due - DAY, due), late=late)
        self.d.store.put(SUMMARY_KEY, due)  # after the outbox has it: never lost
        self.last = due

    def summary(self, start: float, end: float) -> dict[str, Any]:
        d = self.d
        rows = d.store.query("SELECT pnl FROM trades WHERE ts >= ? AND ts < ?", (start, end))
        pnls = [float(r["pnl"]) for r in rows]
        wins = sum(p > 0 for p in pnls)
        breakers: dict[str, str] = {}
        headroom: dict[str, float] = {}
        read = {(r.breaker, r.bot): r.value for r in d.risk.readings()}
        for breaker, bot, threshold in breaker_scopes(d.risk, [b.name for b in d.bots]):
            name = breaker if bot == PORTFOLIO else f"{breaker} ({bot})"
            value = float(read.get((breaker, bot), 0.0))
            if breaker in COUNT_BREAKERS:
                breakers[name] = f"{value:g} of {threshold:g}"
            else:
                breakers[name] = f"{value:.2%} of {threshold:.0%}"
            headroom[name] = max(0.0, 1.0 - value / threshold) if threshold else 1.0
        w = wallet_view(d.store, d.ledger.portfolio_equity(), d.settings.hot_wallet_percentage)
        return {
            "date": _utc(end - 1, "%Y-%m-%d"),
            "period": f"{_utc(start, '%Y-%m-%d %H:%M')} to {_utc(end, '%Y-%m-%d %H:%M')}",
            "pnl_usd": round(sum(pnls), 2),
            "trades": len(pnls),
            "win_rate": round(wins / len(pnls), 4) if pnls else None,
            "breaker_headroom": headroom,
            "breakers": breakers,
            "hot_usd": round(w.hot, 2),
            "cold_usd": round(w.cold, 2),
            "state": d.risk.state.label,
        }


# --- audit chain --------------------------------------------------------------------------------
class AuditWatch:
    """Verifies the audit chain every `TRADEWARDEN_AUDIT_VERIFY_SECONDS` against the head
    SQLite recorded and the last head anchored off the host (the start verified it already).

    The verification reads the whole retained chain (90 days of it can take minutes), so it
    runs on a thread of its own and never stalls the trading loop or the systemd watchdog;
    it reads the files as they stood at one instant (`AuditLog.verify_chain`). The main
    loop's housekeeping acts on a break: a security event, sticky HALT, open orders
    cancelled, the critical ``audit_chain_broken`` alert (once per process; a restart
    refuses to start on it). A verification that fails (a file that cannot be read, the
    state database failing) is an `AuditError` on the main loop, i.e. a system critical
    error (critical.py: emergency stop): a chain nobody can vouch for is not traded on.
    Only while the daemon stops is a failed check just logged."""

    def __init__(
        self, daemon: RunningDaemon, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.d = daemon
        self.interval = interval
        self.clock = clock
        self._next = clock() + interval
        self._thread: threading.Thread | None = None
        self._result: VerifyResult | None = None
        self._error: Exception | None = None
        self.broken: VerifyResult | None = None
        self.checks = 0

    def __call__(self) -> None:
        if self.broken is not None:
            return
        error, self._error = self._error, None
        if error is not None and not self.d.stopping.is_set():
            raise AuditError(
                f"audit chain could not be verified: {type(error).__name__}: {error}"
            ) from error
        result, self._result = self._result, None
        if result is not None and not result.ok:
            self.broken = result
            self.act(result)
            return
        running = self._thread is not None and self._thread.is_alive()
        if running or self.clock() < self._next:
            return
        self._next = self.clock() + self.interval
        self._thread = threading.Thread(target=self._check, name="audit-verify", daemon=True)
        self._thread.start()

    def _check(self) -> None:
        try:
            result = self.verify()
        except Exception as exc:  # noqa: BLE001 - judged on the main loop
            if self.d.stopping.is_set():  # e.g. the store closed at stop: no emergency
                log.warning("audit chain not verified", extra={"error": str(exc)})
                return
            # a chain that cannot be read cannot be vouched for: fail closed (unknown
            # state, no new orders) on the main loop, where the runner's emergency stop is
            self._error = exc
            return
        self.checks += 1
        if result.ok:
            log.info("audit chain verified", extra={"entries": result.lines})
        self._result = result

    def verify(self) -> VerifyResult:
        refs = []
        head = recorded_head(self.d.store)  # before the files' sizes: never ahead of them
        if head is not None:
            refs.append(head)
        job = getattr(self.d, "anchor_job", None)
        if job is not None and job.last is not None:
            refs.append(job.last.as_head(job.remote.describe()))
        return self.d.audit.verify_chain(refs)

    def act(self, result: VerifyResult) -> None:
        d = self.d
        reason = f"audit chain broken at {result.file} line {result.line}: {result.problem}"
        log.error("audit chain broken", extra={"file": result.file, "line": result.line})
        # no new orders at once, and the page out before anything that writes the audit
        # log: on a tampered tail that write raises (a system critical error: the runner's
        # emergency stop follows) and must not take the security alert with it
        if d.risk.state is not TradingState.HALTED:
            d.risk.halt_in_memory(reason)
        d.notifier.notify(
            "audit_chain_broken",
            path=str(d.audit.dir / result.file),
            line=result.line,
            detail=result.problem,
            state="HALTED",
        )
        d.security_halt(reason, "audit verification", {"audit_chain": result.describe()})
        d.write_snapshot()


# --- secret age ---------------------------------------------------------------------------------
AGE_ALERTED_KEY = StateKey.SECRET_AGE_ALERTED  # {secret id: level}: sent already


def alert_secret_ages(d: RunningDaemon, ages: dict[str, float]) -> None:
    """Warning from `WARN_DAYS`, critical from `CRITICAL_DAYS` (the seed's 90-day rotation,
    the same thresholds as `tradewarden secrets check` and the SecretAge rule). Each level
    is sent once per secret (persisted); a rotated secret (back under `WARN_DAYS`) resolves
    its alerts and is watched afresh."""
    sent: dict[str, str] = dict(d.store.get(AGE_ALERTED_KEY) or {})
    changed = False
    for sid, age_s in sorted(ages.items()):
        days = age_s / DAY
        level = "critical" if days >= CRITICAL_DAYS else "warning" if days >= WARN_DAYS else ""
        before = sent.get(sid, "")
        if level == before or (before == "critical" and level == "warning"):
            continue
        if not level:
            resolve = getattr(d.notifier, "resolve", None)
            for old in ("warning", "critical"):
                if resolve is not None:
                    resolve(f"secret-age:{sid}:{old}", "rotated")
            del sent[sid]
        else:
            d.notifier.notify(
                "secret_age",
                secret=sid,
                age_days=days,
                critical=level == "critical",
                warn_days=WARN_DAYS,
                critical_days=CRITICAL_DAYS,
            )
            sent[sid] = level
        changed = True
    if changed:
        d.store.put(AGE_ALERTED_KEY, sent)


# --- rebalance executed -------------------------------------------------------------------------
EXECUTED_SEEN_KEY = StateKey.REBALANCE_EXECUTED_ANNOUNCED  # highest id announced


def announce_executed_rebalances(d: RunningDaemon) -> None:
    """An approved rebalance recorded as done by a human (`ApprovalQueue.mark_executed`)
    gets its info alert, once (the highest announced id is persisted)."""
    seen = int(d.store.get(EXECUTED_SEEN_KEY) or 0)
    done = d.approvals.executed("rebalance", after=seen)
    if not done:
        return
    w = wallet_view(d.store, d.ledger.portfolio_equity(), d.settings.hot_wallet_percentage)
    for p in done:
        d.notifier.notify(
            "rebalance_executed",
            direction=str(p.payload.get("direction", "?")),
            amount_usd=round(p.amount_usd, 2),
            hot_before_usd=p.payload.get("hot"),
            hot_after_usd=round(w.hot, 2),
            approved_by=[a["approver"] for a in p.approvals],
        )
        d.store.put(EXECUTED_SEEN_KEY, p.id)
