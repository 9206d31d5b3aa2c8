"""Issue 13 defect 8: the audit chain head anchored off the host (S3, moto in server mode).

A chain cut short, or rewritten by someone who also holds the database and the key, still
verifies locally; `tradewarden audit verify --anchor` catches both against the anchor the
daemon wrote to S3. The anchor never moves backwards on its own."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from tradewarden.cli.main import app

runner = CliRunner()
BUCKET = "tw-audit-anchor"
AUDIT_KEY = "audit-key-canary-0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
# a valid Fernet key (the settings refuse a malformed one), planted to be looked for
CREDENTIAL_KEY_CANARY = base64.urlsafe_b64encode(b"credential-key-canary-9f8e7d6c5b").decode()


@pytest.fixture()
def s3(aws_env: str, clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    client = boto3.client("s3")
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    for k, v in {
        "TRADEWARDEN_STATE_DIR": str(tmp_path / "state"),
        "TRADEWARDEN_AUDIT_KEY": AUDIT_KEY,
        "TRADEWARDEN_AUDIT_ANCHOR_BUCKET": BUCKET,
        "BINANCE_CREDENTIAL_KEY": CREDENTIAL_KEY_CANARY,
    }.items():
        monkeypatch.setenv(k, v)
    return client


def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def declare(n: int) -> None:
    for i in range(n):
        r = runner.invoke(
            app, ["wallet", "declare-cold", "--amount", str(100 + i), "--address", f"bc1q{i}"]
        )
        assert r.exit_code == 0, r.output


def audit_files(st: Path) -> list[Path]:
    return sorted((st / "audit").glob("audit-*.jsonl"))


def entries(st: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for f in audit_files(st) for x in f.read_text().splitlines()]


def anchor_object(s3: Any) -> dict[str, Any]:
    (obj,) = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode()
    assert AUDIT_KEY not in body and CREDENTIAL_KEY_CANARY not in body
    return json.loads(body)


def rewrite_with_the_key(st: Path, es: list[dict[str, Any]]) -> None:
    """An attacker who holds the host (files, database and audit key) rewrites the chain."""
    from tradewarden.audit.chain import canonical, entry_hash, entry_mac

    prev, out = "0" * 64, []
    for seq, e in enumerate(es, start=1):
        e = {k: v for k, v in e.items() if k not in ("hash", "hmac")}
        e["seq"], e["prev_hash"] = seq, prev
        e["hash"] = entry_hash(e)
        e["hmac"] = entry_mac(AUDIT_KEY.encode(), e["hash"])
        prev = e["hash"]
        out.append(canonical(e).decode() + "\n")
    (f,) = audit_files(st)
    f.write_text("".join(out))
    last = json.loads(out[-1])
    con = sqlite3.connect(st / "tradewarden.sqlite3")
    with con:
        con.execute(
            "UPDATE audit_head SET seq=?, hash=?, hmac=?", (last["seq"], last["hash"], last["hmac"])
        )
    con.close()


def test_anchor_holds_the_head_and_verify_passes(s3: Any, tmp_path: Path) -> None:
    declare(3)
    r = runner.invoke(app, ["audit", "anchor"])
    assert r.exit_code == 0, r.output
    a = anchor_object(s3)
    last = entries(state(tmp_path))[-1]
    assert (a["seq"], a["hash"], a["hmac"]) == (last["seq"], last["hash"], last["hmac"])
    assert a["host"] and a["time"] and "data" not in a
    ok = runner.invoke(app, ["audit", "verify", "--anchor"])
    assert ok.exit_code == 0, ok.output


def test_a_chain_shorter_than_the_anchor_fails(s3: Any, tmp_path: Path) -> None:
    declare(4)
    assert runner.invoke(app, ["audit", "anchor"]).exit_code == 0
    st = state(tmp_path)
    rewrite_with_the_key(st, entries(st)[:2])  # cut two entries, database head forged
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0  # locally consistent
    r = runner.invoke(app, ["audit", "verify", "--anchor"])
    assert r.exit_code == 1, r.output
    assert "seq 3..4" in r.output and "off-host anchor" in r.output, r.output


def test_a_chain_diverging_from_the_anchor_fails(s3: Any, tmp_path: Path) -> None:
    declare(3)
    assert runner.invoke(app, ["audit", "anchor"]).exit_code == 0
    st = state(tmp_path)
    es = entries(st)
    es[1]["data"]["amount"] = 1.0
    rewrite_with_the_key(st, es)
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0  # locally consistent
    r = runner.invoke(app, ["audit", "verify", "--anchor"])
    assert r.exit_code == 1, r.output
    assert "seq 3 differs from the off-host anchor" in r.output, r.output


def test_the_anchor_does_not_move_backwards_unless_a_human_says_why(
    s3: Any, tmp_path: Path
) -> None:
    declare(3)
    assert runner.invoke(app, ["audit", "anchor"]).exit_code == 0
    st = state(tmp_path)
    rewrite_with_the_key(st, entries(st)[:1])
    refused = runner.invoke(app, ["audit", "anchor"])
    assert refused.exit_code == 1 and "does not contain the anchor" in refused.output
    assert anchor_object(s3)["seq"] == 3
    forced = runner.invoke(app, ["audit", "anchor", "--force-reason", "restored backup INC-7"])
    assert forced.exit_code == 0, forced.output
    replaced = entries(st)[-1]
    assert replaced["event"] == "audit_anchor_replaced"
    assert replaced["data"]["replaced"]["seq"] == 3
    assert anchor_object(s3)["seq"] == replaced["seq"]


def test_the_daemon_anchors_at_start_and_at_stop(s3: Any, tmp_path: Path) -> None:
    from tests.builders import LogNotifier
    from tradewarden.core.config import load_settings
    from tradewarden.runtime.daemon import Daemon

    d = Daemon(load_settings(), notifier=LogNotifier())
    assert d.anchor_job is not None
    try:
        assert d.anchor_job.tick() and anchor_object(s3)["seq"] >= 1
    finally:
        d.close()
    es = entries(state(tmp_path))
    assert es[-1]["event"] == "daemon_stopped"
    assert anchor_object(s3)["seq"] == es[-1]["seq"]
    text = "".join(f.read_text() for f in audit_files(state(tmp_path)))
    assert CREDENTIAL_KEY_CANARY not in text and AUDIT_KEY not in text
    assert runner.invoke(app, ["audit", "verify", "--anchor"]).exit_code == 0


def test_a_failing_anchor_is_counted_and_trading_goes_on(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.builders import LogNotifier
    from tradewarden.core.config import load_settings
    from tradewarden.runtime.daemon import Daemon

    monkeypatch.setenv("TRADEWARDEN_AUDIT_ANCHOR_BUCKET", "no-such-bucket")
    d = Daemon(load_settings(), notifier=LogNotifier())
    try:
        assert d.anchor_job is not None
        assert not d.anchor_job.tick()
        assert "no-such-bucket" in d.anchor_job.last_error
        d.write_snapshot()
        failures = d.metrics.registry.get_sample_value("tradewarden_audit_anchor_failures_total")
        assert failures is not None and failures >= 1
        assert (
            d.metrics.registry.get_sample_value(
                "tradewarden_audit_anchor_last_success_timestamp_seconds"
            )
            == 0.0
        )
    finally:
        d.close()
    assert entries(state(tmp_path))[-1]["event"] == "daemon_stopped"
