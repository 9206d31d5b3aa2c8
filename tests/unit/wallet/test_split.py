"""Rebalance boundaries: 79.9%, 80%, 120%, 120.1% of the hot target."""

from __future__ import annotations

import pytest

from tradewarden.wallet.split import Direction, WalletView


def view_at(ratio: float, total: float = 100_000.0, share: float = 0.15) -> WalletView:
    hot = ratio * share * total  # hot/target == ratio, with the total held fixed
    return WalletView(hot=hot, cold=total - hot, hot_share=share)


@pytest.mark.parametrize(
    ("ratio", "direction"),
    [
        (0.799, Direction.COLD_TO_HOT),
        (0.80, None),
        (1.00, None),
        (1.20, None),
        (1.201, Direction.HOT_TO_COLD),
    ],
)
def test_rebalance_boundaries(ratio: float, direction: Direction | None) -> None:
    v = view_at(ratio)
    assert v.ratio == pytest.approx(ratio)
    p = v.proposal()
    assert (p.direction if p else None) is direction


def test_proposal_amount_restores_the_target() -> None:
    v = view_at(0.5)
    p = v.proposal()
    assert p is not None and p.amount == pytest.approx(0.5 * 15_000.0)
    after = WalletView(v.hot + p.amount, v.cold - p.amount, v.hot_share)
    assert after.ratio == pytest.approx(1.0) and after.proposal() is None


def test_empty_wallet_makes_no_proposal() -> None:
    assert WalletView(0.0, 0.0, 0.15).proposal() is None
