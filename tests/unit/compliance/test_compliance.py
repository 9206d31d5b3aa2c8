"""The compliance packet's controls matrix, JUnit reading and masking (issue 21).

Every control names real tests and real paths (a rename cannot orphan a row); a control
whose test failed, errored, was skipped or did not run shows NOT MET and the packet command
exits 1."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from typer.testing import CliRunner

from tradewarden.compliance import controls as ctl
from tradewarden.compliance.mask import Masker

ROOT = Path(__file__).resolve().parents[3]


def _defined(path: Path) -> set[str]:
    """Test functions as `name` and `Class::name`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.add(node.name)
        elif isinstance(node, ast.ClassDef):
            out |= {
                f"{node.name}::{n.name}"
                for n in node.body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return out


def test_every_mapped_test_and_path_exists() -> None:
    bad = []
    ids = [c.id for c in ctl.CONTROLS]
    assert len(ids) == len(set(ids)), "duplicate control ids"
    for c in ctl.CONTROLS:
        assert c.tests, f"{c.id} names no test"
        assert c.seeds and set(c.seeds) <= {ctl.BINANCE, ctl.PETS, ctl.CRYPTOPULSE}, c.id
        for p in c.implemented_in:
            if not (ROOT / p).exists():
                bad.append(f"{c.id}: implemented_in {p}")
        for node in c.tests:
            file, _, name = node.partition("::")
            path = ROOT / file
            if not path.is_file():
                bad.append(f"{c.id}: {file} does not exist")
            elif name.split("[", 1)[0] not in _defined(path):
                bad.append(f"{c.id}: {node} is not defined")
    assert bad == []


def test_the_seed_controls_are_all_in_the_matrix() -> None:
    required = {
        "key-scope",
        "egress-allow-list",
        "secrets-storage",
        "secrets-rotation",
        "rate-limiting",
        "circuit-breakers",
        "manual-reset",
        "approvals",
        "audit-log",
        "audit-retention",
        "alerting",
        "backups",
        "terms-acceptance",
        "live-gate",
        "paper-first",
        "hot-cold-split",
    }
    assert required <= {c.id for c in ctl.CONTROLS}


def _junit(tmp_path: Path, outcome: dict[str, str]) -> Path:
    """A pytest-shaped JUnit XML of this checkout's code (as tests/conftest.py records it):
    every control test passed unless `outcome` says failed / error / skipped / missing."""
    cases = []
    for c in ctl.CONTROLS:
        for node in c.tests:
            how = outcome.get(node, "passed")
            if how == "missing":
                continue
            cls, name = ctl.node_key(node)
            body = {
                "passed": "",
                "failed": '<failure message="assert 1 == 2">trace</failure>',
                "error": '<error message="fixture broke">trace</error>',
                "skipped": '<skipped type="pytest.skip" message="no promtool">why</skipped>',
            }[how]
            cases.append(f'<testcase classname="{cls}" name="{name}" time="0.1">{body}</testcase>')
    xml = (
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest"'
        f' errors="0" failures="0" skipped="0" tests="{len(cases)}"'
        ' timestamp="2026-12-04T01:02:03.456789+00:00"><properties>'
        f'<property name="{ctl.CODE_PROPERTY}" value="{ctl.code_fingerprint(ROOT)}"/>'
        "</properties>" + "".join(cases) + "</testsuite></testsuites>"
    )
    p = tmp_path / "junit.xml"
    p.write_text(xml, encoding="utf-8")
    return p


def test_a_failing_skipped_erroring_or_missing_test_shows_its_control_not_met(
    tmp_path: Path,
) -> None:
    by_id = {c.id: c for c in ctl.CONTROLS}
    outcome = {
        by_id["circuit-breakers"].tests[1]: "failed",
        by_id["monitoring"].tests[0]: "skipped",
        by_id["backups"].tests[2]: "error",
        by_id["approvals"].tests[0]: "missing",
    }
    rows = {r.control.id: r for r in ctl.evaluate(ctl.read_junit(_junit(tmp_path, outcome)))}
    not_met = {k for k, r in rows.items() if not r.met}
    assert not_met == {"circuit-breakers", "monitoring", "backups", "approvals"}
    assert "failed" in rows["circuit-breakers"].why_not
    assert "skipped" in rows["monitoring"].why_not
    assert "error" in rows["backups"].why_not
    assert "missing" in rows["approvals"].why_not
    md = ctl.matrix_markdown(rows.values(), None)
    assert md.count("| **NOT MET** (") == 4
    # and all passing: every control met
    assert all(r.met for r in ctl.evaluate(ctl.read_junit(_junit(tmp_path, {}))))


def test_a_parametrised_test_fails_if_any_case_fails(tmp_path: Path) -> None:
    node = "tests/unit/test_x.py::TestA::test_b"
    cls, name = ctl.node_key(node)
    assert (cls, name) == ("tests.unit.test_x.TestA", "test_b")
    xml = (
        f'<testsuite timestamp="2026-01-01T00:00:00"><testcase classname="{cls}"'
        f' name="{name}[1]"/><testcase classname="{cls}" name="{name}[2]">'
        '<failure message="x"/></testcase></testsuite>'
    )
    (tmp_path / "j.xml").write_text(xml)
    res = ctl.read_junit(tmp_path / "j.xml").result(node)
    assert (res.status, res.cases) == ("failed", 2)


def test_packet_cli_exits_1_naming_the_failed_control(
    tmp_path: Path, clean_env: None, monkeypatch
) -> None:
    from tradewarden.cli.main import app

    by_id = {c.id: c for c in ctl.CONTROLS}
    junit = _junit(tmp_path, {by_id["manual-reset"].tests[0]: "failed"})
    monkeypatch.chdir(ROOT)
    res = CliRunner().invoke(
        app,
        ["compliance", "packet", "--out", str(tmp_path / "pk"), "--junit", str(junit)]
        + ["--state-dir", str(tmp_path / "state")],
    )
    assert res.exit_code == 1, res.output
    assert "NOT MET manual-reset: 1 of 3 tests failed" in res.output
    data = json.loads((tmp_path / "pk" / "controls.json").read_text())
    status = {c["id"]: c["status"] for c in data["controls"]}
    assert status["manual-reset"] == "NOT MET"
    assert [k for k, v in status.items() if v != "MET"] == ["manual-reset"]
    assert data["test_run"] == "2026-12-04 01:02 UTC"
    # bad input is 2: an unreadable JUnit file, an output directory in use
    (tmp_path / "bad.xml").write_text("<not xml")
    res = CliRunner().invoke(
        app,
        [
            "compliance",
            "packet",
            "--out",
            str(tmp_path / "pk2"),
            "--junit",
            str(tmp_path / "bad.xml"),
        ],
    )
    assert res.exit_code == 2
    res = CliRunner().invoke(app, ["compliance", "packet", "--out", str(tmp_path / "pk")])
    assert res.exit_code == 2 and "not empty" in res.output


def test_masking_is_consistent_and_hides_ids_ips_and_amounts() -> None:
    m = Masker()
    a = m.line(
        json.dumps(
            {
                "event": "order_placed",
                "ts": "2026-12-04T02:17:40.019487+00:00",
                "data": {
                    "client_order_id": "tw-trendbtc-mx8csw4l-0001",
                    "exchange_order_id": "12345678",
                    "qty": 0.5,
                    "price": 30000.0,
                    "api_secret": "s3cr3t-value-123",
                },
            }
        )
    )
    b = m.line(
        json.dumps(
            {
                "msg": "order tw-trendbtc-mx8csw4l-0001 filled at 30,000.00 for account 987654321"
                " from 203.0.113.7 by ops@example.com",
                "price": "30000",
            }
        )
    )
    for raw in (
        "tw-trendbtc-mx8csw4l-0001",
        "12345678",
        "203.0.113.7",
        "987654321",
        "ops@example.com",
        "30000",
        "30,000.00",
        "s3cr3t-value-123",
    ):
        assert raw not in a + b, raw
    da, db = json.loads(a), json.loads(b)
    cid = da["data"]["client_order_id"]
    assert cid.startswith("<id:") and cid in db["msg"]  # the same id, the same token
    assert da["data"]["price"] == db["price"]  # 30000.0 and "30000": one amount
    assert da["data"]["price"] != da["data"]["qty"]
    assert da["data"]["api_secret"] == "***"
    assert da["ts"] == "2026-12-04T02:17:40.019487+00:00"
    # another packet (another key): other tokens, so packets cannot be linked
    assert Masker().line(a) != a and Masker().token("id", "x") != m.token("id", "x")


def test_a_secret_that_reaches_the_packet_deletes_it_and_fails(
    tmp_path: Path, clean_env: None, monkeypatch
) -> None:
    """The packet's own canary sweep: a log line carrying the trade key in free text (which
    the masking cannot recognise) is found in the excerpt, the zip and nowhere kept."""
    from tradewarden.cli.main import app

    key = "LEAKYKEY0123456789abcdefCANARY0123456789"
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TRADEWARDEN_BINANCE_API_KEY", key)
    monkeypatch.setenv("TRADEWARDEN_BINANCE_API_SECRET", "another-secret-CANARY-" + "z" * 30)
    journal = tmp_path / "journal.jsonl"
    journal.write_text(json.dumps({"msg": f"request failed for {key}"}) + "\n")
    out = tmp_path / "pk"
    res = CliRunner().invoke(
        app, ["compliance", "packet", "--out", str(out), "--journal", str(journal)]
    )
    assert res.exit_code == 1
    assert "SECRET FOUND" in res.output
    assert "pk/logs/journal-excerpt.jsonl: trade.api_key" in res.output
    assert "pk.zip:pk/logs/journal-excerpt.jsonl: trade.api_key" in res.output
    assert key not in res.output
    assert not out.exists() and not (tmp_path / "pk.zip").exists()


def test_accept_terms_records_who_when_and_which_text_and_the_packet_shows_it(
    tmp_path: Path, clean_env: None, monkeypatch
) -> None:
    import hashlib

    from tradewarden.cli.main import app

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", "audit-key-canary-" + "a" * 32)
    terms = tmp_path / "terms.html"
    terms.write_text("<h1>Binance Developer Terms</h1> ... revised 2025-06-01")
    res = CliRunner().invoke(
        app, ["compliance", "accept-terms", "--version", "2025-06-01", "--text", str(terms)]
    )
    assert res.exit_code == 0, res.output
    assert "BINANCE_TERMS_ACCEPTED is still false" in res.output
    res = CliRunner().invoke(app, ["compliance", "accept-terms", "--version", " "])
    assert res.exit_code == 2
    res = CliRunner().invoke(app, ["compliance", "packet", "--out", str(tmp_path / "pk")])
    assert res.exit_code == 1  # no JUnit report: every control NOT MET
    md = (tmp_path / "pk" / "terms.md").read_text()
    assert "terms version '2025-06-01'" in md
    assert hashlib.sha256(terms.read_bytes()).hexdigest() in md
    assert "| who |" in md and "uid=" in md  # the real uid, not $USER
    assert "`BINANCE_TERMS_ACCEPTED` = **false**" in md
    assert "audit chain OK" in (tmp_path / "pk" / "summary.md").read_text()


def test_the_diagram_is_taken_from_render_architecture_or_reported_missing(
    tmp_path: Path, clean_env: None, monkeypatch
) -> None:
    """The interface with `tradewarden.compliance.diagram` (issue 21): its files land in the
    packet and its manifest; a renderer that fails or writes no PNG makes the diagram
    MISSING (exit 1), never a stand-in. (A test double of the renderer, in this test only.)"""
    import sys
    import types

    from tradewarden.compliance.packet import build
    from tradewarden.core.config import load_settings

    monkeypatch.chdir(ROOT)
    settings = load_settings(state_dir=tmp_path / "state")
    calls = []

    def render(out_dir: Path, stack: str | None) -> list[Path]:
        calls.append((out_dir, stack))
        paths = [out_dir / f"architecture.{ext}" for ext in ("dot", "svg", "png")]
        for p in paths:
            p.write_text(f"{p.suffix} for {stack}")
        return paths

    mod = types.ModuleType("tradewarden.compliance.diagram")
    mod.render_architecture = render  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tradewarden.compliance.diagram", mod)
    res = build(settings, tmp_path / "a", stack="dev")
    assert calls == [(tmp_path / "a" / "diagram", "dev")]
    assert not [m for m in res.missing if m.startswith("architecture diagram")]
    index = json.loads((tmp_path / "a" / "packet.json").read_text())
    assert index["diagram"] == [f"diagram/architecture.{e}" for e in ("dot", "svg", "png")]
    assert "diagram/architecture.png" in (tmp_path / "a" / "MANIFEST.sha256").read_text()

    mod.render_architecture = lambda out_dir, stack: [out_dir / "architecture.dot"]  # type: ignore[attr-defined]
    (tmp_path / "b").mkdir()
    res = build(settings, tmp_path / "b", stack="dev")
    assert res.code == 1 and any("did not write an SVG and a PNG" in m for m in res.missing)

    def broken(out_dir: Path, stack: str | None) -> list[Path]:
        raise RuntimeError("dot: not found")

    mod.render_architecture = broken  # type: ignore[attr-defined]
    res = build(settings, tmp_path / "c", stack="dev")
    assert any("RuntimeError: dot: not found" in m for m in res.missing)
    monkeypatch.setitem(sys.modules, "tradewarden.compliance.diagram", None)  # not there
    res = build(settings, tmp_path / "d", stack="dev")
    assert any("diagram not available" in m for m in res.missing)
