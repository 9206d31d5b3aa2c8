"""Settings: seed defaults, and one clear error naming the variable for each bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tradewarden.core.config import ConfigError, load_settings

pytestmark = pytest.mark.usefixtures("clean_env")


def test_seed_defaults() -> None:
    s = load_settings()
    assert s.binance_testnet is True
    assert s.final_hammer is False
    assert s.terms_accepted is False
    assert s.max_consecutive_losses == 3
    assert s.max_daily_loss_pct == 0.05
    assert s.max_bot_drawdown_pct == 0.25
    assert s.max_portfolio_drawdown_pct == 0.40
    assert s.hot_wallet_percentage == 0.15
    assert s.blocked_zones == (4, 5)
    assert s.mode == "paper"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("MAX_DAILY_LOSS_PCT", "1.5"),
        ("MAX_DAILY_LOSS_PCT", "-0.1"),
        ("MAX_BOT_DRAWDOWN_PCT", "0"),
        ("MAX_PORTFOLIO_DRAWDOWN_PCT", "abc"),
        ("HOT_WALLET_PERCENTAGE", "2"),
        ("MAX_CONSECUTIVE_LOSSES", "-3"),
        ("BINANCE_TESTNET", "ture"),
        ("FINAL_HAMMER", "maybe"),
        ("BINANCE_TERMS_ACCEPTED", "yes please"),
        ("TRADEWARDEN_MODE", "yolo"),
        ("TRADEWARDEN_PROFILE", "qa"),
        ("TRADEWARDEN_BLOCKED_ZONES", "Z9"),
        ("TRADEWARDEN_BOTS", "only-a-name"),
        ("TRADEWARDEN_SYMBOLS", "BTC/USDT"),
        ("TRADEWARDEN_METRICS_PORT", "70000"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert var in str(err.value)


def test_seed_style_booleans_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINANCE_TESTNET", "1")
    monkeypatch.setenv("FINAL_HAMMER", "FALSE")
    s = load_settings()
    assert s.binance_testnet is True and s.final_hammer is False


def test_toml_file_and_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "tw.toml"
    f.write_text('MAX_DAILY_LOSS_PCT = 0.03\nTRADEWARDEN_SYMBOLS = ["BTCUSDT"]\n')
    assert load_settings(f).max_daily_loss_pct == 0.03
    monkeypatch.setenv("MAX_DAILY_LOSS_PCT", "0.02")
    assert load_settings(f).max_daily_loss_pct == 0.02  # env wins


def test_toml_unknown_key_and_bad_syntax(tmp_path: Path) -> None:
    f = tmp_path / "tw.toml"
    f.write_text("MAX_DAILY_LOS_PCT = 0.03\n")
    with pytest.raises(ConfigError, match="MAX_DAILY_LOS_PCT: unknown setting"):
        load_settings(f)
    f.write_text("MAX_DAILY_LOSS_PCT = = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(f)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_secret_values_are_not_echoed(tmp_path: Path) -> None:
    f = tmp_path / "tw.toml"
    f.write_text("BINANCE_CREDENTIAL_KEY = 987654321\n")  # wrong type: error, value hidden
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    assert "BINANCE_CREDENTIAL_KEY" in str(err.value)
    assert "987654321" not in str(err.value)


def test_cli_exits_2_and_starts_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MAX_DAILY_LOSS_PCT": "7",
        "TRADEWARDEN_STATE_DIR": str(state),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tradewarden.cli.main", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "MAX_DAILY_LOSS_PCT" in proc.stderr
    assert not state.exists()  # nothing half-started


def test_unknown_cli_flag_exits_non_zero(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tradewarden.cli.main", "run", "--yolo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "--yolo" in proc.stderr


# --- issue 13 (10): only the documented names ------------------------------------------------
@pytest.mark.parametrize(
    ("var", "value", "field"),
    [
        ("MODE", "live", "mode"),
        ("PROFILE", "prod", "profile"),
        ("SECRET_SOURCE", "aws", "secret_source"),
        ("TERMS_ACCEPTED", "true", "terms_accepted"),
        ("BINANCE_BASE_URL", "https://api.binance.com", "binance_base_url"),
        ("STATE_DIR", "/tmp/elsewhere", "state_dir"),
        ("SYMBOLS", "DOGEUSDT", "symbols"),
    ],
)
def test_unprefixed_environment_names_are_ignored(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, field: str
) -> None:
    default = getattr(load_settings(), field)
    monkeypatch.setenv(var, value)
    assert getattr(load_settings(), field) == default


def test_a_setting_twice_in_the_file_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "tw.toml"
    f.write_text("FINAL_HAMMER = false\nfinal_hammer = true\n")
    with pytest.raises(ConfigError, match="FINAL_HAMMER: set twice"):
        load_settings(f)


def test_the_file_accepts_only_documented_names(tmp_path: Path) -> None:
    f = tmp_path / "tw.toml"
    f.write_text('mode = "live"\n')  # the field name, not TRADEWARDEN_MODE
    with pytest.raises(ConfigError, match="mode: unknown setting"):
        load_settings(f)
    f.write_text('tradewarden_mode = "testnet"\n')  # a documented name, any case
    assert load_settings(f).mode == "testnet"


def test_cli_run_exits_2_on_a_duplicate_file_key(tmp_path: Path) -> None:
    f = tmp_path / "tw.toml"
    f.write_text("FINAL_HAMMER = false\nFinal_Hammer = true\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tradewarden.cli.main", "run", "--config", str(f)],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert "FINAL_HAMMER" in proc.stderr


# --- issue 13 (9): safety limits cannot be switched off where live is possible -----------------
OFF_SWITCHES = [
    ("MAX_DAILY_LOSS_PCT", "1"),
    ("MAX_BOT_DRAWDOWN_PCT", "1"),
    ("MAX_PORTFOLIO_DRAWDOWN_PCT", "1"),
    ("MAX_PORTFOLIO_DRAWDOWN_PCT", "0.5"),
    ("MAX_CONSECUTIVE_LOSSES", "1000000"),
    ("HOT_WALLET_PERCENTAGE", "0.9"),
    ("HOT_WALLET_PERCENTAGE", "0.05"),
    ("TRADEWARDEN_BLOCKED_ZONES", ""),
    ("TRADEWARDEN_BLOCKED_ZONES", "Z5"),
]


@pytest.mark.parametrize("profile", ["prod", "staging"])
@pytest.mark.parametrize(("var", "value"), OFF_SWITCHES)
def test_live_profiles_refuse_a_limit_outside_its_band(
    monkeypatch: pytest.MonkeyPatch, profile: str, var: str, value: str
) -> None:
    monkeypatch.setenv("TRADEWARDEN_PROFILE", profile)
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert var in str(err.value)


def test_the_bands_admit_the_seed_defaults_and_tighter_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRADEWARDEN_PROFILE", "prod")
    assert load_settings().max_daily_loss_pct == 0.05
    monkeypatch.setenv("MAX_DAILY_LOSS_PCT", "0.02")
    monkeypatch.setenv("MAX_CONSECUTIVE_LOSSES", "2")
    monkeypatch.setenv("HOT_WALLET_PERCENTAGE", "0.2")
    monkeypatch.setenv("TRADEWARDEN_BLOCKED_ZONES", "Z3,Z4,Z5")
    s = load_settings()
    assert (s.max_daily_loss_pct, s.max_consecutive_losses, s.blocked_zones) == (0.02, 2, (3, 4, 5))
    monkeypatch.setenv("TRADEWARDEN_PROFILE", "dev")  # dev keeps only the field's range
    monkeypatch.setenv("MAX_CONSECUTIVE_LOSSES", "1000")
    assert load_settings().max_consecutive_losses == 1000


def test_cli_run_in_prod_exits_2_naming_the_setting(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.run(
        [sys.executable, "-m", "tradewarden.cli.main", "run"],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "TRADEWARDEN_PROFILE": "prod",
            "HOT_WALLET_PERCENTAGE": "0.9",
            "TRADEWARDEN_STATE_DIR": str(state),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "HOT_WALLET_PERCENTAGE" in proc.stderr and not state.exists()


@pytest.mark.parametrize("source", ["env", "aws", "file"])
@pytest.mark.parametrize("key", ["not-a-fernet-key", "A" * 43 + "=,also-bad", "short"])
def test_a_malformed_credential_key_is_refused_at_load(
    monkeypatch: pytest.MonkeyPatch, source: str, key: str
) -> None:
    monkeypatch.setenv("TRADEWARDEN_SECRET_SOURCE", source)
    monkeypatch.setenv("BINANCE_CREDENTIAL_KEY", key)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "BINANCE_CREDENTIAL_KEY" in str(err.value)
    for part in key.split(","):
        assert part not in str(err.value)


def test_a_well_formed_credential_key_list_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    keys = f"{Fernet.generate_key().decode()}, {Fernet.generate_key().decode()}"
    monkeypatch.setenv("BINANCE_CREDENTIAL_KEY", keys)
    assert load_settings().credential_key is not None
