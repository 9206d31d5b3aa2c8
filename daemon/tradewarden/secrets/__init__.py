"""Secrets: the `Secret` value type, the log scrubber, and the sources behind one interface.

    source = build_source(settings)            # aws | file | env, checked now
    keys = binance_keys(settings, source)      # trade/read providers, read once now
    broker = BinanceBroker(settings, store, keys.trade, on_auth_error=keys.trade.on_auth_error)

Names are loaded on first use, so importing `tradewarden.secrets.value` stays cheap (no
boto3, no cryptography).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Secret": "tradewarden.secrets.value",
    "REDACTED": "tradewarden.secrets.value",
    "SecretError": "tradewarden.secrets.errors",
    "SecretConfigError": "tradewarden.secrets.errors",
    "SecretNotFoundError": "tradewarden.secrets.errors",
    "SecretFormatError": "tradewarden.secrets.errors",
    "SecretAccessError": "tradewarden.secrets.errors",
    "SecretUnavailableError": "tradewarden.secrets.errors",
    "SecretBundle": "tradewarden.secrets.bundle",
    "SecretKind": "tradewarden.secrets.bundle",
    "SecretRole": "tradewarden.secrets.bundle",
    "Source": "tradewarden.secrets.source",
    "WritableSource": "tradewarden.secrets.source",
    "build_source": "tradewarden.secrets.factory",
    "AwsSecretsManagerSource": "tradewarden.secrets.aws",
    "FernetFileSource": "tradewarden.secrets.fernet_file",
    "EnvSource": "tradewarden.secrets.env",
    "BinanceCredentials": "tradewarden.secrets.credentials",
    "BinanceKeys": "tradewarden.secrets.credentials",
    "binance_keys": "tradewarden.secrets.credentials",
    "alert_secrets": "tradewarden.secrets.credentials",
    "secret_ages": "tradewarden.secrets.age",
    "check_ages": "tradewarden.secrets.age",
    "register": "tradewarden.secrets.scrub",
    "install_log_scrubber": "tradewarden.secrets.scrub:install",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'tradewarden.secrets' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value
    return value
