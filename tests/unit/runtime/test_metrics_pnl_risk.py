"""The P&L and risk dashboard's fees and open exposure come from the daemon's own numbers:
the ledger's commissions and position value per bot (status["equity"]["bots"])."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tradewarden.runtime.metrics import Metrics


def samples(m: Metrics) -> dict[tuple[str, str], float]:
    out = {}
    for fam in text_string_to_metric_families(m.render().decode()):
        for s in fam.samples:
            out[(s.name, s.labels.get("bot", ""))] = s.value
    return out


def test_fees_and_open_exposure_per_bot_are_exported() -> None:
    m = Metrics()
    bots = {
        "trend-btc": {
            "equity": 10_250.0, "cash": 4_250.0, "position": 0.1, "fees": 12.5,
            "realized_pnl": 100.0, "unrealized_pnl": 150.0, "win_rate": 0.6,
            "profit_factor": 1.7,
        },
        "mr-eth": {
            "equity": 5_000.0, "cash": 5_000.0, "position": 0.0, "fees": 3.25,
            "realized_pnl": -20.0, "unrealized_pnl": 0.0, "win_rate": None,
            "profit_factor": None,
        },
    }  # fmt: skip
    m.update_from_status({"equity": {"portfolio_equity": 15_250.0, "bots": bots}})
    got = samples(m)
    assert got[("tradewarden_fees_paid_usd", "trend-btc")] == 12.5
    assert got[("tradewarden_fees_paid_usd", "mr-eth")] == 3.25
    # open exposure: what the position is worth now (equity less cash)
    assert got[("tradewarden_position_value_usd", "trend-btc")] == 6_000.0
    assert got[("tradewarden_position_value_usd", "mr-eth")] == 0.0
