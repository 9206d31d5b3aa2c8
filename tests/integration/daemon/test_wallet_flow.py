"""Declared cold wallet -> the daemon files a rebalance proposal and warns; a human approves."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyotp
import pytest

from tests.integration.daemon.helpers import tw

pytestmark = pytest.mark.usefixtures("clean_env")


def test_rebalance_proposal_end_to_end(tmp_path: Path) -> None:
    state = tmp_path / "state"
    secret = pyotp.random_base32()
    # 10k on the exchange, 10k declared cold: hot is 50% of funds, target 15% -> too much hot
    declared = tw(state, "wallet", "declare-cold", "--amount", "10000", "--address", "bc1qcold")
    assert declared.returncode == 0, declared.stderr
    run = tw(state, "run", "--no-console")
    assert run.returncode == 0, run.stderr
    alerts = [json.loads(x) for x in (state / "alerts.jsonl").read_text().splitlines()]
    rebalance = [a for a in alerts if a.get("kind") == "rebalance_proposed"]
    assert rebalance and rebalance[0]["severity"] == "warning"  # the warning alert, delivered
    st = json.loads(tw(state, "wallet", "status", "--json").stdout)
    assert st["rebalance"]["direction"] == "hot_to_cold"
    listed = tw(state, "approvals", "list", "--json", TRADEWARDEN_TOTP_SECRET=secret)
    (prop,) = json.loads(listed.stdout)
    assert prop["kind"] == "rebalance" and prop["status"] == "pending"
    code = pyotp.TOTP(secret).at(time.time())
    import subprocess
    import sys

    from tests.integration.daemon.helpers import env_for

    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "tradewarden.cli",
            "approvals",
            "approve",
            str(prop["id"]),
            "--reason",
            "moving to cold",
        ],
        input=code + "\n",
        capture_output=True,
        text=True,
        env=env_for(state, TRADEWARDEN_TOTP_SECRET=secret),
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "cannot withdraw" in ok.stdout
    assert tw(state, "audit", "verify").returncode == 0
