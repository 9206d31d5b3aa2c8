"""Start-up that survives an outage (issue 15, item 4): Binance unreachable when the testnet
daemon starts keeps it up NOT READY (no READY=1, /readyz 503 with the reason, the systemd
watchdog fed, STATUS= and EXTEND_TIMEOUT_USEC= sent) until the exchange answers; then READY
and trading. A SIGTERM while waiting stops it cleanly; bad configuration still exits 2.
It used to exit 1 ("not usable at start"), and systemd gave up after five restarts."""

from __future__ import annotations

import socket
import types
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.daemon.helpers import readyz, tw, wait_for
from tests.integration.testnet.conftest import (
    WAVE,
    Running,
    daemon_env,
    local_orders,
    posts,
    wave_exchange,
)

pytestmark = pytest.mark.usefixtures("clean_env")


class Notify:
    """A NOTIFY_SOCKET: every datagram the daemon sends, in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.got: list[str] = []

    def drain(self) -> bool:
        try:
            while True:
                self.got.append(self.sock.recv(4096).decode())
        except TimeoutError:
            return False

    def count(self, prefix: str) -> int:
        self.drain()
        return sum(m.startswith(prefix) for m in self.got)

    def sent(self, text: str) -> bool:
        self.drain()
        return any(text in m for m in self.got)


def waiting_port(d: Running) -> int:
    """The metrics port from the "not ready: waiting to start" log line."""
    said = wait_for(lambda: d.said("not ready: waiting to start") or d.proc.poll() is not None, 60)
    assert said and d.proc.poll() is None, f"exited {d.proc.returncode}: {d.stop_output()}"
    rec = next(r for r in d.logs() if r.get("msg") == "not ready: waiting to start")
    return int(rec["metrics_port"])


def test_exchange_down_at_start_waits_not_ready_then_trades(tmp_path: Path) -> None:
    port = free_port()
    down = types.SimpleNamespace(url=f"http://127.0.0.1:{port}")  # nothing listens yet
    state = tmp_path / "state"

    # bad configuration is still refused at once, exit 2 naming the setting
    bad = tw(state, "run", "--no-console", **daemon_env(down, TRADEWARDEN_MODE="sometimes"))
    assert bad.returncode == 2 and "TRADEWARDEN_MODE" in bad.stderr, bad.stderr

    # while it waits a halt is applied at once (its housekeeping runs); a SIGTERM stops it
    first = Running(tmp_path / "first", down)
    waiting_port(first)
    halt = tw(first.state, "halt", "--reason", "outage drill", **daemon_env(down))
    assert halt.returncode == 0 and "applied by the running daemon" in halt.stdout, halt.stderr
    assert first.stop() == 0, first.err
    assert not first.said("daemon ready")

    notify = Notify(tmp_path / "notify.sock")
    d = Running(state, down, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="1500000")
    try:
        metrics_port = waiting_port(d)
        code, body = readyz(metrics_port)
        assert code == 503 and not body["ready"], body
        assert any("exchange unreachable at start" in r for r in body["reasons"]), body
        assert any("retry " in r for r in body["reasons"]), body
        # alive and feeding the watchdog while it waits, never READY
        assert wait_for(lambda: notify.count("WATCHDOG=1") >= 4, 30), notify.got
        assert not notify.sent("READY=1"), notify.got
        assert notify.sent("STATUS=NOT READY: exchange unreachable at start")
        assert notify.sent("EXTEND_TIMEOUT_USEC=")
        assert d.proc.poll() is None
        assert local_orders(state) == {}, "an order was recorded while the exchange was down"

        with wave_exchange(WAVE, 100, port=port) as fx:  # the exchange comes up, slow:
            # every answer takes 0.6 s (under the 1 s request timeout); the first
            # reconciliation's requests that end extend TimeoutStartSec= (slow, not hung)
            fx.fault("latency", ms=600, count=None)
            assert wait_for(lambda: notify.sent("READY=1"), 90), notify.got
            fx.clear_faults()
            before = notify.got[: next(i for i, m in enumerate(notify.got) if "READY=1" in m)]
            slow = [m for m in before if "first reconciliation with the exchange" in m]
            assert slow and all("EXTEND_TIMEOUT_USEC=" in m for m in slow), before[-5:]
            assert readyz(metrics_port)[0] == 200
            assert d.said("daemon ready")
            # (drained meanwhile: a full notify socket would block the daemon's sends)
            traded = wait_for(lambda: notify.drain() or len(posts(fx)) >= 1, 90)
            assert traded, "no trading after the exchange healed: " + "".join(d.lines[-20:])
            assert d.stop() == 0, d.err
        assert notify.sent("STOPPING=1")
    finally:
        d.stop()
        notify.sock.close()
