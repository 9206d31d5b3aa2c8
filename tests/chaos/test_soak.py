"""CI runs a 2-minute soak: RSS <= 100 MB and flat, fds flat (see tests/bench/soak.py)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_soak_two_minutes() -> None:
    env = {**os.environ, "SOAK_SECONDS": os.environ.get("SOAK_SECONDS", "120")}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.soak"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "targets met" in proc.stdout
