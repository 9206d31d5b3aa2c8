"""Review of issue 13 #11: recovery-check inputs and promotion records moved between
bots (attacks that held; kept as protection)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradewarden.live.promotion import binding, is_promoted, promote
from tradewarden.secrets.value import Secret
from tradewarden.state.store import Store
from tradewarden.wallet.recovery import DerivationError, check, default_path, parse_path

ABOUT = "abandon " * 11 + "about"
BIP84 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"


@pytest.mark.parametrize(
    "path",
    [
        "m/84'/0'/0'/0/0/../1",
        "m/84'/0'/0'/0",
        "m/84'/0'/0'/0/-1",
        "m/84'/0'/0'/0/ 0",
        "m/84'/0'/0'/2/0",
        "m/86'/0'/0'/0/0",
        "m/84'/2'/0'/0/0",
        "m/84/0'/0'/0/0",
        "m/84'/0'/0'/0'/0",
        "m/84'/0'/0'/0/2147483648",
        "/etc/passwd",
        "",
    ],
)
def test_hostile_paths_are_refused(path: str) -> None:
    with pytest.raises(DerivationError):
        parse_path(path)


def test_taproot_and_unknown_addresses_need_a_supported_path() -> None:
    with pytest.raises(DerivationError):
        default_path("bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr")
    taproot = check(
        ABOUT, "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr", "m/84'/0'/0'/0/0"
    )
    assert not taproot.matches


def test_a_testnet_path_never_matches_a_main_net_address() -> None:
    assert not check(ABOUT, BIP84, "m/84'/1'/0'/0/0").matches
    assert check(ABOUT, BIP84.upper()).matches  # bech32 is case-insensitive


def test_a_promotion_record_copied_to_another_bot_is_not_valid(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    key = Secret("k" * 32)
    try:
        report = type(  # a passing paper report (the criteria are tested elsewhere)
            "R", (), {"bot": "b1", "passed": True, "criteria": [], "as_dict": lambda self: {}}
        )()
        promote(store, key, report, binding("b1", "BTCUSDT", "ma_cross"), "root")  # type: ignore[arg-type]
        assert is_promoted(store, key, binding("b1", "BTCUSDT", "ma_cross")).ok
        with store.tx() as db:
            db.execute(
                "INSERT INTO promotions (bot, strategy, code_hash, ts, actor, report, signature,"
                " binding) SELECT 'b2', strategy, code_hash, ts, actor, report, signature,"
                " replace(binding, '\"b1\"', '\"b2\"') FROM promotions WHERE bot='b1'"
            )
        assert not is_promoted(store, key, binding("b2", "BTCUSDT", "ma_cross")).ok
    finally:
        store.close()
