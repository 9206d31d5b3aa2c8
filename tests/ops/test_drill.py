"""ops/drill.sh (`make drill`) runs green on the local stand-ins, and fails loudly when a step
does not behave as the runbook says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DRILL = REPO / "ops" / "drill.sh"
KEEP = ("PATH", "HOME", "LANG", "PYTHONPATH", "SYSTEMROOT")


def drill(**extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k in KEEP}
    env.update(
        {
            "TRADEWARDEN_CMD": f"{sys.executable} -m tradewarden.cli",
            "DRILL_PYTHON": sys.executable,
            "DRILL_TIMEOUT": "90",
        }
    )
    env.update(extra)
    return subprocess.run(
        ["bash", str(DRILL)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_drill_walks_the_breaker_runbook_green() -> None:
    res = drill()
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert out.count("[ok] step") == 11 and "[FAIL]" not in out
    assert out.rstrip().endswith("drill passed: 11 steps")
    # the runbook's commands, in order, as a responder types them
    order = [
        "$ tradewarden status",
        "$ tradewarden diagnose",
        "$ tradewarden audit verify",
        '$ tradewarden reset --reason "drill:',
    ]
    positions = [out.index(cmd) for cmd in order]
    assert positions == sorted(positions)
    assert "Breaker tripped: consecutive_losses on trend-btc" in out


def test_the_drill_fails_when_the_daemon_does_not_start() -> None:
    res = drill(TRADEWARDEN_CMD="false", DRILL_TIMEOUT="30")
    out = res.stdout + res.stderr
    assert res.returncode == 1
    assert "[FAIL] step 1" in out and "drill FAILED" in out
