"""Adversarial review of the compliance packet (issue 21): each test is one attempt to make
the packet leak a secret, a key, a token or a full account id, or show a control as met
that is not. Each failed on the code before its fix."""

from __future__ import annotations

import base64
import html
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.unit.test_secrets_scan import FAKE_KEY_ID, scan, tree  # noqa: F401
from tradewarden.compliance import controls as ctl
from tradewarden.compliance.mask import Masker

ROOT = Path(__file__).resolve().parents[3]
PROD_ACCOUNT = "222222222222"  # Pulumi.prod.yaml's admin role account


def _everything(out: Path) -> dict[str, bytes]:
    """Every file of the packet, every member of its zip and the PDF's text."""
    blobs = {
        p.relative_to(out.parent).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
    }
    zpath = out.with_name(out.name + ".zip")
    with zipfile.ZipFile(zpath) as z:
        blobs |= {f"zip:{i.filename}": z.read(i) for i in z.infolist()}
    blobs["summary.pdf (text)"] = subprocess.run(
        ["pdftotext", str(out / "summary.pdf"), "-"], capture_output=True, check=True
    ).stdout
    return blobs


def test_attack_packet_without_stack_leaks_the_prod_account_id_in_the_diagram(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --stack: the diagram draws the prod stack, whose backup bucket is named after the
    account id (`tradewarden-prod-backups-<account>`); the sweep only knew the account id
    of a --stack given, so the full account id went out in the .dot/.svg/.png."""
    from tradewarden.compliance.packet import build
    from tradewarden.core.config import load_settings

    monkeypatch.chdir(ROOT)
    settings = load_settings(state_dir=tmp_path / "state")
    out = tmp_path / "pk"
    res = build(settings, out)
    assert res.zip_path is not None, res.leaks
    index = json.loads((out / "packet.json").read_text())
    assert "diagram/architecture.svg" in index["diagram"], res.missing
    for where, blob in _everything(out).items():
        assert PROD_ACCOUNT.encode() not in blob, f"{where} holds the prod account id"
    assert (
        "tradewarden-prod-backups-&lt;account-id&gt;"
        in (out / "diagram" / "architecture.dot").read_text()
    )
    from tradewarden.compliance import diagram, packet

    assert packet.DIAGRAM_DEFAULT_STACK == diagram.DEFAULT_STACK  # the sweep knows its stack


WEBHOOK = "https://hooks.slack.com/services/T0CANARY/B0CANARY/xoxCANARYwebhook42"
SMTP_PASSWORD = "smtp/pass+CANARY=99"


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(quote(WEBHOOK, safe=""), id="url-quoted-webhook"),
        pytest.param(quote_plus(SMTP_PASSWORD), id="form-encoded-password"),
        pytest.param(
            base64.b64encode(f"alerts@example.com:{SMTP_PASSWORD}".encode()).decode(),
            id="basic-auth-base64",
        ),
        pytest.param(
            base64.b64encode(b"\0user\0" + SMTP_PASSWORD.encode()).decode(), id="auth-plain"
        ),
    ],
)
def test_attack_an_encoded_secret_in_a_log_line_passes_the_sweep(
    encoded: str, tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret the source holds, in a journal line URL-quoted (a request URL or a form body
    in an exception text) or base64 (HTTP Basic, SMTP AUTH PLAIN): the sweep compared only
    the value as-is and JSON-escaped, so the packet kept it and passed."""
    from tradewarden.compliance.packet import build
    from tradewarden.core.config import load_settings

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("TRADEWARDEN_SLACK_WEBHOOK_URL", WEBHOOK)
    monkeypatch.setenv("TRADEWARDEN_SMTP_USERNAME", "alerts@example.com")
    monkeypatch.setenv("TRADEWARDEN_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setitem(sys.modules, "tradewarden.compliance.diagram", None)  # not needed here
    journal = tmp_path / "journal.jsonl"
    journal.write_text(json.dumps({"msg": f"alert delivery failed: POST ...{encoded}..."}) + "\n")
    settings = load_settings(state_dir=tmp_path / "state")
    out = tmp_path / "pk"
    res = build(settings, out, journal=journal)
    assert res.leaks, "the packet kept an encoded secret and passed the sweep"
    assert any("logs/journal-excerpt.jsonl" in leak for leak in res.leaks)
    assert not out.exists() and res.zip_path is None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Credential-shaped values assembled at run time: the masking blanks credentials by their
# shape, so the test needs the shapes, but no literal in the repository looks like a
# committed credential (the secret scan and a reader see only the pieces).
OLD_KEY = "".join(  # a 64-character alphanumeric Binance API key, fixed for the test
    c
    for c in base64.b64encode(b"binance api key rotated out last month" * 2).decode()
    if c.isalnum()
)[:64]
OLD_SECRETS = {
    "slack webhook": "https://hooks.slack.com/services/T0OLD0001/B0OLD0002/oldwebhooksecret0042",
    "slack token": "-".join(("xox" + "b", "1" * 12, "2" * 13, "AbCdEfGhIjKlMnOpQrStUvWx")),
    "url password": "hunter2-rotated-away",
    "bearer token": ".".join(
        (_b64url(b'{"alg":"HS256"}'), _b64url(b'{"sub":"ops"}'), _b64url(b"signature-old"))
    ),
    "aws access key": FAKE_KEY_ID,
    "binance key": OLD_KEY,
}


def test_attack_a_rotated_out_secret_in_a_log_line_is_kept() -> None:
    """The sweep knows only the values the source holds now: a key rotated last month, a
    Slack webhook replaced after it leaked, an SMTP URL with its password, a bearer token
    in an exception text are not in it. The masking let every one through as plain text."""
    m = Masker()
    lines = [
        {"msg": f"slack delivery failed: POST {OLD_SECRETS['slack webhook']}: 404"},
        {"event": "alert_failed", "url": OLD_SECRETS["slack webhook"]},
        {"msg": "slack api", "headers": {"Authorization": f"Bearer {OLD_SECRETS['slack token']}"}},
        {"msg": f"smtp connect smtp://alerts:{OLD_SECRETS['url password']}@mail.example.com:587"},
        {"exc": f"HTTPError 401: Authorization: Bearer {OLD_SECRETS['bearer token']}"},
        {"msg": f"boto: credentials {OLD_SECRETS['aws access key']} from the environment"},
        {"msg": f"request failed: X-MBX-APIKEY={OLD_KEY}"},
    ]
    masked = "\n".join(m.line(json.dumps(ln)) for ln in lines)
    for what, value in OLD_SECRETS.items():
        assert value not in masked, f"{what} kept: {masked}"
    # what must stay readable does: an audit hash (64 hex) and the host of the webhook
    h = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    assert h in m.line(json.dumps({"hash": h, "msg": f"prev {h}"}))
    assert "hooks.slack.com" in masked


def test_attack_masking_same_value_different_token_and_numeric_ids_in_clear() -> None:
    """The same amount under a key (normalised: 30000.00 -> 30000.0) and in a sentence (not
    normalised) got two tokens, so a reader could not follow it and two equal amounts looked
    different; an account or order id written as a JSON number under a key the masker does
    not list (Binance's `id` of a trade, a sub-account id) stayed in clear, while the same
    number as text was masked."""
    m = Masker()
    keyed = json.loads(m.line(json.dumps({"price": "30000.00"})))["price"]
    text = json.loads(m.line(json.dumps({"msg": "filled at 30000.00"})))["msg"]
    assert keyed.startswith("<amt:") and text == f"filled at {keyed}"
    assert m.text("at 30000.0") == m.text("at 30000.00")
    line = m.line(json.dumps({"trade": {"id": 354937868, "subAccountId": 987654321, "n": 3}}))
    assert "354937868" not in line and "987654321" not in line, line
    as_text = m.text("trade 354937868")
    assert as_text.split()[1] in line  # the same id, the same token, number or text
    assert json.loads(line)["trade"]["n"] == 3  # small counts stay readable


def _all_pass_junit(path: Path, properties: dict[str, str]) -> Path:
    """A pytest-shaped JUnit XML in which every control test passed."""
    cases = "".join(
        '<testcase classname="{}" name="{}" time="0.1"/>'.format(*ctl.node_key(t))
        for c in ctl.CONTROLS
        for t in c.tests
    )
    props = "".join(f'<property name="{k}" value="{v}"/>' for k, v in properties.items())
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest"'
        ' timestamp="2025-01-02T03:04:05+00:00">'
        f"<properties>{props}</properties>{cases}</testsuite></testsuites>",
        encoding="utf-8",
    )
    return path


def test_attack_a_junit_of_other_code_shows_every_control_met(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make compliance` reads whatever var/junit.xml is there: a report of a run on other
    code (an older commit, before a control's test was broken, or edited since) showed
    every control MET for the code the packet describes. The report now carries the code
    fingerprint of the run (tests/conftest.py), and a report that does not match the
    checkout, or says nothing of it, proves nothing."""
    from tradewarden.compliance.packet import build
    from tradewarden.core.config import load_settings

    monkeypatch.chdir(ROOT)
    monkeypatch.setitem(sys.modules, "tradewarden.compliance.diagram", None)
    settings = load_settings(state_dir=tmp_path / "state")
    other = _all_pass_junit(tmp_path / "other.xml", {"tradewarden_code_sha256": "0" * 64})
    res = build(settings, tmp_path / "a", junit=other)
    assert not [r.control.id for r in res.rows if r.met], "controls MET from other code's run"
    assert "other code" in json.loads((tmp_path / "a" / "controls.json").read_text())["stale"]
    silent = _all_pass_junit(tmp_path / "silent.xml", {})
    res = build(settings, tmp_path / "b", junit=silent)
    assert not [r.control.id for r in res.rows if r.met]
    # the run of this code: MET
    now = _all_pass_junit(tmp_path / "now.xml", {ctl.CODE_PROPERTY: ctl.code_fingerprint(ROOT)})
    res = build(settings, tmp_path / "c", junit=now)
    assert all(r.met for r in res.rows)


def test_attack_conftest_records_the_code_in_the_junit(tmp_path: Path) -> None:
    """The property the packet checks is written by a real `pytest --junitxml` run."""
    out = tmp_path / "j.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={out}"]
        + ["tests/unit/wallet/test_split.py::test_rebalance_boundaries"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ctl.read_junit(out).code == ctl.code_fingerprint(ROOT)


def test_attack_an_inline_allowlist_pragma_hides_a_new_key_from_the_scan(tree: Path) -> None:  # noqa: F811
    """detect-secrets honours `# pragma: allowlist secret` on the line: a real key added
    with that comment passed `make secrets-scan` without any review in the baseline."""
    (tree / "daemon").mkdir()
    (tree / "daemon" / "settings_local.py").write_text(
        f'AWS_ACCESS_KEY_ID = "{FAKE_KEY_ID}"  # pragma: allowlist secret\n'
    )
    found = scan(tree)
    assert found.returncode == 1, found.stdout + found.stderr
    assert "daemon/settings_local.py:1: AWS Access Key: new secret-looking string" in found.stderr


def test_attack_a_dangling_symlink_at_dir_zip_keeps_a_leaking_zip_elsewhere(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`DIR.zip` as a dangling symlink passed the "exists" check (Path.exists follows it);
    the zip was written through it to the link's target, and when the sweep found a secret
    only the link was deleted: the zip with the secret stayed where the link pointed."""
    from tradewarden.compliance.packet import PacketInputError, build
    from tradewarden.core.config import load_settings

    key = "LEAKYKEY0123456789abcdefCANARY0123456789"
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("TRADEWARDEN_BINANCE_API_KEY", key)
    monkeypatch.setenv("TRADEWARDEN_BINANCE_API_SECRET", "another-secret-CANARY-" + "z" * 30)
    monkeypatch.setitem(sys.modules, "tradewarden.compliance.diagram", None)
    journal = tmp_path / "journal.jsonl"
    journal.write_text(json.dumps({"msg": f"request failed for {key}"}) + "\n")
    elsewhere = tmp_path / "shared" / "loot.zip"
    elsewhere.parent.mkdir()
    (tmp_path / "pk.zip").symlink_to(elsewhere)
    (tmp_path / "pk.zip.sha256").symlink_to(tmp_path / "shared" / "loot.sha256")
    settings = load_settings(state_dir=tmp_path / "state")
    with pytest.raises(PacketInputError, match="pk.zip"):
        build(settings, tmp_path / "pk", journal=journal)
    assert not elsewhere.exists(), "the zip holding the key was written through the link"


def test_attack_an_html_escaped_secret_in_the_svg_passes_the_sweep(tmp_path: Path) -> None:
    """The diagram's .dot labels and its .svg are HTML-escaped: a value with `&`, `<`, `>`
    or a quote is written as `&amp;`..., a form the sweep did not look for."""
    from tradewarden.compliance.packet import sweep

    password = 'smtp&pass<CANARY>"42'
    svg = tmp_path / "architecture.svg"
    svg.write_text(f"<svg><text>{html.escape(password)}</text></svg>", encoding="utf-8")
    assert sweep([svg], [("smtp.password", password)], tmp_path) == [
        "architecture.svg: smtp.password"
    ]


def test_attack_an_ipv6_address_is_not_masked() -> None:
    """The masking knew IPv4 only: the host's or a peer's IPv6 address (the NAT64 path, an
    exception text of a connect failure) went into the excerpts in clear."""
    m = Masker()
    ip = "2a05:d018:1c2:3d00:8a7:1b2c:3d4e:5f60"
    line = m.line(json.dumps({"msg": f"connect to [{ip}]:443 failed", "peer": ip}))
    assert ip not in line, line
    d = json.loads(line)
    assert d["peer"].startswith("<ip:") and d["peer"] in d["msg"]  # one address, one token
    assert "::1" not in m.text("from ::1 port 8080")
    assert m.text("2A05:D018:01C2:3D00:08A7:1B2C:3D4E:5F60") == d["peer"]  # same address
    # timestamps and hashes are not addresses
    ts = "2026-12-04T03:17:49.542762+00:00"
    assert m.line(json.dumps({"msg": f"at {ts}"})) == json.dumps({"msg": f"at {ts}"})


def test_attack_an_id_under_a_variant_of_a_listed_key_is_kept() -> None:
    """ID_KEYS was matched on the lower-cased key only: `client_order_ids` (a list, as the
    daemon writes it), `orig_client_order_id`, `exchangeOrderId`, `listen_key` kept ids that
    do not look like ours (an order placed in the Binance app: `web_...`) in clear."""
    m = Masker()
    data = {
        "client_order_ids": ["web_7f3a9c1e2b4d", "and_5e6f7a8b9c0d"],
        "orig_client_order_id": "ios_1a2b3c4d5e6f",
        "exchangeOrderId": "ORD-88aa",
        "listen_key": "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1",
        "executed_qty": "0.5",
    }
    line = m.line(json.dumps(data))
    for value in [*data["client_order_ids"], *list(data.values())[1:]]:
        assert value not in line, (value, line)
    assert json.loads(line)["client_order_ids"][0] == m.token("id", "web_7f3a9c1e2b4d")


def test_attack_a_sweep_with_no_secret_to_look_for_passes_the_packet(
    tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built where the secret source cannot be read (a laptop without the host's AWS role,
    an empty env source), the sweep had nothing to look for and still said "none found":
    the packet exited 0, complete and clean, without any secret having been checked."""
    from tradewarden.compliance.packet import build
    from tradewarden.core.config import load_settings

    monkeypatch.chdir(ROOT)
    state = tmp_path / "state"
    run = subprocess.run(
        [sys.executable, "-m", "tradewarden.cli", "run", "--no-console"],
        env={"PATH": os.environ["PATH"], "TRADEWARDEN_STATE_DIR": str(state)}
        | {"TRADEWARDEN_METRICS_PORT": "0", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    journal = tmp_path / "journal.jsonl"
    journal.write_text(run.stdout)
    junit = _all_pass_junit(tmp_path / "j.xml", {ctl.CODE_PROPERTY: ctl.code_fingerprint(ROOT)})
    settings = load_settings(state_dir=state)
    res = build(settings, tmp_path / "pk", junit=junit, journal=journal, stack="dev")
    assert res.code == 1, (res.notes, res.missing, res.problems)
    assert any("no secret value" in m for m in res.missing), res.missing


def test_attack_an_order_not_ours_keeps_its_client_order_id_in_the_reconcile_text() -> None:
    """The reconciler's summary names open orders that are not ours as SYMBOL:clientOrderId
    (exchange/reconcile.py); such an id (an order placed in the Binance app: `web_...`, or
    Binance's random one) is not tw-shaped, and the masking left it in clear."""
    m = Masker()
    cid, other = "web_7f3a9c1e2b4d4c0a8b1e", "6gCrw2kRUAF9CvJDGP16IP"
    text = f"reconcile: 2 open order(s) not ours (BTCUSDT:{cid}, ETHUSDT:{other})"
    line = m.line(json.dumps({"msg": text, "clientOrderId": cid}))
    assert cid not in line and other not in line, line
    d = json.loads(line)
    assert f"BTCUSDT:{d['clientOrderId']}" in d["msg"]  # the same id, the same token
    assert m.text("at 03:17:49 BINANCE_TESTNET=true: ok") == "at 03:17:49 BINANCE_TESTNET=true: ok"
