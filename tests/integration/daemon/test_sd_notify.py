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
