"""Build the Binance gateway for the daemon: credentials from the secret source, metrics."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from tradewarden.config import ConfigError, SecretSource, Settings
from tradewarden.exchange import BinanceBroker
from tradewarden.exchange.hooks import CredentialProvider
from tradewarden.exchange_loop import MetricsBridge
from tradewarden.metrics import Metrics
from tradewarden.secrets.value import Secret
from tradewarden.store import Store

ENV_KEY = "TRADEWARDEN_BINANCE_API_KEY"
ENV_SECRET = "TRADEWARDEN_BINANCE_API_SECRET"  # noqa: S105 - a variable name


def env_credentials() -> CredentialProvider:
    """Development only: the key pair from the environment, read once at start."""
    key, secret = os.environ.get(ENV_KEY, ""), os.environ.get(ENV_SECRET, "")
    missing = [n for n, v in ((ENV_KEY, key), (ENV_SECRET, secret)) if not v]
    if missing:
        raise ConfigError(f"{', '.join(missing)}: not set (TRADEWARDEN_SECRET_SOURCE=env)")
    pair = (Secret(key, "binance api key"), Secret(secret, "binance api secret"))
    return lambda: pair


def credentials_for(settings: Settings) -> tuple[CredentialProvider, Any]:
    """(provider, on_auth_error hook) for the configured secret source."""
    if settings.secret_source is SecretSource.ENV:
        return env_credentials(), None
    raise ConfigError(
        f"TRADEWARDEN_SECRET_SOURCE={settings.secret_source}: not available in this build"
    )


def exchange_broker_factory(settings: Settings) -> Callable[[Store, Metrics], BinanceBroker]:
    """Check the credentials now (bad config exits 2 before anything starts)."""
    provider, on_auth_error = credentials_for(settings)

    def make(store: Store, metrics: Metrics) -> BinanceBroker:
        return BinanceBroker(
            settings,
            store,
            provider,
            on_auth_error=on_auth_error,
            metrics=MetricsBridge(metrics),
            request_timeout_s=settings.request_timeout_seconds,
        )

    return make
