"""Attack review (issue 20): the futures gateway against the fake's /fapi side over real
HTTP: funding read twice and across a restart, the set-up read back
after someone changed it."""

from __future__ import annotations

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import creds, intent
from tradewarden.core.config import Settings
from tradewarden.core.models import Side
from tradewarden.exchange import RateLimiter
from tradewarden.exchange.futures_gateway import FuturesGateway
from tradewarden.state.store import Store


def gateway(settings: Settings, store: Store) -> FuturesGateway:
    g = FuturesGateway(settings, store, creds, limiter=RateLimiter(), request_timeout_s=1.0)
    g.start()
    return g


def test_funding_is_booked_once_across_polls_and_a_restart(
    ffx: FakeBinance, fsettings: Settings, fstore: Store
) -> None:
    gw = gateway(fsettings, fstore)
    gw.ticker_price("BTCUSDT")
    gw.submit(intent(fstore, side=Side.BUY, qty=0.01, bot="f1"))
    assert gw.poll_funding() == []  # the first poll takes the baseline
    ffx.futures_set_funding_rate(0.01, "BTCUSDT")
    ffx.futures_fund_now()
    gw._next_funding_poll = 0.0
    (paid,) = gw.poll_funding()  # just after the baseline (the clock estimate ran ahead)
    assert (paid.bot, paid.symbol) == ("f1", "BTCUSDT") and paid.amount < 0
    gw._next_funding_poll = 0.0
    assert gw.poll_funding() == [], "the same funding booked twice"
    # a restart (a new process on the same state): nothing new, the booked one restored
    again = gateway(fsettings, fstore)
    assert again.poll_funding() == []
    assert [(f.bot, f.amount) for f in again.booked_funding()] == [("f1", paid.amount)]
    ffx.futures_fund_now()  # the next one: booked once, by the new process
    again._next_funding_poll = 0.0
    (second,) = again.poll_funding()
    assert len(again.booked_funding()) == 2 and second.amount < 0


def test_a_changed_set_up_reads_back_as_changed(
    ffx: FakeBinance, fsettings: Settings, fstore: Store
) -> None:
    gw = gateway(fsettings, fstore)
    assert gw.symbol_setups() == {"BTCUSDT": ("isolated", 2)}
    ffx.futures_set_symbol_config("BTCUSDT", leverage=20)
    assert gw.symbol_setups() == {"BTCUSDT": ("isolated", 20)}
    ffx.futures_set_symbol_config("BTCUSDT", margin_type="CROSSED", leverage=2)
    assert gw.symbol_setups() == {"BTCUSDT": ("cross", 2)}
