"""Adversarial review of issue 13's config rules: each test is one attack that got a safety
limit switched off (or an ambiguous setting through) on the code before its fix."""

from __future__ import annotations

import pytest

from tradewarden.core.config import ConfigError, load_settings

pytestmark = pytest.mark.usefixtures("clean_env")


@pytest.mark.parametrize("profile", ["dev", "staging", "prod"])
@pytest.mark.parametrize("name", ["portfolio", "PORTFOLIO", "Portfolio"])
def test_attack_a_bot_named_portfolio_is_refused(
    monkeypatch: pytest.MonkeyPatch, profile: str, name: str
) -> None:
    """A bot named "portfolio" shares the key of the whole-portfolio breakers: its equity
    marks went to the daily-loss and portfolio-drawdown breakers, its own bot-drawdown
    breaker never saw it (switched off), and `reset --bot portfolio` cleared the portfolio
    emergency stop. The name is reserved."""
    monkeypatch.setenv("TRADEWARDEN_PROFILE", profile)
    monkeypatch.setenv("TRADEWARDEN_BOTS", f"{name}:BTCUSDT:ma_cross")
    with pytest.raises(ConfigError, match="TRADEWARDEN_BOTS"):
        load_settings()


@pytest.mark.parametrize(
    "var",
    [
        "TRADEWARDEN_MAX_NOTIONAL_PER_ORDER",  # the pre-trade notional check off
        "TRADEWARDEN_TWO_APPROVERS_USD",  # the two-approver rule off
        "TRADEWARDEN_PERMISSION_CHECK_SECONDS",  # the periodic key check never runs
        "TRADEWARDEN_SECRET_GRACE_SECONDS",  # a stale secret kept forever
        "TRADEWARDEN_ALERT_DEDUP_SECONDS",  # every repeated alert dropped forever
        "TRADEWARDEN_RECONCILE_INTERVAL_SECONDS",  # never reconciled
    ],
)
@pytest.mark.parametrize("value", ["inf", "Infinity", "1e999"])
def test_attack_infinite_limits_are_refused(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    """`inf` passed `gt=0` / `ge=0`: a limit set to infinity is a limit switched off."""
    monkeypatch.setenv("TRADEWARDEN_PROFILE", "prod")
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=var):
        load_settings()


@pytest.mark.parametrize(
    ("documented", "variant", "value"),
    [
        ("FINAL_HAMMER", "final_hammer", "true"),
        ("TRADEWARDEN_MODE", "tradewarden_mode", "live"),
        ("TRADEWARDEN_PROFILE", "Tradewarden_Profile", "dev"),
    ],
)
def test_attack_a_case_variant_env_name_is_refused(
    monkeypatch: pytest.MonkeyPatch, documented: str, variant: str, value: str
) -> None:
    """``FINAL_HAMMER=false`` with ``final_hammer=true`` in the same environment: one of
    them won depending on the environment's order (the env twin of the duplicate TOML key
    of issue 13, 10). Only the documented spelling is read; a variant is an error."""
    monkeypatch.setenv(variant, value)
    with pytest.raises(ConfigError, match=documented):
        load_settings()
    monkeypatch.setenv(documented, "false" if documented == "FINAL_HAMMER" else "paper")
    with pytest.raises(ConfigError, match=documented):
        load_settings()
