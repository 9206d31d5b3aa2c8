"""How old each secret is: ok below 80 days, warn from 80, critical from 90 (the seed's
90-day rotation period).

The age is that of the key: ``created_at`` in the secret when the operator gave one (a key
made on Binance before it was stored), else the creation time of the stored version
(Secrets Manager's version ``CreatedDate``, the file entry's ``stored_at``). The env source
knows no age ("unknown").
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from tradewarden.core.config import Settings
from tradewarden.secrets.bundle import SecretRole
from tradewarden.secrets.errors import SecretError, SecretNotFoundError
from tradewarden.secrets.source import Source

DAY = 86_400.0
WARN_DAYS = 80
CRITICAL_DAYS = 90


class AgeStatus(StrEnum):
    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"
    UNKNOWN = "unknown"  # the source keeps no dates (env)
    ABSENT = "absent"  # optional secret not stored
    ERROR = "error"  # could not be read: see detail

    @property
    def failing(self) -> bool:
        return self in (AgeStatus.CRITICAL, AgeStatus.ERROR)


def age_status(age_s: float | None) -> AgeStatus:
    if age_s is None:
        return AgeStatus.UNKNOWN
    if age_s >= CRITICAL_DAYS * DAY:
        return AgeStatus.CRITICAL
    if age_s >= WARN_DAYS * DAY:
        return AgeStatus.WARN
    return AgeStatus.OK


@dataclass(frozen=True)
class SecretAge:
    role: str
    secret_id: str
    status: AgeStatus
    age_s: float | None = None
    fingerprint: str | None = None
    version: str | None = None
    detail: str = ""

    @property
    def age_days(self) -> float | None:
        return None if self.age_s is None else self.age_s / DAY

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = str(self.status)
        d["age_days"] = None if self.age_days is None else round(self.age_days, 2)
        return d


def configured_roles(settings: Settings) -> list[SecretRole]:
    """Every role once per distinct secret id (read is skipped when it is the trade id)."""
    seen: set[str] = set()
    out = []
    for role in SecretRole:
        sid = role.secret_id(settings)
        if sid not in seen:
            seen.add(sid)
            out.append(role)
    return out


def check_ages(settings: Settings, source: Source, now: float | None = None) -> list[SecretAge]:
    now = time.time() if now is None else now
    out = []
    for role in configured_roles(settings):
        sid = role.secret_id(settings)
        try:
            bundle = source.get(sid, role.kind)
        except SecretNotFoundError as exc:
            if role is SecretRole.TRADE:
                out.append(SecretAge(role.value, sid, AgeStatus.ERROR, detail=str(exc)))
            else:
                note = "reads use the trade key" if role is SecretRole.READ else "not configured"
                out.append(SecretAge(role.value, sid, AgeStatus.ABSENT, detail=note))
            continue
        except SecretError as exc:
            out.append(SecretAge(role.value, sid, AgeStatus.ERROR, detail=str(exc)))
            continue
        age = bundle.age_seconds(now)
        out.append(
            SecretAge(
                role.value,
                sid,
                age_status(age),
                age,
                bundle.fingerprint(),
                bundle.version,
            )
        )
    return out


def secret_ages(settings: Settings, source: Source, now: float | None = None) -> dict[str, float]:
    """Seconds since each readable, dated secret was created, by secret id (for the
    daemon's age gauge). Secrets that are absent, unreadable or undated are left out."""
    return {
        a.secret_id: a.age_s
        for a in check_ages(settings, source, now)
        if a.age_s is not None and a.status is not AgeStatus.ERROR
    }
