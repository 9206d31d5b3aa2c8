"""The declared cold wallet, and the daemon's periodic rebalance check.

The cold balance is what an operator declares (`tradewarden wallet declare-cold`), with its
address and when it was last verified; the daemon never holds cold keys. The check runs in
the daemon's housekeeping: when the hot share drifts outside 80-120% of target it files a
rebalance proposal in the approval queue (once, while one is pending) and raises a warning.
"""

from __future__ import annotations

import time
from typing import Any

from tradewarden.state.keys import StateKey
from tradewarden.state.store import Store
from tradewarden.wallet.approvals import ApprovalQueue
from tradewarden.wallet.split import Proposal, WalletView

COLD_KEY = StateKey.COLD_WALLET


def declared_cold(store: Store) -> dict[str, Any]:
    return store.get(COLD_KEY) or {"amount_usd": 0.0, "address": "", "verified_at": None}


def declare_cold(store: Store, amount_usd: float, address: str, actor: str) -> dict[str, Any]:
    if not amount_usd >= 0:
        raise ValueError("--amount must be >= 0")
    rec = {"amount_usd": amount_usd, "address": address, "verified_at": time.time(), "by": actor}
    store.put(COLD_KEY, rec)
    return rec


def view(store: Store, hot_usd: float, hot_share: float) -> WalletView:
    return WalletView(
        hot=hot_usd, cold=float(declared_cold(store)["amount_usd"]), hot_share=hot_share
    )


def check_rebalance(queue: ApprovalQueue, w: WalletView) -> Proposal | None:
    """File a proposal if one is needed and none is pending; return the new proposal."""
    p = w.proposal()
    if p is None or queue.pending_of_kind("rebalance"):
        return None
    queue.propose(
        "rebalance",
        p.amount,
        {
            "direction": str(p.direction),
            "reason": p.reason,
            "hot": w.hot,
            "cold": w.cold,
            "target": w.target_hot,
        },
        "daemon",
    )
    return p
