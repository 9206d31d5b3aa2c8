from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradewarden.alerts.backoff import Backoff


@given(attempts=st.integers(min_value=1, max_value=10_000), seed=st.integers(0, 2**32))
def test_delay_stays_in_its_window_and_under_the_cap(attempts: int, seed: int) -> None:
    b = Backoff(base=2.0, cap=300.0)
    window = min(300.0, 2.0 * 2 ** min(attempts - 1, 60))
    d = b.delay(attempts, random.Random(seed))
    assert window / 2 <= d <= window
    assert d <= 300.0


def test_delays_grow_then_flatten_at_the_cap() -> None:
    b = Backoff(base=1.0, cap=60.0)
    assert [b.window(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_jitter_spreads_retries() -> None:
    b = Backoff(base=1.0, cap=300.0)
    rng = random.Random(7)
    draws = {round(b.delay(5, rng), 6) for _ in range(20)}
    assert len(draws) > 10


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(base=0)
    with pytest.raises(ValueError):
        Backoff(base=10, cap=5)
