"""Server-time offset for signed requests (Binance answers -1021 outside recvWindow).

python-binance signs with ``int(time.time() * 1000 + client.timestamp_offset)``; the gateway
copies `offset_ms` into every client before a call, syncs at start and again on -1021.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TimeSync:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self.offset_ms = 0
        self.synced = False
        self.syncs = 0

    def sync(self, fetch_server_ms: Callable[[], int]) -> int:
        """Measure the offset with one round trip (midpoint estimate). Returns it in ms."""
        before = self._wall()
        server_ms = int(fetch_server_ms())
        after = self._wall()
        offset = int(server_ms - (before + after) * 500.0)
        with self._lock:
            self.offset_ms = offset
            self.synced = True
            self.syncs += 1
        return offset

    def server_ms(self) -> float:
        """Our best estimate of the exchange's clock now, in ms."""
        return self._wall() * 1000.0 + self.offset_ms
