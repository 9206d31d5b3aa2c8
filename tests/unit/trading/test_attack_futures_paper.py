"""Attacks on the paper futures envelope (issue 20): each must be refused.

- exceed the leverage limit (an oversized entry, a position leverage above the limit, a
  prod limit above 5x);
- a non-reduceOnly order while REDUCING;
- a short opened while the market is in Z5;
- the liquidation-distance breaker switched off (or narrowed to nothing) by settings in
  prod.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import LogNotifier
from tradewarden.core.config import ConfigError, SecretSource, load_settings
from tradewarden.core.models import OrderRequest, Side, Tick
from tradewarden.risk.reasons import DenyReason
from tradewarden.risk.state import TradingState
from tradewarden.runtime.daemon import Daemon
from tradewarden.strategy import Signal

T0 = 1_767_571_200.0


@pytest.fixture()
def daemon(tmp_path: Path, clean_env: None):
    settings = load_settings(
        state_dir=tmp_path,
        futures_enabled=True,
        futures_leverage=3,
        bots=("f1:BTCUSDT:ma_cross_ls",),
        symbols=("BTCUSDT",),
        max_notional_per_order=1_000_000.0,
    )
    d = Daemon(settings, notifier=LogNotifier())
    d.trader.on_tick(Tick(T0, "BTCUSDT", 30_000, 30_010, 29_990, 30_000, 1.0))
    yield d
    d.close()


def test_attack_an_entry_above_max_leverage_is_refused(daemon: Daemon) -> None:
    d = daemon
    equity = d.ledger.equity("f1")
    qty = round(3.01 * equity / 30_000, 6)  # just over 3x the bot's equity
    sub = d.gate.submit(OrderRequest("f1", "BTCUSDT", Side.SELL, qty), 30_000.0)
    assert sub.denied is DenyReason.MAX_LEVERAGE
    assert d.trader.futures.position("f1", "BTCUSDT").qty == 0.0
    # building up to it in steps is refused at the step that crosses the limit
    step = round(0.9 * equity / 30_000, 6)
    for _ in range(3):  # 0.9x, 1.8x, 2.7x
        assert d.gate.submit(OrderRequest("f1", "BTCUSDT", Side.SELL, step), 30_000.0).accepted
        d.trader.process_fills()
    fourth = d.gate.submit(OrderRequest("f1", "BTCUSDT", Side.SELL, step), 30_000.0)
    assert fourth.denied is DenyReason.MAX_LEVERAGE


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"futures_leverage": 4}, "TRADEWARDEN_FUTURES_LEVERAGE"),
        ({"profile": "prod", "futures_max_leverage": 6}, "TRADEWARDEN_FUTURES_MAX_LEVERAGE"),
        ({"profile": "prod", "futures_max_leverage": 10}, "TRADEWARDEN_FUTURES_MAX_LEVERAGE"),
        ({"futures_max_leverage": 0}, "TRADEWARDEN_FUTURES_MAX_LEVERAGE"),
    ],
    ids=["leverage-above-max", "prod-max-6x", "prod-max-10x", "max-0"],
)
def test_attack_leverage_settings_above_the_limit_are_refused(
    tmp_path: Path, clean_env: None, overrides: dict[str, object], setting: str
) -> None:
    with pytest.raises(ConfigError, match=setting):
        load_settings(state_dir=tmp_path, **overrides)


def test_attack_a_non_reduce_only_order_while_reducing_is_refused(daemon: Daemon) -> None:
    d = daemon
    assert d.trader.place(d.bots[0], Signal(Side.SELL, 2, True, "short"), 30_000.0).accepted
    held = d.ledger.books["f1"].qty
    d.risk.halt("drill", "tester", reducing=True)
    assert d.risk.state is TradingState.REDUCING
    # the cover without the flag, an add to the short, a reduceOnly that would add
    for req in (
        OrderRequest("f1", "BTCUSDT", Side.BUY, -held / 2, directional=False),
        OrderRequest("f1", "BTCUSDT", Side.SELL, 0.001),
        OrderRequest("f1", "BTCUSDT", Side.SELL, 0.001, reduce_only=True),
    ):
        sub = d.gate.submit(req, 30_000.0)
        assert sub.denied in (DenyReason.REDUCING_ONLY, DenyReason.REDUCE_ONLY_INVALID), req
    assert d.ledger.books["f1"].qty == held
    ok = d.gate.submit(
        OrderRequest("f1", "BTCUSDT", Side.BUY, -held / 2, directional=False, reduce_only=True),
        30_000.0,
    )
    assert ok.accepted


def test_attack_a_short_while_z5_is_refused(daemon: Daemon) -> None:
    d = daemon
    sub = d.trader.place(d.bots[0], Signal(Side.SELL, 5, True, "short into a crash"), 30_000.0)
    assert sub.denied is DenyReason.VOLATILITY_ZONE
    assert d.trader.futures.position("f1", "BTCUSDT").qty == 0.0


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"liq_distance_flatten_pct": 0.001}, "TRADEWARDEN_LIQ_DISTANCE_FLATTEN_PCT"),
        ({"liq_distance_reduce_pct": 0.05, "liq_distance_flatten_pct": 0.02}, "_REDUCE_PCT"),
        ({"liq_distance_flatten_pct": 0.5}, "TRADEWARDEN_LIQ_DISTANCE_FLATTEN_PCT"),
    ],
    ids=["flatten-never", "both-tiny", "flatten-above-reduce"],
)
def test_attack_the_breaker_cannot_be_switched_off_in_prod(
    tmp_path: Path, clean_env: None, overrides: dict[str, object], setting: str
) -> None:
    with pytest.raises(ConfigError, match=setting):
        load_settings(state_dir=tmp_path, profile="prod", **overrides)
    with pytest.raises(ConfigError, match="TRADEWARDEN_LIQ_DISTANCE_FLATTEN_PCT"):
        load_settings(state_dir=tmp_path, liq_distance_flatten_pct=0)  # any profile


def test_attack_futures_in_live_mode_is_the_gates_decision(tmp_path: Path, clean_env: None) -> None:
    # the settings accept live futures; the live gate refuses them without the futures key
    # check and a futures promotion (a spot promotion is not enough)
    from tradewarden.live.gate import live_gate
    from tradewarden.live.key_permissions import PermissionResult
    from tradewarden.live.promotion import PromotionCheck

    s = load_settings(
        state_dir=tmp_path,
        futures_enabled=True,
        mode="live",
        profile="prod",
        binance_testnet=False,
        final_hammer=True,
        terms_accepted=True,
        secret_source=SecretSource.AWS,
    )
    spot_key = PermissionResult(ok=True, role="trade", futures=False)
    spot_promo = PromotionCheck(True, "b1 promoted", "spot")
    d = live_gate(s, permissions=spot_key, promotions=[spot_promo])
    assert not d.live and d.failed == ("futures",), d.blockers
    assert not live_gate(s).live  # no key check, no promotion: not live
    # prod keeps its leverage band
    with pytest.raises(ConfigError, match="TRADEWARDEN_FUTURES_MAX_LEVERAGE"):
        load_settings(
            state_dir=tmp_path,
            futures_enabled=True,
            mode="live",
            profile="prod",
            futures_max_leverage=6,
        )
