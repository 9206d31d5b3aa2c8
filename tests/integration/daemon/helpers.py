"""Run the real `tradewarden` CLI in subprocesses against a temporary state dir."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

PASSTHROUGH = ("PATH", "HOME", "LANG", "SYSTEMROOT", "PYTHONPATH")


def env_for(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in PASSTHROUGH}
    env.update({"TRADEWARDEN_STATE_DIR": str(state), "TRADEWARDEN_METRICS_PORT": "0", **extra})
    return env


def tw(
    state: Path, *args: str, timeout: float = 120, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradewarden.cli", *args],
        env=env_for(state, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start(state: Path, *args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tradewarden.cli", *args],
        env=env_for(state, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def status(state: Path, **extra: str) -> dict[str, Any]:
    proc = tw(state, "status", "--json", **extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def db(state: Path) -> sqlite3.Connection:
    con = sqlite3.connect(state / "tradewarden.sqlite3", timeout=10)
    con.row_factory = sqlite3.Row
    return con


def wait_for(pred, timeout: float = 30.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except sqlite3.Error:
            pass
        time.sleep(step)
    return False


def readyz(port: int, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    """The daemon's ``/readyz``: (HTTP status, JSON body with ``reasons``)."""
    url = f"http://127.0.0.1:{port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - local daemon
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def terminate(proc: subprocess.Popen[str], timeout: float = 30.0) -> int:
    """SIGTERM (if still running), wait up to `timeout`, else kill; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10)
