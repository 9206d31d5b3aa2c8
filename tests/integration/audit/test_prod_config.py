"""Issue 13 defect 8: in prod the audit key and the off-host anchor are required; their
absence stops `tradewarden run` with exit 2 naming what is missing, never a silent skip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.integration.daemon.helpers import tw

pytestmark = pytest.mark.usefixtures("clean_env")
AUDIT_KEY = "audit-key-canary-31a2b3c4d5e6f708192a3b4c5d6e7f80"


def prod_env(tmp_path: Path) -> dict[str, str]:
    return {
        "TRADEWARDEN_PROFILE": "prod",
        "TRADEWARDEN_SECRET_SOURCE": "file",
        "TRADEWARDEN_CREDENTIAL_FILE": str(tmp_path / "creds.enc"),
        "BINANCE_CREDENTIAL_KEY": Fernet.generate_key().decode(),
    }


def put_admin(state: Path, env: dict[str, str], payload: dict[str, str]) -> None:
    import subprocess
    import sys

    from tests.integration.daemon.helpers import env_for

    proc = subprocess.run(
        [sys.executable, "-m", "tradewarden.cli", "secrets", "put", "admin"],
        env=env_for(state, **env),
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode in (0, 2), proc.stderr


def test_prod_without_an_audit_key_exits_2(tmp_path: Path) -> None:
    state, env = tmp_path / "state", prod_env(tmp_path)
    put_admin(state, env, {"promotion_key": "promotion-key-prod-test-1234"})
    proc = tw(state, "run", "--no-console", **env)
    assert proc.returncode == 2, proc.stderr
    assert "audit_key" in proc.stderr and "prod" in proc.stderr
    assert not list((state / "audit").glob("audit-*.jsonl"))  # nothing written unsigned


def test_prod_without_an_anchor_bucket_exits_2(tmp_path: Path) -> None:
    state, env = tmp_path / "state", prod_env(tmp_path)
    put_admin(state, env, {"audit_key": AUDIT_KEY})
    proc = tw(state, "run", "--no-console", **env)
    assert proc.returncode == 2, proc.stderr
    assert "TRADEWARDEN_AUDIT_ANCHOR_BUCKET" in proc.stderr
    assert AUDIT_KEY not in proc.stderr + proc.stdout
