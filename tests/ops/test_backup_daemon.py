"""System recovery end to end with the real daemon: back up a running paper daemon, see the
restore refused while it runs, restore into a fresh state dir, start the unchanged daemon
there and find it HALTED with the restore named, then reset and trade at reduced size."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.integration.daemon import helpers
from tests.integration.daemon.helpers import start, status, tw, wait_for

pytestmark = pytest.mark.usefixtures("clean_env")


def readyz(port: int) -> tuple[int, dict[str, Any]]:
    return helpers.readyz(port, timeout=2)


def answers(port: int) -> bool:
    try:
        readyz(port)
        return True
    except OSError:
        return False


def stop(proc: subprocess.Popen[str]) -> int:
    return helpers.terminate(proc)


def test_backup_a_running_daemon_restore_elsewhere_start_halted_then_reset(
    tmp_path: Path,
) -> None:
    old, new, backups = tmp_path / "old", tmp_path / "new", tmp_path / "backups"
    port = free_port()
    daemon = start(old, "run", "--follow", "--no-console", TRADEWARDEN_METRICS_PORT=str(port))
    try:
        assert wait_for(lambda: answers(port), timeout=60), "daemon did not serve /readyz"
        assert wait_for(lambda: (status(old).get("ticks") or 0) > 0, timeout=60)

        made = tw(old, "backup", "--to", str(backups), "--json")
        assert made.returncode == 0, made.stderr
        location = json.loads(made.stdout)["location"]

        refused = tw(old, "restore", "--from", location, "--replace")
        assert refused.returncode == 1
        assert "daemon is running" in refused.stderr and "stop it first" in refused.stderr
        assert daemon.poll() is None, "a refused restore must not disturb the daemon"
    finally:
        assert stop(daemon) == 0, daemon.stderr.read() if daemon.stderr else ""

    restored = tw(new, "restore", "--from", location)
    assert restored.returncode == 0, restored.stderr
    assert (new / "tradewarden.sqlite3").is_file()

    port2 = free_port()
    daemon = start(new, "run", "--follow", "--no-console", TRADEWARDEN_METRICS_PORT=str(port2))
    try:
        assert wait_for(lambda: answers(port2), timeout=60), "restored daemon did not start"
        assert wait_for(lambda: status(new).get("daemon_running") is True, timeout=30)
        st = status(new)
        assert st["state"] == "halted", st
        assert "restored from backup" in st["state_reason"] and location in st["state_reason"]
        code, body = readyz(port2)
        assert code == 503 and any("restored from backup" in r for r in body["reasons"]), body

        reset = tw(
            new,
            "reset",
            "--reason",
            "restored backup; balances and orders reconciled",
            "--all",
            "--yes",
        )
        assert reset.returncode == 0, reset.stderr
        assert "applied by the running daemon" in reset.stdout
        st = status(new)
        assert st["state"] == "active" and st["trips"] == []
        assert st["size_factor"] == 0.25  # gradual restart after the reset
        assert wait_for(lambda: readyz(port2)[0] == 200, timeout=30)
    finally:
        assert stop(daemon) == 0, daemon.stderr.read() if daemon.stderr else ""

    verify = tw(new, "audit", "verify", "--json")
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"], verify.stdout
    events = [
        json.loads(line)["event"]
        for f in sorted((new / "audit").glob("audit-*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    i = events.index("restored")
    assert events[i + 1 :].count("daemon_started") == 1 and "reset" in events[i + 1 :]
