"""ops/drill.sh (`make drill`) runs green on the local stand-ins, and fails loudly when a step
does not behave as the runbook says."""

from __future__ import annotations

import json
import os
import re
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
    args = extra.pop("DRILL_ARGS", "").split()
    env.update(extra)
    return subprocess.run(
        ["bash", str(DRILL), *args],
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


def runbook_order(text: str) -> list[str]:
    """The `tradewarden` subcommands a runbook names, in order (first mention each)."""
    out: list[str] = []
    for m in re.finditer(r"tradewarden ((?:secrets|audit) [a-z-]+|[a-z-]+)", text):
        if m.group(1) not in out:
            out.append(m.group(1))
    return out


def test_the_key_leak_drill_walks_the_key_incident_runbook_in_its_order() -> None:
    res = drill(DRILL_ARGS="key-leak")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert out.count("[ok] step") == 11 and "[FAIL]" not in out
    assert out.rstrip().endswith("key-leak drill passed: 11 steps")
    # the drill types the runbook's commands in the runbook's order: halt before the
    # revocation, the revocation before the rotation, the rotation before the reset
    typed = [
        m.group(1) for m in re.finditer(r"^\$ tradewarden ([a-z-]+(?: [a-z][a-z-]*)?)", out, re.M)
    ]
    book = runbook_order((REPO / "runbooks" / "suspected-key-leak.md").read_text())
    key = ["halt", "secrets rotate", "reset"]
    assert [c for c in book if c in key] == key
    assert [c for c in dict.fromkeys(typed) if c in key] == key
    assert (
        out.index("$ tradewarden halt")
        < out.index("remove_key")
        < out.index("$ tradewarden secrets rotate trade --prompt")
        < out.index("$ tradewarden reset")
    )
    for sub in dict.fromkeys(typed):  # every command the drill types is one the runbook names
        assert sub in book or sub.split()[0] in book, sub
    # each step's effect, as the drill saw it
    assert "answers 401, code -2015" in out  # revoked on the fake
    assert "verified: account readable at http://127.0.0.1:" in out  # rotate verified it
    assert "trading again, with the new key only" in out


def test_attack_the_key_leak_drill_fails_when_the_halt_cannot_cancel() -> None:
    """Adversarial review: the reconciliation had already halted the daemon and cancelled the
    foreign order, so the responder's halt had nothing left to cancel ("orders_cancelled":
    0) and step 3 passed whatever its cancel did. With the exchange refusing the halt's
    DELETE /api/v3/openOrders (as after a revoked key), step 3 must fail."""
    spec = {"kind": "maintenance", "path": "/api/v3/openOrders", "method": "DELETE", "count": None}
    fault = json.dumps(spec)
    res = drill(DRILL_ARGS="key-leak", DRILL_HALT_FAULT=fault)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "[FAIL] step 3" in out and "[ok] step 3" not in out


def test_attack_the_drills_audit_checks_match_entries_not_words(tmp_path: Path) -> None:
    """Adversarial review: step 10 grepped the audit files for '"halt"', which the
    reconciliation's security_event already carries ("action": "halt"), and step 8 grepped
    the rotation line for a 4-hex fingerprint, which its hashes may contain: both passed
    with no such entry. The drill now asks ops/audit_has.py for the entry itself."""
    audit = tmp_path / "audit"
    audit.mkdir()
    lines = [
        {"event": "security_event", "data": {"reconcile": {"action": "halt"}}, "seq": 1},
        {"event": "secret_rotated", "data": {"fingerprint": "ab12"}, "hash": "00ff" * 16},
    ]
    (audit / "audit-2026-12-03.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))

    def has(*args: str) -> int:
        cmd = [sys.executable, str(REPO / "ops" / "audit_has.py"), str(audit), *args]
        return subprocess.run(cmd, capture_output=True, timeout=30, check=False).returncode

    assert has("halt") == 1
    assert has("secret_rotated", "fingerprint=00ff") == 1
    assert has("secret_rotated", "fingerprint=ab12") == 0
    script = (REPO / "ops" / "drill_key_leak.sh").read_text()
    assert not re.search(r"grep[^\n]*audit/\*\.jsonl", script)  # every audit check is exact
