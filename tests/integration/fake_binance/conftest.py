"""Fixtures: a fresh fake Binance per test and a python-binance Client aimed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from binance.client import Client

from tests.fakes.binance import FakeBinance

BALANCES = {"USDT": 10_000.0, "BTC": 1.0, "ETH": 0.0}


@pytest.fixture()
def fx() -> Iterator[FakeBinance]:
    """The fake on its defaults: Binance's world (commission, a finite book)."""
    with FakeBinance(balances=dict(BALANCES)) as fake:
        yield fake


def make_client(fx: FakeBinance, key: str | None = None, secret: str | None = None, **kw) -> Client:
    """python-binance's own Client, pointed at the fake the documented way."""
    client = Client(key or fx.api_key, secret or fx.api_secret, ping=False, **kw)
    client.API_URL = fx.url + "/api"
    client.MARGIN_API_URL = fx.url + "/sapi"
    return client


@pytest.fixture()
def client(fx: FakeBinance) -> Client:
    return make_client(fx)
