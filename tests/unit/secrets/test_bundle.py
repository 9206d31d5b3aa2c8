"""Secret shapes: bad input is one clear error naming the secret id, never the value."""

from __future__ import annotations

import json

import pytest

from tradewarden.secrets.bundle import SecretKind, parse_payload, parse_text
from tradewarden.secrets.errors import SecretFormatError

SID = "tradewarden/test/binance/trade"
VALUE = "bundle-canary-value-31337"


def error_of(text: str | None, kind: SecretKind = SecretKind.BINANCE) -> str:
    with pytest.raises(SecretFormatError) as info:
        parse_text(SID, kind, text)
    msg = str(info.value)
    assert SID in msg and info.value.secret_id == SID
    assert VALUE not in msg and VALUE not in repr(info.value)
    return msg


def test_a_good_binance_secret() -> None:
    b = parse_text(SID, SecretKind.BINANCE, json.dumps({"api_key": "k" * 64, "api_secret": VALUE}))
    assert b["api_secret"].reveal() == VALUE
    assert b.scope is None and b.created_at is None
    assert VALUE not in repr(b) and VALUE not in str(b)
    assert len(b.fingerprint()) == 4


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (None, "empty"),
        ("   ", "empty"),
        ("{not json " + VALUE, "not valid JSON"),
        (json.dumps([VALUE]), "expected a JSON object"),
        (json.dumps({"api_key": VALUE}), "missing field(s) api_secret"),
        (json.dumps({"api_key": "", "api_secret": VALUE}), "field api_key is empty"),
        (json.dumps({"api_key": "   ", "api_secret": VALUE}), "field api_key is empty"),
        (json.dumps({"api_key": 12345, "api_secret": VALUE}), "must be a string"),
        (json.dumps({"api_key": "k", "api_secret": VALUE, "scope": "mainnet"}), "scope"),
        (json.dumps({"api_key": "k", "api_secret": VALUE, "apisecret": VALUE}), "unexpected"),
        (json.dumps({"api_key": "k", "api_secret": "s", VALUE: "x"}), "unprintable name"),
        (
            json.dumps({"api_key": "k", "api_secret": VALUE, "created_at": "yesterday"}),
            "created_at",
        ),
    ],
)
def test_bad_shapes(text: str | None, needle: str) -> None:
    assert needle in error_of(text)


def test_slack_needs_one_value_and_smtp_both() -> None:
    assert "at least one" in error_of(json.dumps({}), SecretKind.SLACK)
    assert "missing field(s) password" in error_of(json.dumps({"username": VALUE}), SecretKind.SMTP)
    slack = parse_payload(SID, SecretKind.SLACK, {"webhook_url": "https://hooks/x/" + VALUE})
    assert slack.get("bot_token") is None and slack["webhook_url"]


def test_created_at_forms() -> None:
    base = {"api_key": "k", "api_secret": "s"}
    d = parse_payload(SID, SecretKind.BINANCE, base | {"created_at": "2024-01-02"})
    assert d.created_at == 1704153600.0
    t = parse_payload(SID, SecretKind.BINANCE, base | {"created_at": "2024-01-02T01:00:00+01:00"})
    assert t.created_at == 1704153600.0
    e = parse_payload(SID, SecretKind.BINANCE, base | {"created_at": 1704153600})
    assert e.created_at == 1704153600.0
    # without created_at the age is the stored version's
    s = parse_payload(SID, SecretKind.BINANCE, base, stored_at=5.0)
    assert s.created_at == 5.0 and s.age_seconds(15.0) == 10.0
