"""`LiveGuard.evaluate`: the live gate again before each live order (issue 13, 11): a
disarm record or FINAL_HAMMER withdrawn in the re-read config file stops live orders,
and the refusal is latched until a restart."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradewarden.core.config import load_settings
from tradewarden.live.key_permissions import PermissionResult
from tradewarden.live.promotion import PromotionCheck
from tradewarden.runtime.wiring import DISARM_KEY, LiveGuard, LiveRefusedError
from tradewarden.secrets.credentials import binance_keys
from tradewarden.secrets.env import EnvSource
from tradewarden.state.store import Store

LIVE_ENV = {
    "TRADEWARDEN_MODE": "live",
    "TRADEWARDEN_PROFILE": "staging",
    "BINANCE_TESTNET": "false",
    "BINANCE_TERMS_ACCEPTED": "true",
    "TRADEWARDEN_SECRET_SOURCE": "aws",
    "TRADEWARDEN_BINANCE_API_KEY": "guard-test-key",
    "TRADEWARDEN_BINANCE_API_SECRET": "guard-test-secret",
}


@pytest.fixture()
def setup(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LiveGuard, Path, Store]]:
    for k, v in LIVE_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path / "state"))
    cfg = tmp_path / "tw.toml"
    cfg.write_text("FINAL_HAMMER = true\n")
    settings = load_settings(cfg)
    keys = binance_keys(settings, EnvSource(settings))
    guard = LiveGuard(
        settings,
        keys,
        permissions=PermissionResult(ok=True, role="trade"),
        promotions=[PromotionCheck(True, "ok")],
        config_file=cfg,
    )
    store = Store(tmp_path / "s.sqlite3", durable=False)
    guard.store = store
    yield guard, cfg, store
    store.close()


def test_holds_while_every_gate_holds(setup) -> None:
    guard, _, _ = setup
    assert guard.evaluate() == ""
    guard.before_order()  # no exception
    assert guard.readiness_reasons() == []


def test_final_hammer_withdrawn_in_the_config_file(setup) -> None:
    guard, cfg, _ = setup
    cfg.write_text("FINAL_HAMMER = false\n")
    why = guard.evaluate()
    assert "FINAL_HAMMER=false" in why
    with pytest.raises(LiveRefusedError, match="FINAL_HAMMER=false"):
        guard.before_order()
    cfg.write_text("FINAL_HAMMER = true  \n")  # switching it back does not re-arm
    assert guard.evaluate() == why and guard.readiness_reasons() == [f"live refused: {why}"]


def test_a_config_file_that_no_longer_loads_refuses(setup) -> None:
    guard, cfg, _ = setup
    cfg.write_text("FINAL_HAMMER = true\nfinal_hammer = true\n")
    assert "set twice" in guard.evaluate()


def test_a_disarm_record(setup) -> None:
    guard, _, store = setup
    store.put(DISARM_KEY, {"reason": "incident 7", "actor": "alice", "at": 0})
    assert "live disarmed: incident 7 (by alice" in guard.evaluate()
    store.put(DISARM_KEY, None)
    assert "incident 7" in guard.evaluate()  # latched


def test_attack_final_hammer_withdrawn_in_an_edit_that_keeps_size_and_mtime(setup) -> None:
    """The file is replaced by one of the same size with its old modification time (a
    deploy with `rsync -a` / `cp -p`, or `touch -r`): the guard compared only mtime and size,
    missed the change and kept trading live with FINAL_HAMMER=false in the file."""
    guard, cfg, _ = setup
    cfg.write_text("FINAL_HAMMER = true \n")
    assert guard.evaluate() == ""
    before = cfg.stat()
    cfg.write_text("FINAL_HAMMER = false\n")
    assert cfg.stat().st_size == before.st_size
    os.utime(cfg, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert "FINAL_HAMMER=false" in guard.evaluate()
