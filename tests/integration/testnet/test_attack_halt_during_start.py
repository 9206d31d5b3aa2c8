"""Adversarial review of control requests (issue 13, 2): `tradewarden halt` sent while the
daemon starts. The daemon takes its lock first, then talks to the exchange (time sync,
exchangeInfo, first reconciliation) and only then installs its SIGUSR1 handler; the halt's
wake-up signal in that window hit the default action and killed the daemon."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import tw, wait_for
from tests.integration.testnet.conftest import Running, daemon_env


def test_attack_a_halt_sent_while_the_daemon_starts_does_not_kill_it(
    fx: FakeBinance, daemon: Callable[..., Running]
) -> None:
    fx.fault("latency", path="/api/v3/exchangeInfo", ms=4000, count=1)  # a slow start
    d = daemon(TRADEWARDEN_REQUEST_TIMEOUT_SECONDS="10")
    lock = d.state / "daemon.lock"

    def locked() -> bool:
        return lock.exists() and lock.read_text().strip() == str(d.proc.pid)

    assert wait_for(locked, 60), "the daemon never took its lock"
    assert not d.said("daemon ready")
    halt = tw(d.state, "halt", "--reason", "stop during start", "--wait", "30", **daemon_env(fx))
    assert d.proc.poll() is None, f"the halt killed the starting daemon: {d.proc.returncode}"
    assert halt.returncode == 0, halt.stderr
    d.wait_ready()
    st = tw(d.state, "status", "--json", **daemon_env(fx))
    assert json.loads(st.stdout)["state"] == "halted"
    assert d.stop() == 0
