from __future__ import annotations

import re
import shlex
from collections.abc import Callable

import pytest

from tradewarden.alerts import catalogue as cat
from tradewarden.alerts.model import Alert, Severity
from tradewarden.alerts.notifier import alert_for

BASE = "https://runbooks.example/rb/"

SAMPLES: dict[str, Callable[[], Alert]] = {
    "breaker_tripped": lambda: cat.breaker_tripped(
        "daily_loss", "trend-btc", 0.052, 0.05, orders_cancelled=["tw-1"], runbook_base_url=BASE
    ),
    "emergency_stop": lambda: cat.emergency_stop(
        "portfolio drawdown", value=0.41, threshold=0.4, runbook_base_url=BASE
    ),
    "manual_halt": lambda: cat.manual_halt("ana", reason="desk review", runbook_base_url=BASE),
    "system_error": lambda: cat.system_error("exchange", "timeout", runbook_base_url=BASE),
    "key_permissions_changed": lambda: cat.key_permissions_changed(
        {"enableWithdrawals": True}, runbook_base_url=BASE
    ),
    "foreign_order": lambda: cat.foreign_order("BTCUSDT", 991, runbook_base_url=BASE),
    "futures_margin_call": lambda: cat.futures_margin_call(
        [{"symbol": "BTCUSDT", "amount": 0.01, "maintenance_margin": 4.2}], runbook_base_url=BASE
    ),
    "audit_chain_broken": lambda: cat.audit_chain_broken(
        "audit/2026-11-25.jsonl", 17, "hash mismatch", runbook_base_url=BASE
    ),
    "large_position_opened": lambda: cat.large_position_opened(
        "trend-btc", "BTCUSDT", 2500.0, 2000.0, runbook_base_url=BASE
    ),
    "approaching_breaker": lambda: cat.approaching_breaker(
        "daily_loss", "trend-btc", 0.041, 0.05, runbook_base_url=BASE
    ),
    "unusual_activity": lambda: cat.unusual_activity(
        "rejected orders", 12, 5, 60, runbook_base_url=BASE
    ),
    "low_balance": lambda: cat.low_balance("USDT", 40.0, 100.0, runbook_base_url=BASE),
    "rebalance_proposed": lambda: cat.rebalance_proposed(
        "hot_to_cold", 1200.0, "hot above 120%", runbook_base_url=BASE
    ),
    "bot_started": lambda: cat.bot_started("trend-btc", mode="paper", runbook_base_url=BASE),
    "bot_stopped": lambda: cat.bot_stopped("trend-btc", "SIGTERM", runbook_base_url=BASE),
    "rebalance_executed": lambda: cat.rebalance_executed(
        "cold_to_hot", 500.0, runbook_base_url=BASE
    ),
    "daily_summary": lambda: cat.daily_summary(
        "2026-11-24", 123.4, 17, {"daily_loss": 0.8}, runbook_base_url=BASE
    ),
    # warning at 80 days; critical at 90 (test_secret_age_is_critical_from_90_days)
    "secret_age": lambda: cat.secret_age(
        "tradewarden/prod/binance/trade", 84.2, critical=False, runbook_base_url=BASE
    ),
}

SEED_SEVERITY = {
    Severity.CRITICAL: {
        "breaker_tripped",
        "emergency_stop",
        "manual_halt",
        "system_error",
        "key_permissions_changed",
        "foreign_order",
        "futures_margin_call",
        "audit_chain_broken",
    },
    Severity.WARNING: {
        "large_position_opened",
        "approaching_breaker",
        "unusual_activity",
        "low_balance",
        "rebalance_proposed",
        "secret_age",
    },
    Severity.INFO: {"bot_started", "bot_stopped", "rebalance_executed", "daily_summary"},
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_each_alert_has_its_seed_severity_and_a_runbook(kind: str) -> None:
    alert = SAMPLES[kind]()
    assert alert.kind == kind
    assert kind in SEED_SEVERITY[alert.severity]
    assert alert.runbook_url == BASE + cat.RUNBOOKS[kind]
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*\.md", cat.RUNBOOKS[kind])
    assert alert.title and alert.dedup_key


def test_every_catalogue_kind_is_covered_here() -> None:
    assert set(cat.RUNBOOKS) - {"custom"} == set(SAMPLES)


@pytest.mark.parametrize("kind", sorted(SEED_SEVERITY[Severity.CRITICAL]))
def test_critical_alerts_carry_the_exact_reset_command(kind: str) -> None:
    cmd = SAMPLES[kind]().reset_command
    assert cmd is not None
    argv = shlex.split(cmd)
    assert argv[:3] == ["tradewarden", "reset", "--reason"]
    assert argv[4] in ("--all", "--breaker")  # scoped (issue 13): never a bare reset


def test_reset_command_survives_hostile_names() -> None:
    alert = cat.breaker_tripped('dai"ly$(rm -rf /)`x`', "bot\\!", 1.0, 0.5)
    argv = shlex.split(alert.reset_command or "")
    assert argv[:3] == ["tradewarden", "reset", "--reason"]
    assert argv[4:] == ["--breaker", "dailyrm-rfx", "--bot", "bot"]
    for arg in argv[3:]:
        assert "$" not in arg and "`" not in arg and '"' not in arg


def test_breaker_reset_command_points_at_the_tripped_breaker_only() -> None:
    """Issue 13: the alert's command clears that trip, not every trip and halt."""
    cmd = cat.breaker_tripped("consecutive_losses", "trend-btc", 3, 3).reset_command or ""
    assert shlex.split(cmd)[4:] == ["--breaker", "consecutive_losses", "--bot", "trend-btc"]
    cmd = cat.breaker_tripped("daily_loss", None, 0.06, 0.05).reset_command or ""
    assert shlex.split(cmd)[4:] == ["--breaker", "daily_loss"]


def test_breaker_trip_context_says_what_value_state_and_actions() -> None:
    alert = cat.breaker_tripped(
        "daily_loss",
        "trend-btc",
        0.052,
        0.05,
        orders_cancelled=["tw-1", "tw-2"],
        positions_closed=["trend-btc:BTCUSDT"],
    )
    ctx = alert.context
    assert ctx["what"] == "daily_loss breaker on trend-btc"
    assert (ctx["value"], ctx["threshold"], ctx["unit"]) == (0.052, 0.05, "pct")
    assert ctx["state"] == "HALTED"
    assert ctx["orders_cancelled"] == ["tw-1", "tw-2"]
    assert ctx["positions_closed"] == ["trend-btc:BTCUSDT"]
    assert cat.breaker_tripped("consecutive_losses", "b", 3, 3).context["unit"] == "count"


def test_approaching_breaker_reports_its_ratio() -> None:
    alert = cat.approaching_breaker("daily_loss", "trend-btc", 0.04, 0.05)
    assert "80%" in alert.title
    assert alert.context["ratio"] == 0.8


def test_info_lifecycle_alerts_are_never_deduplicated_against_each_other() -> None:
    a = cat.bot_started("trend-btc", created_at=1.0)
    b = cat.bot_started("trend-btc", created_at=2.0)
    assert a.dedup_key != b.dedup_key


def test_daemon_notify_kinds_map_to_catalogue_alerts() -> None:
    trip = alert_for(
        "breaker_tripped",
        {
            "breaker": "daily_loss",
            "bot": None,
            "value": 0.06,
            "threshold": 0.05,
            "reason": "daily loss 6%",
            "orders_cancelled": ["tw-9"],
            "positions_closed": [],
            "state": "HALTED",
        },
        BASE,
    )
    assert trip.kind == "breaker_tripped" and trip.severity is Severity.CRITICAL
    assert trip.context["what"] == "daily_loss breaker on portfolio"
    assert trip.runbook_url == BASE + "breaker-tripped.md"

    stop = alert_for(
        "emergency_stop",
        {"breaker": "portfolio_drawdown", "bot": None, "value": 0.41, "threshold": 0.4},
        BASE,
    )
    assert stop.kind == "emergency_stop" and stop.context["value"] == 0.41

    near = alert_for(
        "approaching_breaker",
        {"breaker": "bot_drawdown", "bot": "b", "value": 0.2, "threshold": 0.25},
        BASE,
    )
    assert near.kind == "approaching_breaker" and near.severity is Severity.WARNING

    halt = alert_for("manual_halt", {"action": "halt", "reason": "r", "actor": "ana"}, BASE)
    assert halt.kind == "manual_halt" and "ana" in halt.title
    assert halt.severity is Severity.CRITICAL
    assert halt.runbook_url == BASE + "emergency-stop.md"


def test_a_manual_halt_and_an_emergency_stop_never_share_a_dedup_key() -> None:
    """Issue 13, defect 6: the halt's key was "emergency-stop", the stop's too, so a real
    drawdown stop inside the dedup window after a manual halt was dropped."""
    halt = alert_for("manual_halt", {"action": "halt", "reason": "r", "actor": "ana"}, BASE)
    stop = alert_for(
        "emergency_stop", {"breaker": "portfolio_drawdown", "bot": None, "value": 0.41}, BASE
    )
    assert halt.kind != stop.kind
    assert halt.dedup_key != stop.dedup_key
    assert stop.dedup_key == cat.trip_dedup_key("portfolio_drawdown", None, emergency=True)
    # nothing else in the catalogue uses the emergency stop's key either
    others = [make() for kind, make in SAMPLES.items() if kind != "emergency_stop"]
    others += [
        alert_for(
            "breaker_tripped",
            {"breaker": "portfolio_drawdown", "bot": None, "value": 0.41, "threshold": 0.4},
            BASE,
        )
    ]
    assert stop.dedup_key not in {a.dedup_key for a in others}


def test_unknown_kinds_still_become_alerts() -> None:
    alert = alert_for("weird_thing", {"x": 1}, BASE)
    assert alert.kind == "custom" and alert.severity is Severity.WARNING
    assert alert.context == {"x": 1}
    # a known kind with context it does not fit falls back instead of raising
    odd = alert_for("low_balance", {"asset": "USDT"}, BASE)
    assert odd.kind == "custom"


def _cli() -> object:
    import typer

    from tradewarden.cli.main import app

    return typer.main.get_command(app)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_command_an_alert_tells_a_responder_to_type_exists(kind: str) -> None:
    root = _cli()
    commands = [v for k, v in SAMPLES[kind]().context.items() if k.endswith("_command")]
    for text in commands:
        argv = shlex.split(text)
        assert argv[0] == "tradewarden"
        group, rest = root, argv[1:]
        while hasattr(group, "commands"):  # a command group (typer vendors its own click)
            assert rest and rest[0] in group.commands, f"{text}: no command {rest[:1]}"  # type: ignore[attr-defined]
            group, rest = group.commands[rest[0]], rest[1:]  # type: ignore[attr-defined]
        known = {opt for p in group.params for opt in p.opts}  # type: ignore[attr-defined]
        for word in rest:
            if word.startswith("-"):
                assert word in known, f"{text}: no option {word}"


def test_secret_age_is_critical_from_90_days() -> None:
    a = alert_for("secret_age", {"secret": "s/slack", "age_days": 95.0, "critical": True}, BASE)
    assert a.kind == "secret_age" and a.severity is Severity.CRITICAL
    assert "past the 90-day rotation" in a.title and a.dedup_key == "secret-age:s/slack:critical"
