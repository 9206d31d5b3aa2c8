"""A Binance secret's scope ("live"/"testnet") and created_at date are public metadata
(`secrets check` and `status` print them): registered with the log scrubber they blanked
every "live"/"testnet" and that date in every log line ("mode": "***", "live was not
requested" -> "*** was not requested"). The key and secret are still scrubbed, and a
malformed metadata value is still treated as a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tradewarden.secrets import scrub
from tradewarden.secrets.bundle import SecretKind, parse_payload
from tradewarden.secrets.errors import SecretFormatError
from tradewarden.secrets.fernet_file import FernetFileSource

KEY = "metatest-APIKEY-" + "k" * 40
SECRET = "metatest-SECRET-" + "s" * 40
LINE = 'mode testnet; live was not requested; key made 2025-01-31; {"mode": "live"}'


@pytest.fixture()
def registry(monkeypatch: pytest.MonkeyPatch) -> scrub.SecretRegistry:
    fresh = scrub.SecretRegistry()
    monkeypatch.setattr(scrub, "REGISTRY", fresh)
    return fresh


@pytest.mark.parametrize("scope", ["live", "testnet"])
def test_parsing_a_secret_scrubs_its_values_not_its_metadata(
    registry: scrub.SecretRegistry, scope: str
) -> None:
    payload = {"api_key": KEY, "api_secret": SECRET, "scope": scope, "created_at": "2025-01-31"}
    parse_payload("tradewarden/dev/binance/trade", SecretKind.BINANCE, payload)
    assert scrub.scrub(LINE) == LINE
    assert scrub.scrub(f"{KEY} {SECRET}") == "*** ***"


def test_a_malformed_metadata_value_is_still_scrubbed(registry: scrub.SecretRegistry) -> None:
    oops = "pasted-the-secret-here-" + "x" * 20
    with pytest.raises(SecretFormatError):
        parse_payload(
            "id", SecretKind.BINANCE, {"api_key": KEY, "api_secret": SECRET, "scope": oops}
        )
    assert scrub.scrub(oops) == "***"


def test_reading_the_credential_file_scrubs_values_not_metadata(
    registry: scrub.SecretRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Fernet.generate_key().decode()
    path = tmp_path / "creds.enc"
    payload = {"api_key": KEY, "api_secret": SECRET, "scope": "live", "created_at": "2025-01-31"}
    FernetFileSource(path, key).put("tradewarden/dev/binance/trade", SecretKind.BINANCE, payload)
    monkeypatch.setattr(scrub, "REGISTRY", fresh := scrub.SecretRegistry())  # a new process
    FernetFileSource(path, key).get("tradewarden/dev/binance/trade", SecretKind.BINANCE)
    assert len(fresh) > 0
    assert scrub.scrub(LINE) == LINE
    assert scrub.scrub(KEY) == "***"


@pytest.mark.parametrize(
    "created_at",
    [
        "2025-01-31T00:00:00.83920174461038572910",  # digits past the microsecond are dropped
        "20250131T000000.839201744610385729104711",  # the basic format, same
        "2025-01-31T00:00:00,839201744610385729",
    ],
)
def test_attack_a_date_carrying_more_than_a_date_is_scrubbed(
    registry: scrub.SecretRegistry, created_at: str
) -> None:
    """Adversarial review: Python's ISO parser accepts (and silently drops) any number of
    digits after the microseconds, so a secret pasted behind the date was "well-formed"
    metadata: stored, accepted and never scrubbed. Only a date as `secrets check` would
    print it is metadata; anything else in created_at is scrubbed like a value."""
    payload = {"api_key": KEY, "api_secret": SECRET, "created_at": created_at}
    bundle = parse_payload("tradewarden/dev/binance/trade", SecretKind.BINANCE, payload)
    assert bundle.created_at is not None  # still a usable date
    assert scrub.scrub(f"created {created_at}") == "created ***"


@pytest.mark.parametrize(
    "created_at", ["2025-01-31", "2025-01-31T12:34:56", "2025-01-31T12:34:56.123456+00:00"]
)
def test_a_plain_date_or_date_time_is_metadata(
    registry: scrub.SecretRegistry, created_at: str
) -> None:
    payload = {"api_key": KEY, "api_secret": SECRET, "created_at": created_at}
    parse_payload("tradewarden/dev/binance/trade", SecretKind.BINANCE, payload)
    assert scrub.scrub(created_at) == created_at
