"""Our `newClientOrderId`: ``tw-<bot8>-<seq>-<rand4>``, at most 36 chars of [A-Za-z0-9-_].

- ``bot8``: the bot name's first 8 alphanumeric characters (``bot`` if it has none);
- ``seq``: a base-36 counter that starts at the current time in ms, so it keeps rising
  across restarts and ids never repeat among open orders;
- ``rand4``: 4 random hex chars, so two processes sharing a key cannot collide either.

The id is recorded in SQLite with the intent before the request, and is what an unknown
outcome is resolved by (``GET /api/v3/order?origClientOrderId=``). The `OrderGate` sends
these ids and reconciliation recognises them with `is_ours` (one scheme). Rows written by
releases before this scheme (``tw-<bot10>-<run6>-<n>``) are still recognised.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import time
from dataclasses import dataclass

from tradewarden.core.models import CLIENT_ORDER_ID_RE

PREFIX = "tw"
_OURS_RE = re.compile(r"^tw-([A-Za-z0-9]{1,8})-([0-9a-z]{1,13})-([0-9a-f]{4})$")
_LEGACY_RE = re.compile(r"^tw-[A-Za-z0-9]{1,10}-[0-9a-f]{6}-[0-9]{1,12}$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(n: int) -> str:
    if n < 0:
        raise ValueError("negative sequence")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
        if n == 0:
            return out


def bot_tag(bot: str) -> str:
    return "".join(c for c in bot if c.isascii() and c.isalnum())[:8] or "bot"


@dataclass(frozen=True, slots=True)
class ParsedId:
    bot_tag: str
    seq: int


def parse(client_order_id: str) -> ParsedId | None:
    """The parts of one of our ids, or None for an id we did not make."""
    m = _OURS_RE.match(client_order_id)
    if not m:
        return None
    return ParsedId(m.group(1), int(m.group(2), 36))


def is_ours(client_order_id: str) -> bool:
    return parse(client_order_id) is not None or bool(_LEGACY_RE.match(client_order_id))


class ClientOrderIds:
    """Thread-safe generator of our client order ids."""

    def __init__(self, start: int | None = None) -> None:
        self._seq = itertools.count(int(time.time() * 1000) if start is None else start)
        self._lock = threading.Lock()

    def next(self, bot: str) -> str:
        with self._lock:
            seq = next(self._seq)
        cid = f"{PREFIX}-{bot_tag(bot)}-{base36(seq)}-{secrets.token_hex(2)}"
        if not CLIENT_ORDER_ID_RE.match(cid):
            raise ValueError("generated client order id breaks Binance's format")
        return cid
