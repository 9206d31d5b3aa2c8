"""What a secret holds: the JSON shapes per kind, parsed into `Secret` fields.

One JSON object per secret:

- ``binance``: ``{"api_key", "api_secret", "scope"?: "live"|"testnet", "created_at"?}``
- ``slack``:   ``{"bot_token"?, "webhook_url"?}`` (at least one)
- ``smtp``:    ``{"username", "password"}``
- ``admin``:   ``{"promotion_key"?, "totp_secret"?, "audit_key"?}`` (at least one): the HMAC
  key that signs paper-to-live promotions, the TOTP seed of the approval queue's second
  factor and the HMAC key that signs the audit log's entries

``created_at`` (optional, ISO date/time or epoch seconds) is when the key was created at
its issuer, for keys stored later than they were made; without it a secret's age is that of
its stored version. Anything else in the object is refused: a typo must not pass silently.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from tradewarden.core.config import Settings
from tradewarden.secrets import scrub
from tradewarden.secrets.errors import SecretFormatError
from tradewarden.secrets.value import Secret


class SecretKind(StrEnum):
    BINANCE = "binance"
    SLACK = "slack"
    SMTP = "smtp"
    ADMIN = "admin"


class SecretRole(StrEnum):
    """The secrets the daemon uses; each maps to a configured id."""

    TRADE = "trade"
    READ = "read"
    SLACK = "slack"
    SMTP = "smtp"
    ADMIN = "admin"

    @property
    def kind(self) -> SecretKind:
        return {
            SecretRole.TRADE: SecretKind.BINANCE,
            SecretRole.READ: SecretKind.BINANCE,
            SecretRole.SLACK: SecretKind.SLACK,
            SecretRole.SMTP: SecretKind.SMTP,
            SecretRole.ADMIN: SecretKind.ADMIN,
        }[self]

    def secret_id(self, settings: Settings) -> str:
        return {
            SecretRole.TRADE: settings.secret_trade_key_id,
            SecretRole.READ: settings.secret_read_key_id,
            SecretRole.SLACK: settings.secret_slack_id,
            SecretRole.SMTP: settings.secret_smtp_id,
            SecretRole.ADMIN: settings.secret_admin_id,
        }[self]


SCOPES = ("live", "testnet")
META_FIELDS = ("scope", "created_at")
REQUIRED: dict[SecretKind, tuple[str, ...]] = {
    SecretKind.BINANCE: ("api_key", "api_secret"),
    SecretKind.SLACK: (),
    SecretKind.SMTP: ("username", "password"),
    SecretKind.ADMIN: (),
}
OPTIONAL: dict[SecretKind, tuple[str, ...]] = {
    SecretKind.BINANCE: ("scope", "created_at"),
    SecretKind.SLACK: ("bot_token", "webhook_url", "created_at"),
    SecretKind.SMTP: ("created_at",),
    SecretKind.ADMIN: ("promotion_key", "totp_secret", "audit_key", "created_at"),
}


# A date or date-time as written by hand or printed by `secrets check`: nothing past the
# microseconds (Python's ISO parser accepts and drops any number of digits there, so a
# secret pasted behind a date would otherwise count as metadata), no other ISO forms.
_PLAIN_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?"
)


def is_public_metadata(name: str, value: object) -> bool:
    """A well-formed scope ("live"/"testnet") or created_at date: printed by `secrets check`
    and `status`, and not secret. Registered with the log scrubber they would blank every
    "live", "testnet" or that date in every log line. A malformed value may be a secret
    pasted into the wrong field: it is not metadata (and is scrubbed)."""
    if name == "scope":
        return value in SCOPES
    if name == "created_at" and isinstance(value, str) and _PLAIN_DATE.fullmatch(value):
        try:
            parse_created_at(value, "")
        except SecretFormatError:
            return False
        return True
    return False


def secret_fields(kind: SecretKind) -> tuple[str, ...]:
    """The value fields of a kind (not metadata), in prompt order."""
    return tuple(f for f in REQUIRED[kind] + OPTIONAL[kind] if f not in META_FIELDS)


@dataclass(frozen=True)
class SecretBundle:
    """A parsed secret: its value fields as `Secret`s plus non-secret metadata."""

    secret_id: str
    kind: SecretKind
    fields: Mapping[str, Secret]
    scope: str | None = None
    version: str | None = None
    created_at: float | None = None  # epoch seconds: key creation, else version creation
    stored_at: float | None = field(default=None, compare=False)  # version creation

    def __getitem__(self, name: str) -> Secret:
        return self.fields[name]

    def get(self, name: str) -> Secret | None:
        return self.fields.get(name)

    def fingerprint(self) -> str:
        """Fingerprint of the first field (the API key / token): tells versions apart."""
        first = next(iter(self.fields.values()), None)
        return first.fingerprint() if first is not None else "----"

    def age_seconds(self, now: float) -> float | None:
        return None if self.created_at is None else max(0.0, now - self.created_at)


def parse_created_at(raw: Any, secret_id: str) -> float:
    """ISO date / date-time (UTC if no zone) or epoch seconds -> epoch seconds."""
    if isinstance(raw, bool):
        raise SecretFormatError(f"secret {secret_id}: created_at is not a date", secret_id)
    if isinstance(raw, int | float):
        if not math.isfinite(raw) or raw <= 0:
            raise SecretFormatError(f"secret {secret_id}: created_at is not a date", secret_id)
        return float(raw)
    if isinstance(raw, str):
        try:
            if len(raw) == 10:
                d = date.fromisoformat(raw)
                return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
            dt = datetime.fromisoformat(raw)
        except ValueError:
            raise SecretFormatError(
                f"secret {secret_id}: created_at must be YYYY-MM-DD or an ISO date-time",
                secret_id,
            ) from None
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    raise SecretFormatError(f"secret {secret_id}: created_at is not a date", secret_id)


def parse_payload(
    secret_id: str,
    kind: SecretKind,
    data: Any,
    *,
    version: str | None = None,
    stored_at: float | None = None,
) -> SecretBundle:
    """Validate a decoded JSON value against the kind's shape; register the values with the
    log scrubber before anything else can see them."""
    if not isinstance(data, dict):
        raise SecretFormatError(
            f"secret {secret_id}: expected a JSON object with"
            f" {', '.join(REQUIRED[kind]) or 'fields'}",
            secret_id,
        )
    for name, value in data.items():  # first of all: nothing below may echo a value
        if isinstance(value, str) and not is_public_metadata(name, value):
            scrub.register(value)
    allowed = set(REQUIRED[kind]) | set(OPTIONAL[kind])
    unknown = sorted(k for k in data if k not in allowed)
    if unknown:
        raise SecretFormatError(
            f"secret {secret_id}: unexpected field(s) {', '.join(map(_safe_name, unknown))}"
            f" for a {kind} secret (allowed: {', '.join(sorted(allowed))})",
            secret_id,
        )
    missing = [k for k in REQUIRED[kind] if k not in data]
    if missing:
        raise SecretFormatError(
            f"secret {secret_id}: missing field(s) {', '.join(missing)}", secret_id
        )
    fields: dict[str, Secret] = {}
    for name in secret_fields(kind):
        if name not in data:
            continue
        value = data[name]
        if not isinstance(value, str):
            raise SecretFormatError(f"secret {secret_id}: field {name} must be a string", secret_id)
        if not value.strip():
            raise SecretFormatError(f"secret {secret_id}: field {name} is empty", secret_id)
        fields[name] = Secret(value, f"{secret_id}:{name}")
    if not fields:
        raise SecretFormatError(
            f"secret {secret_id}: needs at least one of {', '.join(secret_fields(kind))}",
            secret_id,
        )
    scope = data.get("scope")
    if scope is not None and scope not in SCOPES:
        raise SecretFormatError(
            f"secret {secret_id}: scope must be one of {', '.join(SCOPES)}", secret_id
        )
    created = data.get("created_at")
    created_at = parse_created_at(created, secret_id) if created is not None else stored_at
    return SecretBundle(
        secret_id=secret_id,
        kind=kind,
        fields=fields,
        scope=scope,
        version=version,
        created_at=created_at,
        stored_at=stored_at,
    )


def parse_text(
    secret_id: str,
    kind: SecretKind,
    text: str | None,
    *,
    version: str | None = None,
    stored_at: float | None = None,
) -> SecretBundle:
    if text is None or not text.strip():
        raise SecretFormatError(f"secret {secret_id}: the stored value is empty", secret_id)
    scrub.register(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SecretFormatError(
            f"secret {secret_id}: not valid JSON ({exc.msg} at line {exc.lineno}"
            f" column {exc.colno})",
            secret_id,
        ) from None
    return parse_payload(secret_id, kind, data, version=version, stored_at=stored_at)


def _safe_name(name: str) -> str:
    """A field name as shown in errors: short names only (a pasted value is no name)."""
    return repr(name) if len(name) <= 32 and name.isidentifier() else "<unprintable name>"


def encode(payload: Mapping[str, Any]) -> str:
    return json.dumps(dict(payload), separators=(",", ":"), sort_keys=True)
