"""Declared cold wallet -> the daemon files a rebalance proposal and warns; a human approves."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest
from cryptography.fernet import Fernet

from tests.integration.daemon.helpers import env_for, tw

pytestmark = pytest.mark.usefixtures("clean_env")


def test_rebalance_proposal_end_to_end(tmp_path: Path) -> None:
    state = tmp_path / "state"
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
    listed = tw(state, "approvals", "list", "--json")
    (prop,) = json.loads(listed.stdout)
    assert prop["kind"] == "rebalance" and prop["status"] == "pending"
    # an approver enrols with their own seed (kept in the encrypted credential file)
    secrets = {
        "TRADEWARDEN_SECRET_SOURCE": "file",
        "TRADEWARDEN_CREDENTIAL_FILE": str(tmp_path / "creds.enc"),
        "BINANCE_CREDENTIAL_KEY": Fernet.generate_key().decode(),
    }
    added = _cli(state, ["approvers", "add", "alice"], "\n", secrets)
    assert added.returncode == 0, added.stderr
    (uri,) = [ln for ln in added.stdout.splitlines() if ln.startswith("otpauth://")]
    totp = pyotp.TOTP(pyotp.parse_uri(uri).secret)
    confirmed = _cli(state, ["approvers", "confirm", "alice"], totp.now() + "\n", secrets)
    assert confirmed.returncode == 0, confirmed.stderr
    code = totp.at(time.time() + totp.interval)  # the confirmation's step is spent
    ok = _cli(
        state,
        ["approvals", "approve", str(prop["id"]), "--reason", "moving to cold"],
        code + "\n",
        secrets,
    )
    assert ok.returncode == 0, ok.stderr
    assert "cannot withdraw" in ok.stdout
    assert tw(state, "audit", "verify").returncode == 0


def _cli(
    state: Path, args: list[str], stdin: str, extra: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradewarden.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env_for(state, **extra),
        timeout=60,
        check=False,
    )
