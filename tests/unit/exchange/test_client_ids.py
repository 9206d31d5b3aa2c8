"""Our client order ids: Binance's format, unique, rising across restarts, parseable."""

from __future__ import annotations

from tradewarden.core.models import CLIENT_ORDER_ID_RE
from tradewarden.trading.client_ids import ClientOrderIds, base36, bot_tag, is_ours, parse


def test_format_and_length() -> None:
    ids = ClientOrderIds()
    cid = ids.next("trend-btc with a very long name ✓")
    assert CLIENT_ORDER_ID_RE.match(cid)
    assert len(cid) <= 36
    assert cid.startswith("tw-trendbtc-")


def test_unique_and_parseable() -> None:
    ids = ClientOrderIds(start=5)
    got = [ids.next("b1") for _ in range(2000)]
    assert len(set(got)) == len(got)
    seqs = [parse(c).seq for c in got]  # type: ignore[union-attr]
    assert seqs == list(range(5, 2005))
    assert all(parse(c).bot_tag == "b1" for c in got)  # type: ignore[union-attr]


def test_sequence_keeps_rising_across_restarts() -> None:
    first = parse(ClientOrderIds().next("b"))
    second = parse(ClientOrderIds().next("b"))  # a new process: a new generator
    assert first is not None and second is not None
    assert second.seq >= first.seq


def test_foreign_ids_are_not_ours() -> None:
    assert not is_ours("web_3f2a9c1d0e")
    assert not is_ours("x-HNA2TXFJabc")
    assert is_ours(ClientOrderIds().next("bot"))


def test_helpers() -> None:
    assert base36(0) == "0" and base36(35) == "z" and base36(36) == "10"
    assert bot_tag("---") == "bot"


def test_the_ids_the_gate_sends_are_recognised_as_ours() -> None:
    """Issue 14: the OrderGate made ``tw-<bot>-<run>-<seq>`` ids that `is_ours` refused."""
    from tradewarden.trading.order_gate import ClientIds

    ids = ClientIds()
    got = [ids.next("trend-btc") for _ in range(3)]
    assert all(is_ours(c) for c in got)
    assert len(set(got)) == 3
