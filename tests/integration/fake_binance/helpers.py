"""Small helpers shared by the fake-Binance tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from binance.exceptions import BinanceAPIException


def api_error(call: Callable[[], Any]) -> BinanceAPIException:
    """Run `call`, expecting python-binance to raise BinanceAPIException; return it."""
    with pytest.raises(BinanceAPIException) as info:
        call()
    return info.value
