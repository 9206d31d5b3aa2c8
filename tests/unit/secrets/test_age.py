"""Secret age: ok / warn from 80 days / critical from 90, from a real credential file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tradewarden.core.config import load_settings
from tradewarden.secrets.age import DAY, AgeStatus, age_status, check_ages, secret_ages
from tradewarden.secrets.bundle import SecretKind
from tradewarden.secrets.factory import build_source


@pytest.mark.parametrize(
    ("days", "status"),
    [(0, "ok"), (79.99, "ok"), (80, "warn"), (89.99, "warn"), (90, "critical"), (400, "critical")],
)
def test_thresholds(days: float, status: str) -> None:
    assert age_status(days * DAY) == status
    assert age_status(None) is AgeStatus.UNKNOWN


def test_ages_by_secret_id(tmp_path: Path, clean_env: None) -> None:
    s = load_settings(
        state_dir=tmp_path,
        secret_source="file",
        credential_file=tmp_path / "c.enc",
        credential_key=Fernet.generate_key().decode(),
    )
    src = build_source(s)
    now = time.time()
    created = time.strftime("%Y-%m-%d", time.gmtime(now - 85 * DAY))
    src.put(
        s.secret_trade_key_id,
        SecretKind.BINANCE,
        {"api_key": "k", "api_secret": "s"} | {"created_at": created},
    )
    src.put(s.secret_smtp_id, SecretKind.SMTP, {"username": "u", "password": "pw-xyz"})
    ages = {a.role: a for a in check_ages(s, src, now=now)}
    assert ages["trade"].status is AgeStatus.WARN and 84 < ages["trade"].age_days < 86
    assert ages["smtp"].status is AgeStatus.OK
    assert ages["read"].status is AgeStatus.ABSENT and ages["slack"].status is AgeStatus.ABSENT
    exported = secret_ages(s, src, now=now + 6 * DAY)
    assert set(exported) == {s.secret_trade_key_id, s.secret_smtp_id}
    assert age_status(exported[s.secret_trade_key_id]) is AgeStatus.CRITICAL


def test_a_missing_trade_key_is_an_error(tmp_path: Path, clean_env: None) -> None:
    s = load_settings(state_dir=tmp_path, secret_source="env")
    ages = check_ages(s, build_source(s))
    assert ages[0].role == "trade" and ages[0].status is AgeStatus.ERROR
    assert ages[0].status.failing and "TRADEWARDEN_BINANCE_API_KEY" in ages[0].detail
