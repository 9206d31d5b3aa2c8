"""The env source: development only; refused in prod; names the variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.core.config import load_settings
from tradewarden.secrets.bundle import SecretKind
from tradewarden.secrets.credentials import alert_secrets, binance_keys
from tradewarden.secrets.env import EnvSource
from tradewarden.secrets.errors import SecretConfigError, SecretFormatError, SecretNotFoundError
from tradewarden.secrets.factory import build_source


@pytest.fixture()
def settings(tmp_path: Path, clean_env: None):
    return load_settings(state_dir=tmp_path, secret_source="env")


def test_reads_the_trade_pair_and_the_alert_secrets(settings) -> None:
    env = {
        "TRADEWARDEN_BINANCE_API_KEY": "env-key-1",
        "TRADEWARDEN_BINANCE_API_SECRET": "env-secret-1",
        "TRADEWARDEN_SLACK_TOKEN": "test-slack-env-token",
        "TRADEWARDEN_SMTP_USERNAME": "alerts",
        "TRADEWARDEN_SMTP_PASSWORD": "env-smtp-pw",
    }
    src = EnvSource(settings, env)
    keys = binance_keys(settings, src)
    assert not keys.separate  # no read pair: reads use the trade key
    key, secret = keys.trade()
    assert (key.reveal(), secret.reveal()) == ("env-key-1", "env-secret-1")
    got = alert_secrets(settings, src)
    assert sorted(got) == ["slack_bot_token", "smtp_password", "smtp_username"]
    assert got["smtp_password"].reveal() == "env-smtp-pw"


def test_a_separate_read_pair(settings) -> None:
    env = {
        "TRADEWARDEN_BINANCE_API_KEY": "k",
        "TRADEWARDEN_BINANCE_API_SECRET": "s",
        "TRADEWARDEN_BINANCE_READ_API_KEY": "rk",
        "TRADEWARDEN_BINANCE_READ_API_SECRET": "rs",
    }
    keys = binance_keys(settings, EnvSource(settings, env))
    assert keys.separate and keys.read()[0].reveal() == "rk"


def test_missing_and_half_set_pairs_name_the_variables(settings) -> None:
    with pytest.raises(SecretNotFoundError, match="TRADEWARDEN_BINANCE_API_KEY"):
        EnvSource(settings, {}).get(settings.secret_trade_key_id)
    with pytest.raises(SecretFormatError) as info:
        EnvSource(settings, {"TRADEWARDEN_BINANCE_API_KEY": "only-key-x"}).get(
            settings.secret_trade_key_id
        )
    assert "TRADEWARDEN_BINANCE_API_SECRET" in str(info.value)
    assert "only-key-x" not in str(info.value)
    with pytest.raises(SecretNotFoundError, match="not one of the configured"):
        EnvSource(settings, {}).get("some/other/id", SecretKind.BINANCE)


def test_prod_refuses_the_env_source(tmp_path: Path, clean_env: None) -> None:
    prod = load_settings(state_dir=tmp_path, secret_source="env", profile="prod")
    with pytest.raises(SecretConfigError, match="TRADEWARDEN_SECRET_SOURCE=env.*prod"):
        build_source(prod)
    staging = load_settings(state_dir=tmp_path, secret_source="env", profile="staging")
    assert isinstance(build_source(staging), EnvSource)
