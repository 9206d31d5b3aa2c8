"""`tradewarden compliance packet` from a real paper demo run and from a testnet run on the
fake Binance, against a real JUnit XML (pytest run on a few control tests in a subprocess):
the manifest and the zip match, the matrix shows MET exactly the controls whose tests ran
and passed, the attestation reads the fake's apiRestrictions as flags, the log excerpts are
masked consistently, and no planted canary secret, key, token or account id is anywhere in
the packet (files, zip members, the PDF's text)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.integration.daemon.helpers import db, tw, wait_for
from tests.integration.testnet.conftest import KEY, SECRET, Running, daemon_env, fx  # noqa: F401
from tradewarden.compliance.controls import CONTROLS

ROOT = Path(__file__).resolve().parents[3]
RAN = (
    "tests/unit/wallet/test_split.py::test_rebalance_boundaries",
    "tests/unit/risk/test_checks.py::test_each_denial_has_its_reason",
    "tests/unit/risk/test_checks.py::test_zone_rule_only_blocks_directional_entries",
)
CANARIES = {
    "TRADEWARDEN_BINANCE_API_KEY": "tw-paper-key-CANARY-0a1b" + "k" * 40,
    "TRADEWARDEN_BINANCE_API_SECRET": "tw-paper-secret-CANARY-2c3d" + "s" * 37,
    "TRADEWARDEN_AUDIT_KEY": "audit-key-CANARY-4e5f6a7b8c9d0e1f2a3b4c5d",
    "TRADEWARDEN_PROMOTION_KEY": "promotion-key-CANARY-6a7b8c9d0e1f",
}
# only the packet's environment: the daemon would try to deliver to them
ALERT_CANARIES = {
    "TRADEWARDEN_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0CANARY/B0CANARY/xoxCANARYwebhook",
    "TRADEWARDEN_SMTP_USERNAME": "smtp-user-CANARY-77",
    "TRADEWARDEN_SMTP_PASSWORD": "smtp-password-CANARY-88aa",
}
FAKE_UID = "354937868"  # the account id the fake Binance answers in /api/v3/account
AWS_ACCOUNT = "111111111111"  # Pulumi.dev.yaml's admin role account


@pytest.fixture(scope="module")
def junit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real JUnit XML: pytest run on three control tests."""
    out = tmp_path_factory.mktemp("junit") / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={out}", *RAN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _packet(state: Path, out: Path, junit: Path, journal: Path, *args: str, **env: str) -> Any:
    return tw(
        state,
        "compliance",
        "packet",
        "--out",
        str(out),
        "--junit",
        str(junit),
        "--journal",
        str(journal),
        "--stack",
        "dev",
        *args,
        timeout=300,
        **env,
    )


def _blobs(out: Path) -> dict[str, bytes]:
    """Every file of the packet, every zip member and the PDF's text."""
    blobs = {
        p.relative_to(out.parent).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
    }
    zpath = out.with_name(out.name + ".zip")
    blobs[zpath.name] = zpath.read_bytes()
    with zipfile.ZipFile(zpath) as z:
        for info in z.infolist():
            blobs[f"zip:{info.filename}"] = z.read(info)
    pdf = subprocess.run(
        ["pdftotext", str(out / "summary.pdf"), "-"], capture_output=True, check=True
    ).stdout
    blobs["summary.pdf (text)"] = pdf
    return blobs


def _check_manifest_and_zip(out: Path) -> None:
    listed = {}
    for line in (out / "MANIFEST.sha256").read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(listed) == files - {"MANIFEST.sha256"}
    for name, digest in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    zpath = out.with_name(out.name + ".zip")
    with zipfile.ZipFile(zpath) as z:
        members = {i.filename.split("/", 1)[1]: z.read(i) for i in z.infolist()}
    assert set(members) == files
    for name, data in members.items():
        assert data == (out / name).read_bytes(), name
    side = zpath.with_name(zpath.name + ".sha256").read_text().split()
    assert side == [hashlib.sha256(zpath.read_bytes()).hexdigest(), zpath.name]


def _check_matrix(out: Path) -> None:
    data = json.loads((out / "controls.json").read_text())
    status = {c["id"]: c for c in data["controls"]}
    assert set(status) == {c.id for c in CONTROLS}
    met = {k for k, c in status.items() if c["status"] == "MET"}
    assert met == {"hot-cold-split", "pre-trade-checks"}
    for c in data["controls"]:  # MET <=> every test it names passed in this run
        assert (c["status"] == "MET") == all(t["result"] == "passed" for t in c["tests"])
        assert c["date"] == data["test_run"] != ""
    assert status["circuit-breakers"]["tests"][0]["result"] == "missing"
    assert data["junit_testcases"] >= len(RAN)  # parametrised cases count one each


def _sweep(out: Path, planted: list[str]) -> None:
    for where, blob in _blobs(out).items():
        for value in planted:
            assert value.encode() not in blob, f"{where} holds a planted value"
        assert b"CANARY" not in blob, where


def test_packet_from_the_paper_demo(tmp_path: Path, junit: Path, clean_env: None) -> None:
    state = tmp_path / "state"
    run = tw(state, "run", "--no-console", **CANARIES)
    assert run.returncode == 0, run.stderr
    journal = tmp_path / "journal.jsonl"
    journal.write_text(run.stdout)
    out = tmp_path / "packet"
    res = _packet(state, out, junit, journal, **CANARIES, **ALERT_CANARIES)
    # not every control's tests ran (and the diagram / README section may be missing): 1
    assert res.returncode == 1, res.stdout + res.stderr
    assert "controls met: 2 of" in res.stdout
    assert "canary sweep:" in res.stdout and "none found" in res.stdout
    _check_manifest_and_zip(out)
    _check_matrix(out)
    index = json.loads((out / "packet.json").read_text())
    assert index["mode_decided"] == "paper"
    # the attestation says why no key was read in paper mode, never a made-up reading
    at = json.loads((out / "attestation.json").read_text())
    assert at["keys"] == [] and at["not_read"].startswith("paper mode")
    assert at["all_keys_acceptable"] is False
    # the summary states what the settings and the state say
    summary = (out / "summary.md").read_text()
    assert "Consecutive losses: 3; daily loss: 5%; bot drawdown: 25%" in summary
    assert "consecutive_losses on trend-btc" in summary  # the demo's trip, from the database
    assert "audit chain OK" in summary  # verified now, with the (canary) audit key
    assert "BINANCE_TERMS_ACCEPTED=false" in summary
    # masking: no client order id of the run, every amount a token, one token per order
    with db(state) as con:
        cids = [r[0] for r in con.execute("SELECT client_order_id FROM orders")]
    assert cids
    excerpt = (out / "logs" / "audit-excerpt.jsonl").read_text()
    for cid in cids:
        assert cid not in excerpt
    entries = [json.loads(line) for line in excerpt.splitlines()]
    by_token: dict[str, set[str]] = {}
    for e in entries:
        d = e.get("data") or {}
        for k in ("qty", "price", "fee"):
            if k in d:
                assert str(d[k]).startswith("<amt:"), (k, d[k])
        if "client_order_id" in d:
            assert d["client_order_id"].startswith("<id:")
            by_token.setdefault(d["client_order_id"], set()).add(e["event"])
    assert any({"order_placed", "fill"} <= kinds for kinds in by_token.values()), by_token
    assert (out / "logs" / "journal-excerpt.jsonl").read_text().strip()
    _sweep(out, [*CANARIES.values(), *ALERT_CANARIES.values(), AWS_ACCOUNT])


def test_packet_from_a_testnet_run_on_the_fake_exchange(
    tmp_path: Path,
    junit: Path,
    fx: FakeBinance,  # noqa: F811
) -> None:
    state = tmp_path / "state"
    d = Running(state, fx)
    try:
        d.wait_ready()
        assert wait_for(lambda: len(fx.orders()) >= 2, timeout=90), "no orders on the fake"
    finally:
        assert d.stop() == 0
    journal = tmp_path / "journal.jsonl"
    journal.write_text("".join(d.lines))
    out = tmp_path / "packet"
    env = daemon_env(fx)
    res = _packet(state, out, junit, journal, "--egress-ip", "203.0.113.7", **env, **ALERT_CANARIES)
    assert res.returncode == 1, res.stdout + res.stderr
    _check_manifest_and_zip(out)
    _check_matrix(out)
    # the attestation: the fake's apiRestrictions for the trade key, as flags only
    at = json.loads((out / "attestation.json").read_text())
    assert at["mode"] == "testnet" and at["not_read"] == ""
    (key,) = at["keys"]
    assert key["role"] == "trade" and key["read"] and key["ok"]
    assert key["flags"]["enableWithdrawals"] is False
    assert key["flags"]["enableSpotAndMarginTrading"] is True
    assert key["flags"]["ipRestrict"] is True
    assert set(map(type, key["flags"].values())) == {bool}
    assert "203.0.113.7" in at["ip_statement"] and "on the key's IP whitelist" in at["ip_statement"]
    assert [a["role"] for a in at["secret_ages"]][0] == "trade"
    assert any(
        r["path"] == "/sapi/v1/account/apiRestrictions" and r["status"] == 200
        for r in fx.requests()
    )
    # the exchange's order ids and our client order ids are masked, and so are IPs
    logs = "".join(p.read_text() for p in (out / "logs").glob("*.jsonl"))
    for o in fx.orders():
        assert o["clientOrderId"] not in logs
        assert f'"{o["orderId"]}"' not in logs
    assert "127.0.0.1" not in logs
    _sweep(out, [KEY, SECRET, *ALERT_CANARIES.values(), FAKE_UID, AWS_ACCOUNT])


def test_a_key_that_can_withdraw_is_reported_and_fails_the_packet(
    tmp_path: Path,
    junit: Path,
    fx: FakeBinance,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The attestation is a check that runs: withdrawals switched on for the key on the
    exchange show as NOT ACCEPTABLE in the attestation and the summary, and exit 1."""
    from tradewarden.compliance.packet import build
    from tradewarden.core.config import load_settings

    fx.add_key(KEY, SECRET, restrictions={"enableWithdrawals": True})
    for k, v in daemon_env(fx).items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(ROOT)
    settings = load_settings(state_dir=tmp_path / "state")
    res = build(settings, tmp_path / "pk", junit=junit)
    assert res.code == 1
    assert res.problems == [
        "trade key NOT ACCEPTABLE: enableWithdrawals is true (withdrawals are enabled: the key"
        " could move funds off the exchange)"
    ]
    at = json.loads((tmp_path / "pk" / "attestation.json").read_text())
    assert at["keys"][0]["flags"]["enableWithdrawals"] is True
    assert at["all_keys_acceptable"] is False
    summary = (tmp_path / "pk" / "summary.md").read_text()
    assert "trade key: NOT acceptable" in summary
    assert "key-permission check: trade: enableWithdrawals is true" in summary  # gate.decide
    _sweep(tmp_path / "pk", [KEY, SECRET, FAKE_UID])
