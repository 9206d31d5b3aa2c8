"""Typed settings from the environment and an optional TOML file.

Every setting is named by its environment variable (the seed's names where the seeds name
one, ``TRADEWARDEN_*`` otherwise). A TOML file (``--config`` or ``TRADEWARDEN_CONFIG``) uses
the same names as keys; the environment wins over the file. Any bad value raises
:class:`ConfigError` naming the variable; the CLI turns it into exit code 2 before anything
starts.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # daemon/tradewarden
DEFAULT_SCENARIO = PACKAGE_DIR / "scenarios" / "default.csv"

Fraction = Annotated[float, Field(gt=0, le=1)]
PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
StrList = Annotated[tuple[str, ...], NoDecode]
ZoneList = Annotated[tuple[int, ...], NoDecode]


class ConfigError(Exception):
    """A setting is missing or invalid. The message names the variable, never a secret."""


class Mode(StrEnum):
    PAPER = "paper"
    TESTNET = "testnet"
    LIVE = "live"


class Profile(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class TripScope(StrEnum):
    ALL = "all"
    BOT = "bot"


class Streams(StrEnum):
    ON = "on"
    OFF = "off"


class KlineInterval(StrEnum):
    S1 = "1s"
    M1 = "1m"


class SecretSource(StrEnum):
    ENV = "env"
    FILE = "file"
    AWS = "aws"


# Safety limits in the profiles that may trade live (staging, prod): each breaker stays
# within a band around the seed default (PETS guidelines: never disable breakers in
# production, 10-20% hot), so a typo or a "temporary" 1.0 cannot switch one off.
# field -> (low, high), inclusive. The dev profile keeps only the field's own range.
LIVE_PROFILE_BOUNDS: dict[str, tuple[float, float]] = {
    "max_consecutive_losses": (1, 5),  # seed 3
    "max_daily_loss_pct": (0.01, 0.08),  # seed 0.05
    "max_bot_drawdown_pct": (0.05, 0.30),  # seed 0.25
    "max_portfolio_drawdown_pct": (0.10, 0.40),  # seed 0.40: tighter only
    "hot_wallet_percentage": (0.10, 0.20),  # seed 0.15; never more than 20% hot
    # alert thresholds (issue 17): a "never" value cannot switch the warning off
    "large_position_pct": (0.01, 0.20),  # seed 0.20: tighter only
    "unusual_window_seconds": (10, 3600),  # default 60
    "unusual_failed_orders": (1, 50),  # default 5
    "unusual_rejected_orders": (1, 50),  # default 5
    "large_position_usd": (1, 1_000),  # seed $1,000: tighter only
    "low_balance_usd": (100, 100_000),  # default 1,000
    # the daemon's own checks: a "never" interval cannot switch them off
    "audit_verify_seconds": (60, 86_400),  # default 3600: at least daily
    "clock_check_seconds": (10, 600),  # default 120
    # a repeat of an alert is swallowed this long: a longer window loses the next storm,
    # fall or position of alerts whose key is never resolved
    "alert_dedup_seconds": (0, 3600),  # default 300
    # USD-M futures (issue 20; the seeds give no numbers): leverage at most 5x, and the
    # liquidation-distance breaker cannot be narrowed to nothing
    "futures_max_leverage": (1, 5),  # default 3
    "liq_distance_reduce_pct": (0.20, 0.60),  # default 0.30
    "liq_distance_flatten_pct": (0.10, 0.40),  # default 0.15
}
LIVE_PROFILE_BLOCKED_ZONES = (4, 5)  # must stay blocked in staging and prod
# A bot may not be called like the portfolio: the daily-loss and portfolio-drawdown breakers
# read the equity observed under that name, and a reset --bot of it would clear them.
RESERVED_BOT_NAMES = frozenset({"portfolio"})


def _env(name: str, default: Any, **kw: Any) -> Any:
    return Field(default, validation_alias=AliasChoices(name), **kw)


def _default_state_dir() -> Path:
    # systemd's StateDirectory= sets STATE_DIRECTORY; otherwise a local ./var/state.
    return Path(os.environ.get("STATE_DIRECTORY", "var/state"))


class Settings(BaseSettings):
    """All daemon settings. Field docs are the README's config table."""

    model_config = SettingsConfigDict(
        extra="forbid",
        case_sensitive=False,
        frozen=True,
        populate_by_name=True,
        allow_inf_nan=False,  # an infinite limit is a limit switched off
    )

    # --- mode and live-trading gates (seed names) -------------------------------------------
    mode: Mode = _env(
        "TRADEWARDEN_MODE",
        Mode.PAPER,
        description="Requested mode: paper (in-process broker), testnet or live. Live also needs every gate.",
    )
    profile: Profile = _env(
        "TRADEWARDEN_PROFILE",
        Profile.DEV,
        description="Environment: dev, staging or prod (prod refuses testnet and env secrets; dev refuses live; staging/prod bound the safety limits).",
    )
    binance_testnet: bool = _env(
        "BINANCE_TESTNET",
        True,
        description="Use Binance's spot testnet endpoints (seed default: on).",
    )
    final_hammer: bool = _env(
        "FINAL_HAMMER",
        False,
        description="The live switch. Live orders need it on, testnet off and terms accepted.",
    )
    terms_accepted: bool = _env(
        "BINANCE_TERMS_ACCEPTED",
        False,
        description="Set after accepting the Binance Developer Terms; live is blocked until then.",
    )

    # --- circuit breakers (seed defaults) -----------------------------------------------------
    max_consecutive_losses: PositiveInt = _env(
        "MAX_CONSECUTIVE_LOSSES",
        3,
        description="Breaker: trips when one bot closes this many losing round trips in a row; stops every bot (see TRADEWARDEN_TRIP_SCOPE).",
    )
    max_daily_loss_pct: Fraction = _env(
        "MAX_DAILY_LOSS_PCT",
        0.05,
        description="Breaker: halt all trading at this loss from the UTC day-start equity.",
    )
    max_bot_drawdown_pct: Fraction = _env(
        "MAX_BOT_DRAWDOWN_PCT",
        0.25,
        description="Breaker: trips at this drawdown of one bot from its peak equity; stops every bot (see TRADEWARDEN_TRIP_SCOPE).",
    )
    max_portfolio_drawdown_pct: Fraction = _env(
        "MAX_PORTFOLIO_DRAWDOWN_PCT",
        0.40,
        description="Emergency stop: portfolio drawdown from peak; HALTED, all orders cancelled, positions closed (TRADEWARDEN_FLATTEN_ON_EMERGENCY).",
    )
    # what a trip does (PETS guidelines "On Circuit Breaker Trigger"): issue 13, defect 12
    trip_scope: TripScope = _env(
        "TRADEWARDEN_TRIP_SCOPE",
        TripScope.ALL,
        description="What a bot breaker's trip (consecutive losses, bot drawdown) stops: all (every bot, the seed's rule) or bot (only the tripping bot). Daily loss and the emergency stop always stop all.",
    )
    close_positions_on_trip: bool = _env(
        "TRADEWARDEN_CLOSE_POSITIONS_ON_TRIP",
        False,
        description="On every breaker trip also close the open positions of the bots it stopped (market sells).",
    )
    flatten_on_emergency: bool = _env(
        "TRADEWARDEN_FLATTEN_ON_EMERGENCY",
        True,
        description="On the emergency stop close every open position (market sells). (TRADEWARDEN_CLOSE_POSITIONS_ON_TRIP=true closes them on every trip, this one included.)",
    )
    approach_warn_ratio: Fraction = _env(
        "TRADEWARDEN_APPROACH_WARN_RATIO",
        0.8,
        description="Warn when a breaker reaches this fraction of its threshold.",
    )

    # --- funds ------------------------------------------------------------------------------
    hot_wallet_percentage: Fraction = _env(
        "HOT_WALLET_PERCENTAGE",
        0.15,
        description="Target share of funds on the exchange (hot); the rest is cold.",
    )
    transfer_approval_usd: PositiveFloat = _env(
        "TRADEWARDEN_TRANSFER_APPROVAL_USD",
        1_000.0,
        description="Transfers above this need a human approval (seed: $1,000).",
    )
    two_approvers_usd: PositiveFloat = _env(
        "TRADEWARDEN_TWO_APPROVERS_USD",
        10_000.0,
        description="Proposals above this need two different approvers (a value above the seed's $10,000 counts as $10,000).",
    )
    proposal_ttl_hours: PositiveFloat = _env(
        "TRADEWARDEN_PROPOSAL_TTL_HOURS",
        24.0,
        description="Unapproved proposals expire after this many hours.",
    )
    restart_size_factor: Fraction = _env(
        "TRADEWARDEN_RESTART_SIZE_FACTOR",
        0.25,
        description="Gradual restart: order size after a reset/restore/promotion, as a share of normal.",
    )
    ramp_wins: PositiveInt = _env(
        "TRADEWARDEN_RAMP_WINS",
        3,
        description="Gradual restart: profitable round trips before the size doubles (up to normal).",
    )
    starting_balance_usdt: PositiveFloat = _env(
        "TRADEWARDEN_STARTING_BALANCE_USDT",
        10_000.0,
        description="Paper mode: the account's starting USDT, split evenly between bots.",
    )

    # --- pre-trade checks -------------------------------------------------------------------
    max_notional_per_order: PositiveFloat = _env(
        "TRADEWARDEN_MAX_NOTIONAL_PER_ORDER",
        2_000.0,
        description="Pre-trade check: largest order value in quote currency.",
    )
    max_open_orders: PositiveInt = _env(
        "TRADEWARDEN_MAX_OPEN_ORDERS", 10, description="Pre-trade check: most orders open at once."
    )
    max_orders_per_minute: PositiveInt = _env(
        "TRADEWARDEN_MAX_ORDERS_PER_MINUTE",
        30,
        description="Pre-trade check: most orders submitted in any 60 s window.",
    )
    symbols: StrList = _env(
        "TRADEWARDEN_SYMBOLS",
        ("BTCUSDT", "ETHUSDT"),
        description="Symbol allow-list (comma-separated).",
    )
    blocked_zones: ZoneList = _env(
        "TRADEWARDEN_BLOCKED_ZONES",
        (4, 5),
        description="Volatility zones (Z1..Z5) in which directional entries are refused.",
    )
    bots: StrList = _env(
        "TRADEWARDEN_BOTS",
        ("trend-btc:BTCUSDT:ma_cross", "trend-eth:ETHUSDT:ma_cross"),
        description="name:SYMBOL:strategy, comma-separated",
    )
    order_fraction: Fraction = _env(
        "TRADEWARDEN_ORDER_FRACTION",
        0.10,
        description="Share of a bot's equity put into one entry.",
    )

    # --- USD-M futures (issue 20) ----------------------------------------------------------
    futures_enabled: bool = _env(
        "TRADEWARDEN_FUTURES_ENABLED",
        False,
        description="Trade USD-M futures (one-way, isolated margin): every bot is a futures bot and may go short. Paper, testnet and live (the /fapi gateway: fapi.binance.com for api.binance.com, testnet.binancefuture.com for the spot testnet; each symbol set to isolated margin at TRADEWARDEN_FUTURES_LEVERAGE at start). Live futures need the whole live gate plus a trade key with enableFutures true whose futures account may trade, and a futures promotion of every bot.",
    )
    futures_max_leverage: Annotated[int, Field(ge=1, le=125)] = _env(
        "TRADEWARDEN_FUTURES_MAX_LEVERAGE",
        3,
        description="Futures: most leverage per bot (its position notional over its equity, checked before every order; staging/prod: at most 5).",
    )
    futures_leverage: Annotated[int, Field(ge=1, le=125)] = _env(
        "TRADEWARDEN_FUTURES_LEVERAGE",
        2,
        description="Futures: the isolated-margin leverage a position is opened with (margin = notional / leverage); at most TRADEWARDEN_FUTURES_MAX_LEVERAGE.",
    )
    liq_distance_reduce_pct: Fraction = _env(
        "TRADEWARDEN_LIQ_DISTANCE_REDUCE_PCT",
        0.30,
        description="Futures breaker: mark price within this fraction (of the mark) of the liquidation price -> REDUCING (reduceOnly orders only) and the position halved.",
    )
    liq_distance_flatten_pct: Fraction = _env(
        "TRADEWARDEN_LIQ_DISTANCE_FLATTEN_PCT",
        0.15,
        description="Futures breaker: mark price within this fraction (of the mark) of the liquidation price -> emergency flatten (HALTED, reduceOnly MARKET close); below TRADEWARDEN_LIQ_DISTANCE_REDUCE_PCT.",
    )
    paper_funding_rate: Annotated[float, Field(ge=-0.03, le=0.03)] = _env(
        "TRADEWARDEN_PAPER_FUNDING_RATE",
        0.0001,
        description="Paper futures: funding rate every 8 h of scenario time (a long pays qty*mark*rate when positive, a short receives it).",
    )

    # --- files ------------------------------------------------------------------------------
    state_dir: Path = Field(
        default_factory=_default_state_dir,
        validation_alias=AliasChoices("TRADEWARDEN_STATE_DIR"),
        description="State directory: SQLite, audit log, alert outbox ($STATE_DIRECTORY under systemd).",
    )
    replay_speed: Annotated[float, Field(ge=0)] = _env(
        "TRADEWARDEN_REPLAY_SPEED",
        0.0,
        description="Paper replay pace in market events per second (0 = as fast as possible).",
    )
    audit_retention_days: PositiveInt = _env(
        "TRADEWARDEN_AUDIT_RETENTION_DAYS",
        90,
        description="Audit files older than this are pruned (seed: 90 days).",
    )
    audit_anchor_bucket: str | None = _env(
        "TRADEWARDEN_AUDIT_ANCHOR_BUCKET",
        None,
        description="S3 bucket the audit chain head is anchored to, off the host (required in prod).",
    )
    audit_anchor_prefix: str = _env(
        "TRADEWARDEN_AUDIT_ANCHOR_PREFIX",
        "tradewarden/audit-anchor",
        description="Key prefix of the anchor object (<prefix>/<host>/audit-head.json).",
    )
    audit_anchor_interval_seconds: Annotated[float, Field(ge=10)] = _env(
        "TRADEWARDEN_AUDIT_ANCHOR_INTERVAL_SECONDS",
        300.0,
        description="How often the daemon anchors the audit chain head (also at start and stop).",
    )
    scenario: Path = _env(
        "TRADEWARDEN_SCENARIO",
        DEFAULT_SCENARIO,
        description="Paper mode: the market scenario CSV to replay.",
    )

    # --- secrets ----------------------------------------------------------------------------
    secret_source: SecretSource = _env(
        "TRADEWARDEN_SECRET_SOURCE",
        SecretSource.ENV,
        description="Where keys come from: aws (Secrets Manager), file (Fernet) or env (dev only).",
    )
    secret_ttl_seconds: PositiveFloat = _env(
        "TRADEWARDEN_SECRET_TTL_SECONDS",
        900.0,
        description="How long a secret read from Secrets Manager is cached.",
    )
    secret_grace_seconds: Annotated[float, Field(ge=0)] = _env(
        "TRADEWARDEN_SECRET_GRACE_SECONDS",
        300.0,
        description="If Secrets Manager is down, keep the cached value this long past its TTL, then halt.",
    )
    secret_trade_key_id: str = _env(
        "TRADEWARDEN_SECRET_TRADE_KEY_ID",
        "tradewarden/dev/binance/trade",
        description="Secrets Manager id of the trade key pair.",
    )
    secret_read_key_id: str = _env(
        "TRADEWARDEN_SECRET_READ_KEY_ID",
        "tradewarden/dev/binance/read",
        description="Secrets Manager id of the read-only key pair.",
    )
    secret_slack_id: str = _env(
        "TRADEWARDEN_SECRET_SLACK_ID",
        "tradewarden/dev/slack",
        description="Secrets Manager id of the Slack token / webhook.",
    )
    secret_smtp_id: str = _env(
        "TRADEWARDEN_SECRET_SMTP_ID",
        "tradewarden/dev/smtp",
        description="Secrets Manager id of the SMTP credentials.",
    )
    secret_admin_id: str = _env(
        "TRADEWARDEN_SECRET_ADMIN_ID",
        "tradewarden/dev/admin",
        description="Secrets Manager id of the promotion HMAC key and the audit HMAC key; each approver's TOTP seed is kept under `<id>/approver/NAME`.",
    )
    credential_file: Path | None = _env(
        "TRADEWARDEN_CREDENTIAL_FILE",
        None,
        description="Encrypted credential file (secret source 'file').",
    )
    credential_key: SecretStr | None = _env(
        "BINANCE_CREDENTIAL_KEY",
        None,
        description="Fernet key(s) for the credential file, comma-separated, newest first.",
    )

    # --- exchange ---------------------------------------------------------------------------
    binance_base_url: str | None = _env(
        "TRADEWARDEN_BINANCE_BASE_URL",
        None,
        description="Override the Binance REST base URL: https://host only (no userinfo, path or odd port); loopback (the fake exchange) only outside prod.",
    )
    recv_window_ms: Annotated[int, Field(gt=0, le=60_000)] = _env(
        "TRADEWARDEN_RECV_WINDOW_MS", 5000, description="recvWindow sent with signed requests."
    )
    reconcile_interval_seconds: PositiveFloat = _env(
        "TRADEWARDEN_RECONCILE_INTERVAL_SECONDS",
        30.0,
        description="How often open orders and balances are reconciled with the exchange.",
    )
    request_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = _env(
        "TRADEWARDEN_REQUEST_TIMEOUT_SECONDS",
        10.0,
        description="Exchange request timeout; an order without an answer is resolved by query, never resent.",
    )
    # --- order outcome (issue 14; owned by the exchange gateway) ---
    order_expiry_margin_seconds: Annotated[float, Field(ge=0, le=3600)] = _env(
        "TRADEWARDEN_ORDER_EXPIRY_MARGIN_SECONDS",
        60.0,
        description="An order the exchange does not know is judged EXPIRED only this long"
        " after timestamp + recvWindow (the matching engine and reads can lag the window).",
    )
    poll_interval_seconds: PositiveFloat = _env(
        "TRADEWARDEN_POLL_INTERVAL_SECONDS",
        1.0,
        description="Testnet/live: how often prices (ticker, weight 2 per symbol) and fills are polled.",
    )
    # --- event-driven exchange (issue 19; runtime/exchange_loop.py, exchange/streams.py) ---
    streams: Streams = _env(
        "TRADEWARDEN_STREAMS",
        Streams.ON,
        description="Testnet/live: on = event-driven (user data stream for orders, fills and balances; market streams for prices and klines; REST stays the check and the fallback while a stream is down); off = the polling loop only. Paper mode ignores it.",
    )
    kline_interval: KlineInterval = _env(
        "TRADEWARDEN_KLINE_INTERVAL",
        KlineInterval.M1,
        description="Testnet/live with streams: the candle the strategies decide on (1s or 1m); each closed kline once, in order, gaps back-filled from REST klines.",
    )
    stream_stale_seconds: PositiveFloat = _env(
        "TRADEWARDEN_STREAM_STALE_SECONDS",
        10.0,
        description="Testnet/live with streams: a market stream silent this long is stale (reconnected; polling fallback until it is healthy again).",
    )
    stream_reconnect_max_seconds: PositiveFloat = _env(
        "TRADEWARDEN_STREAM_RECONNECT_MAX_SECONDS",
        30.0,
        description="Testnet/live with streams: the longest wait between two reconnect attempts of a stream (capped exponential back-off with jitter).",
    )
    stream_reconcile_interval_seconds: Annotated[float, Field(gt=0, le=150)] = _env(
        "TRADEWARDEN_STREAM_RECONCILE_INTERVAL_SECONDS",
        120.0,
        description="Testnet/live with streams: how often reconciliation runs while both streams are healthy and every order of ours is closed and booked (never more often than TRADEWARDEN_RECONCILE_INTERVAL_SECONDS; at most 150 s, under the 180 s of the ReconciliationStale alert); it still runs after every user-stream (re)connect and soon after an order not ours or a deposit/withdrawal shows on the stream.",
    )
    permission_check_seconds: Annotated[float, Field(ge=1)] = _env(
        "TRADEWARDEN_PERMISSION_CHECK_SECONDS",
        3600.0,
        description="Live: how often the key's permissions (apiRestrictions) are checked again.",
    )
    shared_account: bool = _env(
        "TRADEWARDEN_SHARED_ACCOUNT",
        False,
        description="The account is shared with manual trading: foreign orders mean REDUCING + warning, not HALTED.",
    )
    balance_tolerance: Fraction = _env(
        "TRADEWARDEN_BALANCE_TOLERANCE",
        0.001,
        description="Relative balance mismatch tolerated by reconciliation.",
    )

    # --- metrics and alerts -----------------------------------------------------------------
    metrics_host: str = _env(
        "TRADEWARDEN_METRICS_HOST",
        "127.0.0.1",
        description="Prometheus exporter bind address (localhost only by default).",
    )
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = _env(
        "TRADEWARDEN_METRICS_PORT",
        9108,
        description="Prometheus exporter port (0 = any free port).",
    )
    slack_channel: str = _env(
        "TRADEWARDEN_SLACK_CHANNEL", "#tradewarden-alerts", description="Slack channel for alerts."
    )
    slack_base_url: str = _env(
        "TRADEWARDEN_SLACK_BASE_URL",
        "https://slack.com/api/",
        description="Slack Web API base URL.",
    )
    smtp_host: str | None = _env(
        "TRADEWARDEN_SMTP_HOST", None, description="SMTP server for alert email (unset = no email)."
    )
    smtp_port: Annotated[int, Field(gt=0, le=65535)] = _env(
        "TRADEWARDEN_SMTP_PORT", 587, description="SMTP port."
    )
    smtp_tls: str = _env(
        "TRADEWARDEN_SMTP_TLS",
        "starttls",
        pattern="^(starttls|ssl|none)$",
        description="SMTP security: starttls, ssl or none.",
    )
    email_from: str = _env(
        "TRADEWARDEN_EMAIL_FROM", "tradewarden@localhost", description="Sender of alert email."
    )
    email_to: StrList = _env(
        "TRADEWARDEN_EMAIL_TO", (), description="Recipients of alert email (comma-separated)."
    )
    sns_topic_arn: str | None = _env(
        "TRADEWARDEN_SNS_TOPIC_ARN",
        None,
        description="SNS topic for SMS of critical alerts (unset = no SMS).",
    )
    alert_dedup_seconds: Annotated[float, Field(ge=0)] = _env(
        "TRADEWARDEN_ALERT_DEDUP_SECONDS",
        300.0,
        description="Alerts with the same dedup key within this window are sent once.",
    )
    runbook_base_url: str = _env(
        "TRADEWARDEN_RUNBOOK_BASE_URL",
        "https://github.com/tradewarden/tradewarden/blob/main/runbooks/",
        description="Prefix of runbook links in alerts.",
    )
    # --- alert thresholds: large position, unusual activity, low balance (issue 17) ------
    # (daemon/tradewarden/runtime/watch.py raises them; the seeds name no figure for unusual
    # activity, so its defaults are the catalogue's own example: 5 in 60 s)
    large_position_usd: PositiveFloat = _env(
        "TRADEWARDEN_LARGE_POSITION_USD",
        1_000.0,
        description="Warn (large position opened) when a fill makes a bot's position worth more than this in quote currency (seed: $1,000, the mark above which a transfer needs a human).",
    )
    large_position_pct: Fraction = _env(
        "TRADEWARDEN_LARGE_POSITION_PCT",
        0.20,
        description="Warn (large position opened) when a fill makes a bot's position more than this share of the portfolio equity (seed: never put more than 20% at risk on the hot side).",
    )
    unusual_window_seconds: PositiveFloat = _env(
        "TRADEWARDEN_UNUSUAL_WINDOW_SECONDS",
        60.0,
        description="Unusual activity: the sliding window the two counts below are taken over.",
    )
    unusual_failed_orders: PositiveInt = _env(
        "TRADEWARDEN_UNUSUAL_FAILED_ORDERS",
        5,
        description="Unusual activity: this many order attempts that failed (sent or not, refused, unanswered) within the window warn.",
    )
    unusual_rejected_orders: PositiveInt = _env(
        "TRADEWARDEN_UNUSUAL_REJECTED_ORDERS",
        5,
        description="Unusual activity: this many orders refused by the exchange (an error code in its answer) within the window warn.",
    )
    low_balance_usd: PositiveFloat = _env(
        "TRADEWARDEN_LOW_BALANCE_USD",
        1_000.0,
        description="Warn (low balance) when the free USD-stable quote balance falls below this, or below what the bots' next entry needs (seed: $1,000, the largest top-up without a human approval).",
    )

    # --- what the running daemon checks and announces on its own (issue 17) ----------------
    daily_summary_utc: str = _env(
        "TRADEWARDEN_DAILY_SUMMARY_UTC",
        "00:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
        description="UTC time (HH:MM) of the daily summary (info: P&L, trades, win rate, breakers, hot/cold) of the 24 h before it; once a day across restarts, sent at the next start if the daemon was down then (default: midnight, the UTC trading day of the daily-loss breaker).",
    )
    audit_verify_seconds: Annotated[float, Field(ge=1)] = _env(
        "TRADEWARDEN_AUDIT_VERIFY_SECONDS",
        3600.0,
        description="How often the running daemon verifies the audit hash chain (HMACs, the head in SQLite, the last off-host anchor); a break halts trading and raises the critical audit-chain alert.",
    )
    clock_check_seconds: Annotated[float, Field(ge=1)] = _env(
        "TRADEWARDEN_CLOCK_CHECK_SECONDS",
        120.0,
        description="Testnet/live: how often the exchange's clock is read (GET /api/v3/time, weight 1) for the signing offset and tradewarden_clock_skew_seconds.",
    )

    @field_validator("symbols", "bots", "email_to", mode="before")
    @classmethod
    def _split_csv(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(p.strip() for p in v.split(",") if p.strip())
        return v

    @field_validator("symbols", mode="after")
    @classmethod
    def _upper_symbols(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("the symbol allow-list is empty")
        for s in v:
            if not s.isalnum():
                raise ValueError(f"symbol {s!r} must be alphanumeric like BTCUSDT")
        return tuple(s.upper() for s in v)

    @field_validator("blocked_zones", mode="before")
    @classmethod
    def _zones(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [p.strip() for p in v.split(",") if p.strip()]
        out = []
        for z in v:
            text = str(z).upper().removeprefix("Z")
            if not text.isdigit() or not 1 <= int(text) <= 5:
                raise ValueError(f"zone {z!r} is not one of Z1..Z5")
            out.append(int(text))
        return tuple(out)

    @field_validator("bots", mode="after")
    @classmethod
    def _bots(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("no bots configured")
        names = set()
        for spec in v:
            parts = spec.split(":")
            if len(parts) != 3 or not all(parts):
                raise ValueError(f"bot {spec!r} must look like name:SYMBOL:strategy")
            if parts[0].lower() in RESERVED_BOT_NAMES:
                raise ValueError(
                    f"bot name {parts[0]!r} is reserved (the whole-portfolio breakers use it)"
                )
            if parts[0] in names:
                raise ValueError(f"bot name {parts[0]!r} appears twice")
            names.add(parts[0])
        return v

    @field_validator("binance_base_url", mode="after")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if not v:
            return None
        from tradewarden.core.endpoints import EndpointError, parse_endpoint

        try:
            parse_endpoint(v)
        except EndpointError as exc:
            raise ValueError(f"refused: {exc}") from None
        return v

    @field_validator("credential_key", mode="after")
    @classmethod
    def _fernet_keys(cls, v: SecretStr | None) -> SecretStr | None:
        """Well-formed Fernet keys (32 url-safe base64 bytes each), whatever the secret
        source: a malformed key is a configuration error at load, never at first use."""
        if v is None:
            return None
        raw = v.get_secret_value()
        if not raw.strip():
            return None
        import binascii

        from cryptography.fernet import Fernet

        for n, part in enumerate((p.strip() for p in raw.split(",")), 1):
            try:
                Fernet(part.encode())
            except (ValueError, binascii.Error):
                raise ValueError(
                    f"key {n} is not a Fernet key (32 url-safe base64-encoded bytes)"
                ) from None
        return v

    @model_validator(mode="after")
    def _futures_limits(self) -> Settings:
        """The futures envelope holds in every profile: reduce before flatten, and no
        position opened above the leverage limit."""
        problems = []
        if self.liq_distance_flatten_pct >= self.liq_distance_reduce_pct:
            problems.append(
                f"TRADEWARDEN_LIQ_DISTANCE_FLATTEN_PCT: {self.liq_distance_flatten_pct} must be"
                f" below TRADEWARDEN_LIQ_DISTANCE_REDUCE_PCT ({self.liq_distance_reduce_pct})"
            )
        if self.futures_leverage > self.futures_max_leverage:
            problems.append(
                f"TRADEWARDEN_FUTURES_LEVERAGE: {self.futures_leverage} is above"
                f" TRADEWARDEN_FUTURES_MAX_LEVERAGE ({self.futures_max_leverage})"
            )
        # live futures are the live gate's decision (`live.gate`: the whole spot gate, the
        # futures key check and a futures promotion), not refused here
        if self.futures_enabled and self.mode in (Mode.TESTNET, Mode.LIVE):
            symbols = [symbol for _, symbol, _ in self.bot_specs()]
            doubled = sorted({s for s in symbols if symbols.count(s) > 1})
            if doubled:
                problems.append(
                    "TRADEWARDEN_BOTS: one futures bot per symbol on the exchange (one-way"
                    f" mode holds one position per symbol): {', '.join(doubled)}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _profile_bounds(self) -> Settings:
        """Staging and prod may trade live: their safety limits cannot be switched off."""
        if self.profile is Profile.DEV:
            return self
        problems = []
        for name, (low, high) in LIVE_PROFILE_BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                problems.append(
                    f"{_alias_of(name)}: {value} is outside {low}..{high}, the allowed band"
                    f" with TRADEWARDEN_PROFILE={self.profile.value}"
                )
        missing = [z for z in LIVE_PROFILE_BLOCKED_ZONES if z not in self.blocked_zones]
        if missing:
            problems.append(
                "TRADEWARDEN_BLOCKED_ZONES: must block "
                + ", ".join(f"Z{z}" for z in LIVE_PROFILE_BLOCKED_ZONES)
                + f" with TRADEWARDEN_PROFILE={self.profile.value}"
                + f" (Z{', Z'.join(map(str, missing))} not blocked)"
            )
        if self.profile is Profile.PROD and self.binance_base_url:
            from tradewarden.core.endpoints import host_kind

            if host_kind(self.binance_base_url) == "loopback":
                problems.append(
                    "TRADEWARDEN_BINANCE_BASE_URL: a loopback endpoint is refused with"
                    " TRADEWARDEN_PROFILE=prod"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the documented names: the environment is read by each setting's variable name
        # alone (never the bare field name, so MODE or PROFILE mean nothing), and the file
        # by the same names (`load_settings` checks its keys).
        sources: list[PydanticBaseSettingsSource] = [init_settings, _DocumentedEnv(settings_cls)]
        file_values = getattr(cls, "file_values", None)
        if file_values:
            sources.append(_FileSource(settings_cls, file_values))
        return tuple(sources)

    # --- derived ----------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.state_dir / "tradewarden.sqlite3"

    @property
    def audit_dir(self) -> Path:
        return self.state_dir / "audit"

    @property
    def effective_binance_url(self) -> str:
        """The base URL the HTTP client uses: the override in its canonical form (as parsed
        by the client's own parser, host lower-case without a trailing dot), or Binance's."""
        if self.binance_base_url:
            from tradewarden.core.endpoints import parse_endpoint

            return parse_endpoint(self.binance_base_url).url
        return (
            "https://testnet.binance.vision" if self.binance_testnet else "https://api.binance.com"
        )

    def bot_specs(self) -> list[tuple[str, str, str]]:
        return [(n, s, st) for n, s, st in (spec.split(":") for spec in self.bots)]


def _documented_name(info: FieldInfo, field: str) -> str:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field.upper()


class _DocumentedEnv(EnvSettingsSource):
    """The environment, read only by the documented variable names, in their documented
    spelling: a case variant (``final_hammer`` next to ``FINAL_HAMMER``) is an error, never
    a second value that may win."""

    def __call__(self) -> dict[str, Any]:
        documented = {
            _documented_name(info, name).lower(): _documented_name(info, name)
            for name, info in self.settings_cls.model_fields.items()
        }
        for key in os.environ:
            name = documented.get(key.lower())
            if name is not None and key != name:
                raise SettingsError(
                    f"{name}: the environment sets {key!r}; only the documented spelling"
                    f" {name} is read (remove {key!r})"
                )
        return super().__call__()

    def _extract_field_info(
        self, field: FieldInfo, field_name: str, model_config: Any = None
    ) -> list[tuple[str, str, bool]]:
        info = super()._extract_field_info(field, field_name, model_config)
        name = _documented_name(field, field_name).lower()
        return [i for i in info if i[1].lower() == name]


class _FileSource(PydanticBaseSettingsSource):
    """The TOML file's values, already checked and keyed by the documented names."""

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # pragma: no cover - __call__ does the work

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def _file_values(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The file's keys mapped to the documented names: an unknown key or the same setting
    twice (``FINAL_HAMMER`` and ``final_hammer``) is an error naming it."""
    names = {_alias_of(f).lower(): _alias_of(f) for f in Settings.model_fields}
    out: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for key, value in data.items():
        name = names.get(key.lower())
        if name is None:
            raise ConfigError(
                f"{key}: unknown setting in {path} (check the spelling against the README's"
                " config table)"
            )
        if name in seen:
            raise ConfigError(
                f"{name}: set twice in {path} ({seen[name]!r} and {key!r}); keys are"
                " case-insensitive, keep one"
            )
        seen[name] = key
        out[name] = value
    return out


def _alias_of(field: str) -> str:
    info = Settings.model_fields.get(field)
    alias = getattr(info, "validation_alias", None) if info else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field.upper()


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build settings from env (+ TOML file). Raises ConfigError naming the bad variable."""
    path = config_file or os.environ.get("TRADEWARDEN_CONFIG")
    cls: type[Settings] = Settings
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"TRADEWARDEN_CONFIG: config file {str(p)!r} does not exist")
        try:
            import tomllib

            data = tomllib.loads(p.read_text())
        except Exception as exc:  # tomllib.TOMLDecodeError and unreadable files
            raise ConfigError(f"TRADEWARDEN_CONFIG: {p} is not valid TOML: {exc}") from None
        values = _file_values(p, data)

        class _FileSettings(Settings):
            file_values: ClassVar[dict[str, Any]] = values

        cls = _FileSettings
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:  # a value the env source could not even parse
        raise ConfigError(f"invalid configuration: {exc}") from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ())]
        if not loc:  # a whole-model check: its message names the settings itself
            lines.append(str(err.get("msg", "invalid")).removeprefix("Value error, "))
            continue
        name = loc[0]
        if name in Settings.model_fields:
            name = _alias_of(name)
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown setting (check the spelling against the README's config table)"
            lines.append(f"{name}: {msg}")
            continue
        shown = (
            ""
            if name.lower().endswith(("key", "secret", "password", "token"))
            else (f" (got {err.get('input')!r})")
        )
        lines.append(f"{name}: {msg}{shown}")
    return "invalid configuration: " + "; ".join(lines)


def markdown_table() -> str:
    """The README's configuration table, generated from the settings themselves."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        if info.default_factory is not None:
            default = "var/state"
        elif isinstance(info.default, tuple):
            default = ",".join(f"Z{x}" if name == "blocked_zones" else str(x) for x in info.default)
        elif isinstance(info.default, Path):
            default = "shipped scenario"
        else:
            default = (
                "" if info.default is None else str(getattr(info.default, "value", info.default))
            )
        rows.append(f"| `{_alias_of(name)}` | `{default}` | {info.description or ''} |")
    return "\n".join(rows)
