"""Issue 13 defect 8: the commands that change secrets, promotions and approvals leave a
signed audit entry, and the head recorded in SQLite follows them; no secret value is ever
in the audit file."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pyotp
import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import tw
from tests.integration.secrets.conftest import KEY, NEW_KEY, NEW_SECRET, SECRET, TRADE_ID, pair
from tradewarden.cli.main import app

runner = CliRunner()
AUDIT_KEY = "audit-key-canary-7e6d5c4b3a2918273645546372819aab"
CANARIES = (KEY, SECRET, NEW_KEY, NEW_SECRET, AUDIT_KEY)


def audit_entries(st: Path) -> list[dict[str, Any]]:
    text = "".join(f.read_text() for f in sorted((st / "audit").glob("audit-*.jsonl")))
    for c in CANARIES:
        assert c not in text
    return [json.loads(x) for x in text.splitlines()]


def head_seq(st: Path) -> int | None:
    con = sqlite3.connect(st / "tradewarden.sqlite3")
    try:
        row = con.execute("SELECT seq FROM audit_head").fetchone()
    except sqlite3.OperationalError:  # no head table before the fix
        row = None
    con.close()
    return None if row is None else int(row[0])


def assert_audited(st: Path, event: str) -> dict[str, Any]:
    es = audit_entries(st)
    found = [e for e in es if e["event"] == event]
    assert found, f"no {event} entry in {[e['event'] for e in es]}"
    assert all(len(e.get("hmac", "")) == 64 for e in es)  # signed with the audit key
    assert head_seq(st) == es[-1]["seq"]
    return found[-1]


@pytest.fixture()
def fx() -> Any:
    with FakeBinance(api_key=KEY, api_secret=SECRET) as fake:
        yield fake


@pytest.fixture()
def aws(aws_env: str, fx: FakeBinance, tmp_path: Path, clean_env: None, monkeypatch) -> Path:
    for k, v in {
        "TRADEWARDEN_SECRET_SOURCE": "aws",
        "TRADEWARDEN_SECRET_TRADE_KEY_ID": TRADE_ID,
        "TRADEWARDEN_BINANCE_BASE_URL": fx.url,
        "TRADEWARDEN_STATE_DIR": str(tmp_path / "state"),
    }.items():
        monkeypatch.setenv(k, v)
    admin = runner.invoke(
        app, ["secrets", "put", "admin"], input=json.dumps({"audit_key": AUDIT_KEY})
    )
    assert admin.exit_code == 0, admin.output
    return tmp_path / "state"


def test_secrets_put_and_rotate_are_audited(aws: Path, fx: FakeBinance) -> None:
    assert assert_audited(aws, "secret_put")["data"]["role"] == "admin"
    r = runner.invoke(app, ["secrets", "put", "trade"], input=pair())
    assert r.exit_code == 0, r.output
    put = assert_audited(aws, "secret_put")
    assert put["data"]["secret_id"] == TRADE_ID and put["data"]["fields"] == [
        "api_key",
        "api_secret",
    ]
    fx.add_key(NEW_KEY, NEW_SECRET)
    r = runner.invoke(app, ["secrets", "rotate", "trade"], input=pair(NEW_KEY, NEW_SECRET))
    assert r.exit_code == 0, r.output
    rot = assert_audited(aws, "secret_rotated")
    assert rot["data"]["secret_id"] == TRADE_ID and rot["data"]["previous_version"]
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0


def test_put_admin_never_changes_the_audit_key(aws: Path) -> None:
    r = runner.invoke(app, ["secrets", "put", "admin"], input=json.dumps({"audit_key": "x" * 40}))
    assert r.exit_code == 2 and "audit_key" in r.output, r.output


def test_put_admin_prompts_for_the_promotion_and_audit_keys(aws: Path) -> None:
    """infra/README.md's first-prod-start step: `secrets put admin --prompt` asks for
    promotion_key, totp_secret (Enter skips) and audit_key, hidden, and stores them."""
    import boto3

    promotion = "promotion-key-canary-" + "p" * 24
    r = runner.invoke(
        app, ["secrets", "put", "admin", "--prompt"], input=f"{promotion}\n\n{AUDIT_KEY}\n"
    )
    assert r.exit_code == 0, r.output
    assert "audit_key" in r.output and "promotion_key" in r.output
    assert AUDIT_KEY not in r.output and promotion not in r.output
    stored = json.loads(
        boto3.client("secretsmanager").get_secret_value(
            SecretId="tradewarden/dev/admin", VersionStage="AWSCURRENT"
        )["SecretString"]
    )
    assert sorted(stored) == ["audit_key", "promotion_key"]
    assert stored["audit_key"] == AUDIT_KEY and stored["promotion_key"] == promotion
    assert "totp_secret" not in stored


def test_secrets_rekey_is_audited(
    fx: FakeBinance, tmp_path: Path, clean_env: None, monkeypatch
) -> None:
    old = Fernet.generate_key().decode()
    for k, v in {
        "TRADEWARDEN_SECRET_SOURCE": "file",
        "TRADEWARDEN_CREDENTIAL_FILE": str(tmp_path / "creds.enc"),
        "TRADEWARDEN_SECRET_TRADE_KEY_ID": TRADE_ID,
        "BINANCE_CREDENTIAL_KEY": old,
        "TRADEWARDEN_STATE_DIR": str(tmp_path / "state"),
    }.items():
        monkeypatch.setenv(k, v)
    assert (
        runner.invoke(
            app, ["secrets", "put", "admin"], input=json.dumps({"audit_key": AUDIT_KEY})
        ).exit_code
        == 0
    )
    assert runner.invoke(app, ["secrets", "put", "trade"], input=pair()).exit_code == 0
    monkeypatch.setenv("BINANCE_CREDENTIAL_KEY", f"{Fernet.generate_key().decode()},{old}")
    r = runner.invoke(app, ["secrets", "rekey"])
    assert r.exit_code == 0, r.output
    rk = assert_audited(tmp_path / "state", "secrets_rekeyed")
    assert rk["data"]["secrets"] == 2 and rk["data"]["was_key"] == 2
    assert os.environ["BINANCE_CREDENTIAL_KEY"].split(",")[0] not in json.dumps(rk)


def test_promote_is_audited(tmp_path: Path, clean_env: None) -> None:
    from tests.integration.daemon.test_promote_cli import BOT, history

    st = tmp_path / "state"
    history(st, wins=80, losses=30)
    env = {
        "TRADEWARDEN_PROMOTION_KEY": "promotion-key-audit-test",
        "TRADEWARDEN_AUDIT_KEY": AUDIT_KEY,
    }
    proc = tw(st, "promote", "--bot", "b1", **env, **BOT)
    assert proc.returncode == 0, proc.stderr
    e = assert_audited(st, "promoted")
    assert e["data"]["bot"] == "b1" and e["data"]["promotion_id"] == 1
    assert "promotion-key-audit-test" not in json.dumps(audit_entries(st))


def test_approvals_are_audited_with_the_head(tmp_path: Path, clean_env: None, monkeypatch) -> None:
    from tradewarden.audit.chain import AuditLog
    from tradewarden.core.config import load_settings
    from tradewarden.state.store import Store
    from tradewarden.wallet.approvals import ApprovalQueue

    seed = pyotp.random_base32()
    st = tmp_path / "state"
    for k, v in {
        "TRADEWARDEN_STATE_DIR": str(st),
        "TRADEWARDEN_TOTP_SECRET": seed,
        "TRADEWARDEN_AUDIT_KEY": AUDIT_KEY,
    }.items():
        monkeypatch.setenv(k, v)
    settings = load_settings()
    store = Store(settings.db_path)
    audit = AuditLog(settings.audit_dir, key=AUDIT_KEY, store=store)
    pid = ApprovalQueue(settings, store, audit).propose("rebalance", 500.0, {}, "daemon")
    audit.close()
    store.close()
    r = runner.invoke(app, ["approvals", "reject", str(pid), "--reason", "not now"])
    assert r.exit_code == 0, r.output
    e = assert_audited(st, "proposal_rejected")
    assert e["data"]["id"] == pid
