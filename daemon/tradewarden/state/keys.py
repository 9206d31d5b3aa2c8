"""Every key of the store's key/value table (`kv`), in one place.

A key is a `StateKey` member, or one of a family built by a function below (one row per
breaker, per breaker and bot). `Store.get`/`Store.put` take nothing else: mypy rejects a
bare string and `tests/unit/state/test_state_keys.py` checks no caller passes a literal. The
values are JSON. Renaming a value here renames a row of every existing state file: add a
schema migration (`state/schema.py`) that moves it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NewType


class StateKey(StrEnum):
    # start-up and status
    AUDIT_CONFIG = "audit.config"  # the redacted effective config of the last start
    AUDIT_CONFIG_SHA256 = "audit.config_sha256"  # its SHA-256
    STATUS_SNAPSHOT = "status_snapshot"  # the daemon's last status, read by `status`
    REPLAY_LAST_TS = "replay_last_ts"  # paper replay: market time of the last tick done
    # risk
    MANUAL_STATE = "manual_state"  # the single halt record of older files (and `restore`)
    SIZE_RAMP = "size_ramp"  # {"factor", "wins", "why"}: gradual restart
    # trading
    LEDGER_DUST = "ledger.dust"  # {symbol: qty}: unsellable leftovers
    TRADER_FLATTEN_PENDING = "trader.flatten_pending"  # an emergency flatten still owed
    ORDER_FINDINGS = "orders.findings"  # order events the tracker refused (the last ones)
    # exchange
    EXCHANGE_BANNED_UNTIL = "exchange.banned_until"  # epoch seconds of a 418 ban's end
    EXCHANGE_EXPIRED_VERDICTS = "exchange.expired_verdicts"  # {cid: when judged EXPIRED}
    EXCHANGE_RECONCILE_BALANCES = "exchange.reconcile.balances"  # the balance baseline
    # USD-M futures: {"since": ms, "ids": [tranId...]}: funding income already booked
    EXCHANGE_FUTURES_FUNDING = "exchange.futures.funding"
    # USD-M futures: {"wallet", "value", "ts_ms"}: the wallet baseline of reconciliation
    EXCHANGE_FUTURES_WALLET = "exchange.futures.wallet"
    # live
    LIVE_DISARMED = "live.disarmed"  # {"reason", "actor", "at"}: `tradewarden live disarm`
    LIVE_DISARM_ACK = "live.disarm_ack"  # the running daemon's answer: {"at", "why"}
    # alerts the daemon sends itself
    DAILY_SUMMARY_LAST_DUE = "daily_summary.last_due"  # epoch seconds of the last one sent
    SECRET_AGE_ALERTED = "secret_age.alerted"  # noqa: S105 - {secret id: alert level sent}
    REBALANCE_EXECUTED_ANNOUNCED = "rebalance.executed_announced"  # highest proposal id
    # wallet
    COLD_WALLET = "cold_wallet"  # {"amount_usd", "address", "verified_at"}


# A key of a family (one row per breaker, per breaker and bot); made only by the functions
# below, so the family's prefix is written once.
ScopedKey = NewType("ScopedKey", str)
KeyName = StateKey | ScopedKey

BREAKER_PREFIX = "breaker:"
TRIP_SCOPE_PREFIX = "trip_scope:"


def breaker_key(breaker: str) -> ScopedKey:
    """The persisted state of one breaker (`Breaker.dump()`)."""
    return ScopedKey(f"{BREAKER_PREFIX}{breaker}")


def trip_scope_key(breaker: str, bot: str) -> ScopedKey:
    """The scope a trip of `breaker` for `bot` was recorded with."""
    return ScopedKey(f"{TRIP_SCOPE_PREFIX}{breaker}:{bot}")
