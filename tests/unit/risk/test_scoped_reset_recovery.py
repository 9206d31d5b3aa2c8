"""A scoped reset restarts only the consecutive-loss count of the bots it cleared, so crash
recovery (a closing fill booked, the breaker killed before it saw the round trip) must count
each bot's streak from *its* last counter reset, not from another bot's reset."""

from __future__ import annotations

import time
from pathlib import Path

from tests.builders import LogNotifier
from tradewarden.core.config import Mode, load_settings
from tradewarden.core.models import Fill, Side
from tradewarden.risk.engine import ResetScope, RiskEngine
from tradewarden.runtime.daemon import Daemon, LiveDecision
from tradewarden.runtime.exchange_loop import recover_interrupted
from tradewarden.state.store import Store
from tradewarden.trading.paper_broker import PaperBroker


def losing_round_trip(store: Store, bot: str, n: int, ts: float) -> None:
    for i, (side, px) in enumerate(((Side.BUY, 100.0), (Side.SELL, 90.0))):
        store.book_fill(
            Fill(f"{bot}-{n}-{i}", f"c-{bot}-{n}-{i}", bot, "ETHUSDT", side, 1.0, px, 0.0, ts + i),
            None,
        )


def test_another_bots_reset_does_not_hide_a_loss_from_crash_recovery(
    tmp_path: Path, clean_env: None
) -> None:
    settings = load_settings(
        state_dir=tmp_path,
        bots=("b1:BTCUSDT:ma_cross", "b2:ETHUSDT:ma_cross"),
        symbols=("BTCUSDT", "ETHUSDT"),
        starting_balance_usdt=100_000.0,
    )
    store = Store(settings.db_path)
    now = time.time()
    risk = RiskEngine(settings, store, ["b1", "b2"])
    for n in (1, 2):  # b2: two losing round trips, recorded and seen (count 2 of 3)
        losing_round_trip(store, "b2", n, now - 100 + n * 10)
        store.record_trade("b2", "ETHUSDT", -10.0, now - 100 + n * 10 + 1)
    store.put("breaker:consecutive_losses", {"losses": {"b1": 3, "b2": 2}})
    store.trip("consecutive_losses", "b1", 3, 3, "b1 lost three in a row")
    risk.load()
    assert risk.reset("b1 reviewed", "alice@host", ResetScope(bots=frozenset({"b1"}))) == [
        "consecutive_losses:b1"
    ]
    # b2's third loss: its fills booked, then the process died before the breaker saw it
    losing_round_trip(store, "b2", 3, time.time() + 1)
    store.close()

    d = Daemon(
        settings,
        notifier=LogNotifier(),
        decision=LiveDecision(Mode.PAPER, ["test"]),
        broker=PaperBroker({"USDT": 100_000.0}),
    )
    try:
        recover_interrupted(d)
        tripped = {(r["breaker"], r["bot"]) for r in d.store.tripped()}
        assert ("consecutive_losses", "b2") in tripped
    finally:
        d.close()
