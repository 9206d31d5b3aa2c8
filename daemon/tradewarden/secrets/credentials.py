"""Binance key pairs for the gateway, and the alert channels' secrets, from a source.

`BinanceCredentials` is the gateway's `CredentialProvider`: calling it returns
``(api_key, api_secret)`` as `Secret`s, read through the source's cache on every request
(so a rotated secret is used from the next request once the cache lets it through), and
its `on_auth_error` hook re-reads the secret at once when Binance answers -2014/-2015/-1022
(key revoked, wrong IP or permissions, bad signature): a rotation reaches a running daemon
at the first request the old key fails, without a restart.

Least privilege: the read key and the trade key may be separate secrets
(``TRADEWARDEN_SECRET_READ_KEY_ID`` / ``TRADEWARDEN_SECRET_TRADE_KEY_ID``); `binance_keys`
gives both providers (the read one falls back to the trade key when no read secret exists).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tradewarden.core.config import Settings
from tradewarden.secrets.bundle import SecretBundle, SecretKind, SecretRole
from tradewarden.secrets.errors import SecretError, SecretNotFoundError, SecretUnavailableError
from tradewarden.secrets.source import Source
from tradewarden.secrets.value import Secret

log = logging.getLogger(__name__)

AUTH_CODES = frozenset({-2014, -2015, -1022})  # the gateway's `client.AUTH_CODES`


class BinanceCredentials:
    """`CredentialProvider` + `AuthErrorHook` for `BinanceBroker` (see the module doc)."""

    def __init__(
        self,
        source: Source,
        secret_id: str,
        *,
        role: SecretRole = SecretRole.TRADE,
        min_reread_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.secret_id = secret_id
        self.role = role
        self.min_reread_s = min_reread_s
        self._clock = clock
        self._last_forced = float("-inf")
        self._lock = threading.Lock()
        self._last: SecretBundle | None = None
        self.auth_errors = 0
        self.rereads = 0

    def load(self) -> SecretBundle:
        """Read the secret now (at start): raises the precise `SecretError` on bad input."""
        bundle = self.source.get(self.secret_id, SecretKind.BINANCE)
        self._last = bundle
        return bundle

    def bundle(self) -> SecretBundle:
        """The current secret; any failure is a `SecretUnavailableError` (a `BrokerError`)."""
        try:
            bundle = self.source.get(self.secret_id, SecretKind.BINANCE)
        except SecretUnavailableError:
            raise
        except SecretError as exc:
            raise SecretUnavailableError(str(exc), self.secret_id) from None
        self._last = bundle
        return bundle

    def __call__(self) -> tuple[Secret, Secret]:
        b = self.bundle()
        return b["api_key"], b["api_secret"]

    @property
    def scope(self) -> str | None:
        """The ``scope`` of the last value read ("live", "testnet" or None)."""
        return self._last.scope if self._last is not None else None

    @property
    def fingerprint(self) -> str | None:
        return self._last.fingerprint() if self._last is not None else None

    def on_auth_error(self, code: int) -> None:
        """Binance refused the key: drop the cached value and read the secret again now.
        Never raises (it runs inside the gateway's error mapping)."""
        if code not in AUTH_CODES:
            return
        self.auth_errors += 1
        with self._lock:
            now = self._clock()
            if now - self._last_forced < self.min_reread_s:
                return  # re-read moments ago: do not hammer the secret store
            self._last_forced = now
        before = self.fingerprint
        self.source.invalidate(self.secret_id)
        self.rereads += 1
        try:
            after = self.load().fingerprint()
        except SecretError as exc:
            log.error(
                "Binance refused the key and the secret could not be re-read",
                extra={"secret_id": self.secret_id, "code": code, "error": str(exc)},
            )
            return
        if after != before:
            log.warning(
                "Binance refused the key: a new version of the secret was read",
                extra={"secret_id": self.secret_id, "code": code, "key_fp": after},
            )
        else:
            log.error(
                "Binance refused the key and the secret store still holds the same key",
                extra={"secret_id": self.secret_id, "code": code, "key_fp": after},
            )


@dataclass(frozen=True)
class BinanceKeys:
    trade: BinanceCredentials
    read: BinanceCredentials

    @property
    def separate(self) -> bool:
        return self.read is not self.trade


def binance_keys(settings: Settings, source: Source) -> BinanceKeys:
    """Providers for the trade and read keys, both read once now (raises `SecretError` at
    start). Without a read secret (``TRADEWARDEN_SECRET_READ_KEY_ID`` absent from the
    store) reads use the trade key and a warning is logged."""
    trade = BinanceCredentials(source, settings.secret_trade_key_id, role=SecretRole.TRADE)
    trade.load()
    if settings.secret_read_key_id == settings.secret_trade_key_id:
        return BinanceKeys(trade, trade)
    read = BinanceCredentials(source, settings.secret_read_key_id, role=SecretRole.READ)
    try:
        read.load()
    except SecretNotFoundError:
        log.warning(
            "no separate read key: reads use the trade key",
            extra={"secret_id": settings.secret_read_key_id},
        )
        return BinanceKeys(trade, trade)
    return BinanceKeys(trade, read)


ALERT_FIELDS = {
    SecretRole.SLACK: {"bot_token": "slack_bot_token", "webhook_url": "slack_webhook_url"},
    SecretRole.SMTP: {"username": "smtp_username", "password": "smtp_password"},
}


def alert_secrets(settings: Settings, source: Source) -> dict[str, Secret]:
    """The alert channels' credentials keyed by
    (``slack_bot_token``, ``slack_webhook_url``, ``smtp_username``, ``smtp_password``).
    A secret that does not exist is left out (that channel is not configured); any other
    problem raises."""
    out: dict[str, Secret] = {}
    for role, names in ALERT_FIELDS.items():
        try:
            bundle = source.get(role.secret_id(settings), role.kind)
        except SecretNotFoundError:
            continue
        for field_name, key in names.items():
            value = bundle.get(field_name)
            if value is not None:
                out[key] = value
    return out


ADMIN_FIELDS = {
    "promotion_key": "the promotion HMAC key",
    "totp_secret": "a TOTP seed",
    "audit_key": "the audit log HMAC key",
}


def admin_secret(settings: Settings, source: Source, name: str) -> Secret:
    """One field of the admin secret (``promotion_key``, ``audit_key``); raises
    `SecretNotFoundError` naming the secret id and the field when it is not there. Approvals
    do not use a ``totp_secret`` here: each approver has their own seed
    (`tradewarden.wallet.approvals`)."""
    secret_id = SecretRole.ADMIN.secret_id(settings)
    bundle = source.get(secret_id, SecretKind.ADMIN)
    value = bundle.get(name)
    if value is None:
        raise SecretNotFoundError(
            f"secret {secret_id}: no {name} field ({ADMIN_FIELDS.get(name, name)})", secret_id
        )
    return value
