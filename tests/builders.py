"""The one place tests build the daemon's parts: settings, stores, risk engines, order gates,
traders and the paper world they make together, plus a recording notifier.

Every builder takes keyword overrides and builds the real classes (no mocks of our own
code); a test that needs something else passes it in (e.g. its own `broker=`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
from cryptography.fernet import Fernet

from tradewarden.alerts.dispatcher import Dispatcher
from tradewarden.alerts.factory import SLACK_BOT_TOKEN, build_dispatcher
from tradewarden.audit.chain import AuditLog
from tradewarden.core.config import Settings, load_settings
from tradewarden.core.models import Tick
from tradewarden.risk.engine import RiskEngine
from tradewarden.runtime.daemon import Daemon
from tradewarden.scenarios.generate import write
from tradewarden.secrets.factory import build_source
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store
from tradewarden.strategy.ma_cross import MaCross
from tradewarden.trading.bot_ledger import Ledger
from tradewarden.trading.order_gate import OrderGate
from tradewarden.trading.paper_broker import PaperBroker
from tradewarden.trading.trader import Bot, Trader
from tradewarden.wallet.approvals import ApprovalQueue, Approvers

log = logging.getLogger("tradewarden.alerts")

T0 = 1_767_571_200.0  # 2026-01-05 00:00 UTC
TWO_BOTS = "b1:BTCUSDT:ma_cross,b2:ETHUSDT:ma_cross"
PRICES: Mapping[str, float] = {"BTCUSDT": 50_000.0, "ETHUSDT": 2_500.0}


class LogNotifier:
    """The daemon's `Notifier` that keeps what it was told (`sent`) and logs each alert."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def notify(self, kind: str, **context: Any) -> None:
        self.sent.append((kind, context))
        log.warning("alert", extra={"alert": kind, "context": context})


def make_settings(state_dir: Path, **over: Any) -> Settings:
    """`load_settings` on `state_dir` (env and defaults apply; `over` wins)."""
    return load_settings(state_dir=state_dir, **over)


def paper_daemon(
    state_dir: Path, *, notifier: Any = None, **over: Any
) -> tuple[Daemon, LogNotifier]:
    """A paper `Daemon` in process on a fresh `state_dir` (`Settings` as given, metrics on no
    port, the environment and defaults for the rest) and the notifier it alerts through (a
    new `LogNotifier` unless `notifier` is given; the second value is then that one)."""
    s = Settings(state_dir=state_dir, **{"metrics_port": 0, **over})
    s.state_dir.mkdir(parents=True)
    n = notifier if notifier is not None else LogNotifier()
    return Daemon(s, notifier=n), n


def bot_names(s: Settings) -> list[str]:
    return [name for name, _symbol, _strategy in s.bot_specs()]


def make_risk(s: Settings, store: Store) -> RiskEngine:
    """The risk engine for every bot `s` declares, on `store`."""
    return RiskEngine(s, store, bot_names(s))


@dataclass
class PaperWorld:
    """Settings, store, audit log, risk engine, paper broker, order gate, ledger and trader
    wired as the daemon wires them in paper mode (without the daemon's loops)."""

    settings: Settings
    store: Store
    audit: AuditLog
    risk: RiskEngine
    broker: PaperBroker
    gate: OrderGate
    ledger: Ledger
    trader: Trader
    notifier: LogNotifier
    closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.audit.close()
            self.store.close()


def paper_world(
    state_dir: Path,
    *,
    broker: PaperBroker | None = None,
    balance: float = 10_000.0,
    prices: Mapping[str, float] | None = None,
    ts: float = T0,
    order_fraction: float = 0.1,
    flatten_on_emergency: bool | None = None,
    close_positions_on_trip: bool | None = None,
    **settings_over: Any,
) -> PaperWorld:
    """A paper world on `state_dir`: one `MaCross` bot per declared bot, `balance` USDT on the
    broker and in the ledger. With `prices`, the broker and trader are priced at `ts` and the
    risk engine's balances refreshed. The trader's flatten/close flags default to the
    settings'."""
    s = make_settings(state_dir, **settings_over)
    store = Store(s.db_path)
    audit = AuditLog(s.audit_dir)
    risk = make_risk(s, store)
    broker = broker if broker is not None else PaperBroker({"USDT": balance})
    gate = OrderGate(risk, broker, store, audit)
    specs = s.bot_specs()
    ledger = Ledger([(name, symbol) for name, symbol, _ in specs], balance)
    notifier = LogNotifier()
    trader = Trader(
        risk=risk,
        gate=gate,
        broker=broker,
        store=store,
        audit=audit,
        ledger=ledger,
        bots=[Bot(name, symbol, MaCross()) for name, symbol, _ in specs],
        notifier=notifier,
        order_fraction=order_fraction,
        flatten_on_emergency=(
            s.flatten_on_emergency if flatten_on_emergency is None else flatten_on_emergency
        ),
        close_positions_on_trip=(
            s.close_positions_on_trip
            if close_positions_on_trip is None
            else close_positions_on_trip
        ),
    )
    if prices is not None:
        for sym, px in prices.items():
            broker.on_tick(Tick(ts, sym, px, px, px, px, 1.0))
            trader.prices[sym] = px
        trader.refresh_balances()
    return PaperWorld(s, store, audit, risk, broker, gate, ledger, trader, notifier)


# --- scenarios and alert channels ---------------------------------------------------------------
def flat_prices(path: Path, hours: int, *, start: float = T0) -> Path:
    """A scenario CSV at `path`: flat BTCUSDT/ETHUSDT candles every minute for `hours` hours
    from `start`: no crossing, so no bot ever trades."""
    rows = [
        (int(start) + 60 * m, sym, px, px, px, px, 10.0)
        for m in range(hours * 60)
        for sym, px in (("BTCUSDT", 42_000.0), ("ETHUSDT", 2_300.0))
    ]
    write(path, rows)
    return path


def alert_env(slack: Any, smtp: Any, token: str | None = None) -> dict[str, str]:
    """The environment that points a daemon process's alerts at the fake Slack (`token`:
    its bot token, if any) and the fake SMTP server (plain, to oncall@example.org)."""
    env = {"TRADEWARDEN_SLACK_TOKEN": token} if token is not None else {}
    return {
        **env,
        "TRADEWARDEN_SLACK_BASE_URL": slack.api_url,
        "TRADEWARDEN_SMTP_HOST": smtp.host,
        "TRADEWARDEN_SMTP_PORT": str(smtp.port),
        "TRADEWARDEN_SMTP_TLS": "none",
        "TRADEWARDEN_EMAIL_TO": "oncall@example.org",
    }


def alert_settings(state_dir: Path, slack: Any, smtp: Any, **over: Any) -> Settings:
    """`Settings` (metrics on no port) on a fresh `state_dir` whose alerts go to the fake
    Slack and the fake SMTP server, as `alert_env` does for a process."""
    s = Settings(
        state_dir=state_dir,
        metrics_port=0,
        slack_base_url=slack.api_url,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_tls="none",
        email_to=("oncall@example.org",),
        **over,
    )
    s.state_dir.mkdir(parents=True)
    return s


def dispatching_daemon(s: Settings, slack_token: str) -> tuple[Daemon, Dispatcher]:
    """A paper `Daemon` in process whose notifier is the real alert dispatcher (Slack bot
    token `slack_token`, no console channel)."""
    dispatcher = build_dispatcher(
        s, {SLACK_BOT_TOKEN: Secret(slack_token)}, s.db_path, console=False
    )
    return Daemon(s, notifier=dispatcher), dispatcher


# --- the human approval desk ----------------------------------------------------------------
APPROVAL_T0 = 1_800_000_000.0


class StepClock:
    """A clock that moves only when told, in TOTP steps of 30 s."""

    def __init__(self, t: float = APPROVAL_T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def step(self, n: int = 1) -> None:
        self.t += 30 * n


class ApprovalDesk:
    """The approval queue and approvers on a real store, audit log and Fernet credential
    file (the approvers' seeds), on a `StepClock`; `enrol` adds a confirmed approver and
    `code` gives a name's (or a seed's) current TOTP code."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = StepClock()
        self.settings = load_settings(
            state_dir=tmp_path,
            two_approvers_usd=10_000.0,
            proposal_ttl_hours=1.0,
            secret_source="file",
            credential_file=tmp_path / "creds.enc",
            credential_key=Fernet.generate_key().decode(),
        )
        self.store = Store(self.settings.db_path)
        self.audit = AuditLog(self.settings.audit_dir)
        self.source = build_source(self.settings)
        self.approvers = Approvers(
            self.settings, self.store, self.source, self.audit, clock=self.clock
        )
        self.q = ApprovalQueue(
            self.settings, self.store, self.audit, self.approvers, clock=self.clock
        )
        self.seeds: dict[str, str] = {}

    def enrol(self, name: str, voucher: str | None = None) -> str:
        if voucher is None and len(self.seeds) >= 2:  # past the bootstrap: someone vouches
            voucher = next(iter(self.seeds))
        vouch = self.code(voucher) if voucher else None
        e = self.approvers.add(name, "root@host uid=0", voucher_code=vouch)
        seed = pyotp.parse_uri(e.uri).secret
        self.approvers.confirm(name, self.code(seed), "root@host uid=0")
        self.clock.step()  # the confirmation code is spent
        self.seeds[name] = seed
        return seed

    def code(self, seed_or_name: str, offset_steps: int = 0) -> str:
        seed = self.seeds.get(seed_or_name, seed_or_name)
        return pyotp.TOTP(seed).at(self.clock() + 30 * offset_steps)

    def close(self) -> None:
        self.audit.close()
        self.store.close()
