"""A fake Binance spot REST API for tests and the demo (see `server`, `fixture`)."""

from tests.fakes.binance.fixture import FakeBinance
from tests.fakes.binance.limits import LimitConfig
from tests.fakes.binance.matching import BinanceError
from tests.fakes.binance.server import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    DEFAULT_BALANCES,
    DEFAULT_KIND,
    DEFAULT_RESTRICTIONS,
    DEFAULT_SYMBOLS,
    FakeBinanceServer,
    key_fingerprint,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "DEFAULT_BALANCES",
    "DEFAULT_KIND",
    "DEFAULT_RESTRICTIONS",
    "DEFAULT_SYMBOLS",
    "BinanceError",
    "FakeBinance",
    "FakeBinanceServer",
    "LimitConfig",
    "key_fingerprint",
]
