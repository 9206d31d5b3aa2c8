"""READY / WATCHDOG / STOPPING reach a local NOTIFY_SOCKET, as systemd's Type=notify expects."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from tests.integration.daemon.helpers import start

pytestmark = pytest.mark.usefixtures("clean_env")


def test_notify_protocol(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    proc = start(
        tmp_path / "state",
        "run",
        "--follow",
        "--no-console",
        NOTIFY_SOCKET=str(sock_path),
        WATCHDOG_USEC="300000",
    )
    got: list[str] = []
    try:
        while not any("READY=1" in m for m in got):
            got.append(sock.recv(4096).decode())
            assert len(got) < 200, f"no READY=1 among {got[:5]}..."
        assert "WATCHDOG=1" not in "".join(got[:-1]), "WATCHDOG before READY"
        watchdogs = 0
        while watchdogs < 3:
            msg = sock.recv(4096).decode()
            got.append(msg)
            watchdogs += msg.startswith("WATCHDOG=1")
        proc.send_signal(signal.SIGTERM)
        for _ in range(500):
            if any("STOPPING=1" in m for m in got):
                break
            got.append(sock.recv(4096).decode())
        assert any("STOPPING=1" in m for m in got)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    ready = next(m for m in got if "READY=1" in m)
    assert "MAINPID=" in ready and "paper" in ready
    assert got.index(ready) < len(got) - 1


def test_slow_start_extends_the_start_timeout_on_progress(tmp_path: Path) -> None:
    """A long audit chain is verified before READY (minutes for 90 days on a host): every
    few thousand entries checked extend TimeoutStartSec= (EXTEND_TIMEOUT_USEC=, STATUS=),
    so systemd does not kill a slow but working start. The extension comes from progress,
    not a timer: a stopped (hung) daemon sends none."""
    from tradewarden.audit.chain import AuditLog

    state = tmp_path / "state"
    audit = AuditLog(state / "audit")
    for i in range(60_000):
        audit.append("tick", {"i": i, "pad": "x" * 100})
    audit.close()
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(60)
    # WATCHDOG_USEC=300000: pings (and start-timeout extensions) at most every 0.1 s
    proc = start(
        state,
        "run",
        "--follow",
        "--no-console",
        NOTIFY_SOCKET=str(sock_path),
        WATCHDOG_USEC="300000",
    )
    got: list[str] = []
    try:
        got.append(sock.recv(4096).decode())
        assert "EXTEND_TIMEOUT_USEC=" in got[0] and "READY=1" not in got[0], got
        proc.send_signal(signal.SIGSTOP)  # a hang in the middle of the verification
        try:
            sock.settimeout(0.5)
            while True:  # what was sent before the stop
                got.append(sock.recv(4096).decode())
        except TimeoutError:
            pass
        n = len(got)
        with pytest.raises(TimeoutError):
            sock.settimeout(2.0)
            got.append(sock.recv(4096).decode())  # stuck: nothing extends the start
        proc.send_signal(signal.SIGCONT)
        sock.settimeout(60)
        while not any("READY=1" in m for m in got):
            got.append(sock.recv(4096).decode())
            assert len(got) < 2000
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    before_ready = got[: next(i for i, m in enumerate(got) if "READY=1" in m)]
    extends = [m for m in before_ready if "EXTEND_TIMEOUT_USEC=" in m]
    assert len(extends) >= 2, before_ready
    assert len(extends) == len(before_ready)  # nothing else before READY
    for m in extends:
        fields = dict(line.split("=", 1) for line in m.splitlines())
        assert int(fields["EXTEND_TIMEOUT_USEC"]) >= 90_000_000
        assert "audit chain" in fields["STATUS"]
    assert n <= len(before_ready)
