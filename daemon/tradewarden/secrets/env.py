"""Secrets from environment variables: development only.

Refused with ``TRADEWARDEN_PROFILE=prod`` (by `build_source`), and never good enough for
live trading (the live gate lists it as a blocker). The configured secret ids map to:

=========  =====================================================================
role       variables
=========  =====================================================================
trade      TRADEWARDEN_BINANCE_API_KEY, TRADEWARDEN_BINANCE_API_SECRET
read       TRADEWARDEN_BINANCE_READ_API_KEY, TRADEWARDEN_BINANCE_READ_API_SECRET
slack      TRADEWARDEN_SLACK_TOKEN, TRADEWARDEN_SLACK_WEBHOOK_URL
smtp       TRADEWARDEN_SMTP_USERNAME, TRADEWARDEN_SMTP_PASSWORD
admin      TRADEWARDEN_PROMOTION_KEY, TRADEWARDEN_TOTP_SECRET, TRADEWARDEN_AUDIT_KEY
=========  =====================================================================

Values are read at each `get` (cheap), so there is nothing to cache or invalidate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from tradewarden.core.config import SecretSource, Settings
from tradewarden.secrets.bundle import SecretBundle, SecretKind, SecretRole, parse_payload
from tradewarden.secrets.errors import SecretNotFoundError

ENV_NAMES: dict[SecretRole, dict[str, str]] = {
    SecretRole.TRADE: {
        "api_key": "TRADEWARDEN_BINANCE_API_KEY",
        "api_secret": "TRADEWARDEN_BINANCE_API_SECRET",
    },
    SecretRole.READ: {
        "api_key": "TRADEWARDEN_BINANCE_READ_API_KEY",
        "api_secret": "TRADEWARDEN_BINANCE_READ_API_SECRET",
    },
    SecretRole.SLACK: {
        "bot_token": "TRADEWARDEN_SLACK_TOKEN",
        "webhook_url": "TRADEWARDEN_SLACK_WEBHOOK_URL",
    },
    SecretRole.SMTP: {
        "username": "TRADEWARDEN_SMTP_USERNAME",
        "password": "TRADEWARDEN_SMTP_PASSWORD",
    },
    SecretRole.ADMIN: {
        "promotion_key": "TRADEWARDEN_PROMOTION_KEY",
        "totp_secret": "TRADEWARDEN_TOTP_SECRET",
        "audit_key": "TRADEWARDEN_AUDIT_KEY",
    },
}


class EnvSource:
    kind = SecretSource.ENV

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._roles: dict[str, SecretRole] = {}
        for role in SecretRole:  # trade before read: a shared id reads the trade variables
            self._roles.setdefault(role.secret_id(settings), role)

    def describe(self) -> str:
        return "environment variables (development only)"

    def get(self, secret_id: str, kind: SecretKind = SecretKind.BINANCE) -> SecretBundle:
        role = self._roles.get(secret_id)
        if role is None or role.kind is not kind:
            raise SecretNotFoundError(
                f"secret {secret_id}: not one of the configured secret ids (env source)",
                secret_id,
            )
        names = ENV_NAMES[role]
        payload = {f: self._environ[v] for f, v in names.items() if self._environ.get(v)}
        if not payload:
            raise SecretNotFoundError(
                f"secret {secret_id}: {', '.join(names.values())} not set (env source)",
                secret_id,
            )
        try:
            return parse_payload(secret_id, kind, payload)
        except SecretNotFoundError:
            raise
        except Exception as exc:  # name the variables, not just the JSON fields
            missing = [v for f, v in names.items() if f not in payload]
            hint = f" (set {', '.join(missing)})" if missing else ""
            raise type(exc)(f"{exc}{hint}", secret_id) from None

    def invalidate(self, secret_id: str | None = None) -> None:
        return None
