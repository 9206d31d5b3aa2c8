"""Rotating a Binance key pair: stage, verify against the exchange, promote.

Secrets Manager: the new pair is written as a version labelled AWSPENDING (the daemon
keeps reading AWSCURRENT), read back, verified with a signed ``GET /api/v3/account`` at
the configured Binance URL (plus the key-permission check on a live endpoint), then
AWSCURRENT is moved onto it, which leaves the old version as AWSPREVIOUS. If verification
fails the AWSPENDING label is removed and AWSCURRENT is untouched.

Fernet file: the pair is verified first, then written as the entry's new value.

Either way the operator must then revoke the old key on Binance; a running daemon uses the
new key at its next request once its cache expires, or at once when Binance refuses the
old one (`BinanceCredentials.on_auth_error`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tradewarden.core.config import Settings
from tradewarden.live.key_permissions import (
    PermissionResult,
    check_key_permissions,
    check_trade_key,
)
from tradewarden.secrets.aws import PENDING, AwsSecretsManagerSource
from tradewarden.secrets.bundle import SecretBundle, SecretKind, SecretRole, parse_payload
from tradewarden.secrets.errors import SecretConfigError, SecretError, SecretNotFoundError
from tradewarden.secrets.fernet_file import FernetFileSource
from tradewarden.secrets.source import Source
from tradewarden.trading.broker import BrokerError

if TYPE_CHECKING:
    from tradewarden.exchange.client import ExchangeClient


class RotationError(SecretError):
    """The new key was not promoted (verification failed or it is the current key)."""


@dataclass(frozen=True)
class KeyCheck:
    ok: bool
    detail: str
    permissions: PermissionResult | None = None


class _Restrictions:
    def __init__(self, client: ExchangeClient) -> None:
        self.client = client

    def api_restrictions(self) -> dict[str, Any]:
        from tradewarden.exchange import endpoints as ep

        return dict(self.client.call(ep.API_RESTRICTIONS, "get_account_api_permissions"))


class _FuturesAccount:
    """The key's futures account on the futures host of the configured URL (a futures
    stack's trade key: ``canTrade`` of ``GET /fapi/v2/account``)."""

    def __init__(self, client: ExchangeClient) -> None:
        self.client = client

    def futures_account(self) -> dict[str, Any]:
        from tradewarden.exchange import endpoints as ep

        answer = self.client.call(ep.F_ACCOUNT, "futures_account")
        if not isinstance(answer, dict):
            raise BrokerError("GET /fapi/v2/account: the answer is not an object")
        return dict(answer)


def verify_key(
    settings: Settings,
    bundle: SecretBundle,
    role: SecretRole = SecretRole.TRADE,
    *,
    timeout_s: float = 10.0,
) -> KeyCheck:
    """Signed account read with the pair at the configured URL; on a live endpoint also the
    key-permission check. Never raises for exchange errors."""
    from tradewarden.core.endpoints import endpoint_kind
    from tradewarden.exchange import endpoints as ep
    from tradewarden.exchange.client import ExchangeClient
    from tradewarden.exchange.futures_gateway import FuturesClient, futures_base_url
    from tradewarden.exchange.ratelimit import RateLimiter

    url = settings.effective_binance_url
    pair = (bundle["api_key"], bundle["api_secret"])

    def client_at(kind: type[ExchangeClient], base_url: str) -> ExchangeClient:
        return kind(
            base_url,
            lambda: pair,
            limiter=RateLimiter(),
            recv_window_ms=settings.recv_window_ms,
            timeout_s=timeout_s,
            max_queue_s=timeout_s,
        )

    testnet = endpoint_kind(url, settings.binance_testnet) == "testnet"
    if testnet and settings.futures_enabled:
        # the futures testnet's keys are its own: what such a key reads is the futures
        # account on the futures host (a spot testnet account read would refuse it)
        furl = futures_base_url(url)
        fclient = client_at(FuturesClient, furl)
        try:
            fclient.sync_time()
            _FuturesAccount(fclient).futures_account()
        except BrokerError as exc:
            return KeyCheck(False, f"signed GET /fapi/v2/account at {furl} failed: {exc}")
        finally:
            _close(fclient)
        return KeyCheck(True, f"futures account readable at {furl} (testnet: no permission check)")
    client = client_at(ExchangeClient, url)
    try:
        try:
            client.sync_time()
            client.call(ep.ACCOUNT, "get_account")
        except BrokerError as exc:
            return KeyCheck(False, f"signed GET /api/v3/account at {url} failed: {exc}")
        if testnet:
            return KeyCheck(True, f"account readable at {url} (testnet: no permission check)")
        if role is SecretRole.TRADE:  # the gate's trade-key check (futures account too)
            futures_client = None
            if settings.futures_enabled:
                futures_client = client_at(FuturesClient, futures_base_url(url))
                try:
                    futures_client.sync_time()
                except BrokerError:
                    pass  # the futures account read then fails: the check fails closed
            try:
                perms = check_trade_key(
                    _Restrictions(client),
                    futures=settings.futures_enabled,
                    futures_account=(
                        None if futures_client is None else _FuturesAccount(futures_client)
                    ),
                )
            finally:
                _close(futures_client)
        else:
            perms = check_key_permissions(
                _Restrictions(client), role.value, futures=settings.futures_enabled
            )
        if not perms.ok:
            return KeyCheck(False, perms.summary(), perms)
        return KeyCheck(True, f"account readable at {url}; {perms.summary()}", perms)
    finally:
        _close(client)


def _close(client: ExchangeClient | None) -> None:
    inner = getattr(client, "_client", None)
    if inner is not None:
        inner.session.close()


@dataclass(frozen=True)
class RotationResult:
    secret_id: str
    version: str
    previous_version: str | None
    fingerprint: str
    previous_fingerprint: str | None
    check: KeyCheck


def rotate(
    settings: Settings, source: Source, role: SecretRole, payload: Mapping[str, str]
) -> RotationResult:
    if role.kind is not SecretKind.BINANCE:
        raise SecretConfigError(f"rotate applies to Binance keys (trade, read), not {role}")
    secret_id = role.secret_id(settings)
    new = parse_payload(secret_id, SecretKind.BINANCE, dict(payload))
    if isinstance(source, AwsSecretsManagerSource):
        old = _current(source, secret_id)
        _refuse_same(new, old, secret_id)
        version = source.stage_pending(secret_id, SecretKind.BINANCE, payload)
        try:
            staged = source.fetch(secret_id, SecretKind.BINANCE, stage=PENDING)
            check = verify_key(settings, staged, role)
        except BaseException:
            source.discard_pending(secret_id, version)
            raise
        if not check.ok:
            source.discard_pending(secret_id, version)
            raise RotationError(
                f"secret {secret_id}: the new key failed verification, AWSCURRENT unchanged"
                f" (AWSPENDING removed): {check.detail}",
                secret_id,
            )
        previous = source.promote(secret_id, version)
    elif isinstance(source, FernetFileSource):
        old = _current(source, secret_id)
        _refuse_same(new, old, secret_id)
        check = verify_key(settings, new, role)
        if not check.ok:
            raise RotationError(
                f"secret {secret_id}: the new key failed verification, file unchanged:"
                f" {check.detail}",
                secret_id,
            )
        version, previous = source.put(secret_id, SecretKind.BINANCE, payload)
    else:
        raise SecretConfigError(
            f"TRADEWARDEN_SECRET_SOURCE={source.kind}: cannot rotate; set the new values in"
            " the environment and restart (development only)"
        )
    return RotationResult(
        secret_id,
        version,
        previous,
        new.fingerprint(),
        old.fingerprint() if old is not None else None,
        check,
    )


def _current(source: Source, secret_id: str) -> SecretBundle | None:
    source.invalidate(secret_id)
    try:
        if isinstance(source, AwsSecretsManagerSource):
            return source.fetch(secret_id, SecretKind.BINANCE)
        return source.get(secret_id, SecretKind.BINANCE)
    except SecretNotFoundError:
        return None


def _refuse_same(new: SecretBundle, old: SecretBundle | None, secret_id: str) -> None:
    if old is not None and old.get("api_key") == new["api_key"]:
        raise RotationError(
            f"secret {secret_id}: the new API key is the current one; create a new key on"
            " Binance first",
            secret_id,
        )
