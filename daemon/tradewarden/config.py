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
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

PACKAGE_DIR = Path(__file__).resolve().parent
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


class SecretSource(StrEnum):
    ENV = "env"
    FILE = "file"
    AWS = "aws"


def _env(name: str, default: Any, **kw: Any) -> Any:
    return Field(default, validation_alias=AliasChoices(name), **kw)


def _default_state_dir() -> Path:
    # systemd's StateDirectory= sets STATE_DIRECTORY; otherwise a local ./var/state.
    return Path(os.environ.get("STATE_DIRECTORY", "var/state"))


class Settings(BaseSettings):
    """All daemon settings. Field docs are the README's config table."""

    model_config = SettingsConfigDict(
        extra="forbid", case_sensitive=False, frozen=True, populate_by_name=True
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
        description="Environment: dev, staging or prod (prod refuses testnet and env secrets; dev refuses live).",
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
        description="Breaker: halt a bot after this many losing round trips in a row.",
    )
    max_daily_loss_pct: Fraction = _env(
        "MAX_DAILY_LOSS_PCT",
        0.05,
        description="Breaker: halt all trading at this loss from the UTC day-start equity.",
    )
    max_bot_drawdown_pct: Fraction = _env(
        "MAX_BOT_DRAWDOWN_PCT",
        0.25,
        description="Breaker: halt a bot at this drawdown from its peak equity.",
    )
    max_portfolio_drawdown_pct: Fraction = _env(
        "MAX_PORTFOLIO_DRAWDOWN_PCT",
        0.40,
        description="Emergency stop: portfolio drawdown from peak; HALTED and all orders cancelled.",
    )
    flatten_on_emergency: bool = _env(
        "TRADEWARDEN_FLATTEN_ON_EMERGENCY",
        False,
        description="On the emergency stop also close open positions (market sells).",
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
        description="Proposals above this need two different approvers.",
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
        description="Secrets Manager id of the promotion HMAC key and the approvals' TOTP seed.",
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
        description="Override the Binance REST base URL (tests point it at the fake exchange).",
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
            if parts[0] in names:
                raise ValueError(f"bot name {parts[0]!r} appears twice")
            names.add(parts[0])
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = cls.model_config.get("toml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
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
        if self.binance_base_url:
            return self.binance_base_url.rstrip("/")
        return (
            "https://testnet.binance.vision" if self.binance_testnet else "https://api.binance.com"
        )

    def bot_specs(self) -> list[tuple[str, str, str]]:
        return [tuple(spec.split(":")) for spec in self.bots]  # type: ignore[misc]


SECRET_FIELDS = {"credential_key"}


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

            tomllib.loads(p.read_text())
        except Exception as exc:  # tomllib.TOMLDecodeError and unreadable files
            raise ConfigError(f"TRADEWARDEN_CONFIG: {p} is not valid TOML: {exc}") from None

        class _FileSettings(Settings):
            model_config = SettingsConfigDict(toml_file=p)

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
        name = loc[0] if loc else "?"
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
