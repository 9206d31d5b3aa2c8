"""Live futures (issue 20) against the fake as the live exchange (loopback with
BINANCE_TESTNET=false in the staging profile, keys in Secrets Manager on moto), as the spot
live-gate tests do it (test_secrets_and_live_gate.py): the settings no longer refuse live
futures, the live gate decides. Futures live needs the whole spot gate plus
TRADEWARDEN_FUTURES_ENABLED=true, a trade key with enableFutures whose futures account may
trade, and a futures promotion; `why_not_live` names each one that is missing. A futures
bot with everything met trades live on ``/fapi``, and its key losing the futures account's
``canTrade`` halts it at the next periodic check."""

from __future__ import annotations

import dataclasses
import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import status, wait_for
from tests.integration.testnet.conftest import KEY, SECRET, Running
from tradewarden.core.config import Mode, SecretSource, Settings, load_settings
from tradewarden.live.paper_report import evaluate
from tradewarden.live.promotion import binding, promote
from tradewarden.runtime.wiring import plan_run
from tradewarden.secrets.factory import build_source
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store

TRADE_ID = "tradewarden/staging/binance/trade"
ADMIN_ID = "tradewarden/staging/admin"
PROMOTION_KEY = "promotion-hmac-key-" + "f" * 16
BOT, SYMBOL, STRATEGY = "f1", "BTCUSDT", "ma_cross_ls"
MOTO = "testing"  # moto's throwaway AWS credentials

LIVE = {
    "TRADEWARDEN_MODE": "live",
    "BINANCE_TESTNET": "false",
    "FINAL_HAMMER": "true",
    "BINANCE_TERMS_ACCEPTED": "true",
    "TRADEWARDEN_PROFILE": "staging",
    "TRADEWARDEN_SECRET_SOURCE": SecretSource.AWS.value,
    "TRADEWARDEN_SECRET_TRADE_KEY_ID": TRADE_ID,
    "TRADEWARDEN_SECRET_READ_KEY_ID": TRADE_ID,
    "TRADEWARDEN_SECRET_ADMIN_ID": ADMIN_ID,
    "TRADEWARDEN_FUTURES_ENABLED": "true",
    "TRADEWARDEN_FUTURES_LEVERAGE": "2",
    "TRADEWARDEN_FUTURES_MAX_LEVERAGE": "3",
    "TRADEWARDEN_SYMBOLS": SYMBOL,
    "TRADEWARDEN_BOTS": f"{BOT}:{SYMBOL}:{STRATEGY}",
}


@pytest.fixture()
def sm(aws_env: str) -> Any:
    client = boto3.client("secretsmanager")
    client.create_secret(
        Name=TRADE_ID, SecretString=json.dumps({"api_key": KEY, "api_secret": SECRET})
    )
    client.create_secret(Name=ADMIN_ID, SecretString=json.dumps({"promotion_key": PROMOTION_KEY}))
    return client


def _promote(state: Path, market: str) -> None:
    report = dataclasses.replace(
        evaluate([2.0] * 70 + [-1.0] * 30, [10_000.0 + i for i in range(101)]),
        bot=BOT,
        market=market,
    )
    store = Store(state / "tradewarden.sqlite3")
    try:
        promote(store, Secret(PROMOTION_KEY), report, binding(BOT, SYMBOL, STRATEGY, market), "t")
    finally:
        store.close()


def live_settings(fx: FakeBinance, state: Path, **over: str) -> Settings:
    env = {**LIVE, "TRADEWARDEN_BINANCE_BASE_URL": fx.url, **over}
    fields = {k.removeprefix("TRADEWARDEN_").lower(): v for k, v in env.items()}
    return load_settings(state_dir=state, recv_window_ms=5000, **fields)


def fposts(fx: FakeBinance) -> list[dict[str, Any]]:
    return [r for r in fx.requests() if r["method"] == "POST" and r["path"] == "/fapi/v1/order"]


@pytest.mark.usefixtures("sm")
@pytest.mark.parametrize(
    "case",
    [
        {"promote": "spot", "expect": ["a spot promotion: a futures bot needs a futures"]},
        {
            "promote": "futures",
            "restrictions": {"enableFutures": False},
            "expect": ["enableFutures is false"],
        },
        {"promote": "futures", "can_trade": False, "expect": ["canTrade is false"]},
        {"promote": None, "expect": ["no paper-to-live futures promotion record for bot f1"]},
        {
            "promote": "spot",
            "restrictions": {"enableFutures": False},
            "can_trade": False,
            "expect": ["enableFutures is false", "canTrade is false", "a spot promotion"],
        },
    ],
    ids=[
        "spot-promotion-only",
        "key-without-futures",
        "account-cannot-trade",
        "no-promotion",
        "all-missing",
    ],
)
def test_why_not_live_names_each_missing_futures_condition(
    ffx: FakeBinance, tmp_path: Path, case: dict[str, Any]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    if case["promote"]:
        _promote(state, case["promote"])
    if "restrictions" in case:
        ffx.add_key(KEY, SECRET, restrictions=case["restrictions"])
    if case.get("can_trade") is False:
        ffx.futures_set_can_trade(False)
    settings = live_settings(ffx, state)
    plan = plan_run(settings, build_source(settings))
    assert plan.mode is not Mode.LIVE
    why = " | ".join(plan.blockers)
    for expected in case["expect"]:
        assert expected in why, why
    # only the futures conditions block: every spot live condition holds here
    assert set(plan.gate.failed) <= {"permissions", "promotion", "futures"}, plan.gate.failed
    assert fposts(ffx) == []


@pytest.mark.usefixtures("sm")
def test_a_futures_bot_with_every_condition_passes_the_gate(
    ffx: FakeBinance, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    _promote(state, "futures")
    settings = live_settings(ffx, state)
    plan = plan_run(settings, build_source(settings))
    assert plan.mode is Mode.LIVE and plan.blockers == [], plan.gate.blockers
    assert plan.permissions is not None and plan.permissions.futures
    # the same stack as a spot bot: its futures key and futures promotion keep it out
    spot = live_settings(ffx, state, TRADEWARDEN_FUTURES_ENABLED="false")
    plan = plan_run(spot, build_source(spot))
    assert plan.mode is not Mode.LIVE
    assert {"permissions", "promotion"} <= set(plan.gate.failed), plan.gate.failed
    why = " | ".join(plan.blockers)
    assert "enableFutures is true" in why and "a spot bot needs a spot promotion" in why, why


@pytest.fixture()
def live_daemon(
    tmp_path: Path, ffx: FakeBinance, sm: Any, aws_env: str
) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def run(**extra: str) -> Running:
        env = {
            **LIVE,
            "TRADEWARDEN_BINANCE_API_KEY": "",
            "TRADEWARDEN_BINANCE_API_SECRET": "",
            "TRADEWARDEN_PERMISSION_CHECK_SECONDS": "1",
            "AWS_ENDPOINT_URL": aws_env,
            "AWS_ACCESS_KEY_ID": MOTO,
            "AWS_SECRET_ACCESS_KEY": MOTO,
            "AWS_DEFAULT_REGION": "eu-west-1",
            **extra,
        }
        r = Running(tmp_path / "state", ffx, **env)
        started.append(r)
        return r

    yield run
    for r in started:
        r.stop(signal.SIGKILL)


def test_live_futures_daemon_trades_on_fapi_and_halts_when_the_account_cannot_trade(
    tmp_path: Path, ffx: FakeBinance, live_daemon: Callable[..., Running]
) -> None:
    _promote(tmp_path / "state", "futures")
    d = live_daemon()
    d.wait_ready()
    st = status(d.state)
    assert st["mode"] == "live" and st["why_not_live"] == [], st["why_not_live"]
    assert wait_for(lambda: len(fposts(ffx)) >= 1, timeout=90), "no live futures orders"
    assert [r for r in ffx.requests() if r["path"] == "/api/v3/order"] == []
    # the futures account stops accepting the key's orders: the periodic check halts
    ffx.futures_set_can_trade(False)
    assert wait_for(lambda: status(d.state)["state"] == "halted", timeout=30)
    assert "canTrade is false" in status(d.state)["state_reason"]
    n = len(ffx.futures_orders())
    assert d.stop() == 0
    later = ffx.futures_orders()[n:]  # halted: nothing but a reduceOnly close
    assert all(o["reduceOnly"] for o in later), later
    alerts = (d.state / "alerts.jsonl").read_text()
    assert "key_permissions_changed" in alerts
    for blob in ("".join(d.lines), d.err, alerts):
        assert KEY not in blob and SECRET not in blob
