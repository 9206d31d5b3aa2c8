"""Issue 13 defect 8: the audit chain against truncation and a rewritten tail.

The head (last seq + hash) is recorded in SQLite at each append, so cutting lines off the
newest file or rewriting the tail with recomputed hashes no longer verifies; entries carry
an HMAC with the audit key, so a rewrite by someone without the key (even one who also
edits the database) is caught."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tradewarden.audit.chain import canonical, entry_hash
from tradewarden.cli.main import app

runner = CliRunner()
AUDIT_KEY = "audit-key-canary-5f3e9d1c7b2a4e6f8091a2b3c4d5e6f7"
# a valid Fernet key (32 url-safe base64 bytes), so the settings accept it and the test can
# look for it in the outputs
CREDENTIAL_KEY_CANARY = base64.urlsafe_b64encode(b"credential-key-canary-0d9c8b7a6f").decode()

pytestmark = pytest.mark.usefixtures("clean_env")


@pytest.fixture()
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    s = tmp_path / "state"
    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(s))
    return s


def declare(n: int) -> None:
    """`wallet declare-cold` is an audited CLI command: one entry each."""
    for i in range(n):
        r = runner.invoke(
            app, ["wallet", "declare-cold", "--amount", str(1000 + i), "--address", f"bc1q{i}"]
        )
        assert r.exit_code == 0, r.output


def audit_file(state: Path) -> Path:
    (f,) = sorted((state / "audit").glob("audit-*.jsonl"))
    return f


def entries(state: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in audit_file(state).read_text().splitlines()]


def rewrite(state: Path, es: list[dict[str, Any]], *, keep_hmac: bool = True) -> None:
    """Renumber and re-hash the chain the way an attacker without the key would."""
    prev = "0" * 64
    out = []
    for seq, e in enumerate(es, start=1):
        e = dict(e)
        mac = e.pop("hmac", None)
        e["seq"], e["prev_hash"] = seq, prev
        e.pop("hash", None)
        e["hash"] = entry_hash(e)
        if keep_hmac and mac is not None:
            e["hmac"] = mac
        prev = e["hash"]
        out.append(canonical(e).decode() + "\n")
    audit_file(state).write_text("".join(out))


def forge_db_head(state: Path, e: dict[str, Any]) -> None:
    """The attacker also has the database: make its recorded head match the rewrite."""
    con = sqlite3.connect(state / "tradewarden.sqlite3")
    with contextlib.suppress(sqlite3.OperationalError), con:  # no head table on old code
        con.execute(
            "UPDATE audit_head SET seq=?, hash=?, hmac=?", (e["seq"], e["hash"], e.get("hmac"))
        )
    con.close()


def verify(*args: str) -> Any:
    return runner.invoke(app, ["audit", "verify", *args])


def test_truncating_the_newest_file_fails_naming_the_missing_seqs(state: Path) -> None:
    declare(5)
    assert verify().exit_code == 0
    f = audit_file(state)
    f.write_text("".join(f.read_text().splitlines(keepends=True)[:-2]))  # whole lines gone
    r = verify()
    assert r.exit_code == 1, r.output
    assert "BROKEN" in r.output and "seq 4..5" in r.output, r.output


def test_deleting_entries_and_recomputing_the_hashes_fails(state: Path) -> None:
    declare(5)
    es = entries(state)
    del es[2]
    rewrite(state, es)
    r = verify()
    assert r.exit_code == 1, r.output
    assert "BROKEN" in r.output, r.output


def test_rewritten_tail_with_a_forged_head_fails_on_the_hmac(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", AUDIT_KEY)
    declare(5)
    es = entries(state)
    es[3]["data"]["amount"] = 1.0  # the attacker lowers a declared amount
    rewrite(state, es)  # hashes recomputed, the old HMACs kept (no key to make new ones)
    forge_db_head(state, json.loads(audit_file(state).read_text().splitlines()[-1]))
    r = verify()
    assert r.exit_code == 1, r.output
    assert "HMAC" in r.output and "seq 4" in r.output, r.output


def test_rewritten_without_hmacs_is_a_downgrade_and_fails(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", AUDIT_KEY)
    declare(4)
    rewrite(state, entries(state)[:3], keep_hmac=False)
    forge_db_head(state, json.loads(audit_file(state).read_text().splitlines()[-1]))
    r = verify()
    assert r.exit_code == 1, r.output
    assert "HMAC" in r.output, r.output


def test_entries_carry_an_hmac_and_a_wrong_key_is_reported(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", AUDIT_KEY)
    declare(2)
    assert all(len(e.get("hmac", "")) == 64 for e in entries(state))
    assert AUDIT_KEY not in audit_file(state).read_text()
    assert verify().exit_code == 0
    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", "another-key-" + "x" * 32)
    r = verify()
    assert r.exit_code == 1 and "HMAC" in r.output, r.output
    # and a writer with the wrong key refuses to continue the chain
    r = runner.invoke(app, ["wallet", "declare-cold", "--amount", "1", "--address", "bc1qz"])
    assert r.exit_code != 0 and "audit key" in r.output, r.output


def test_a_writer_without_the_key_cannot_extend_a_signed_chain(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", AUDIT_KEY)
    declare(2)
    monkeypatch.delenv("TRADEWARDEN_AUDIT_KEY")
    r = runner.invoke(app, ["wallet", "declare-cold", "--amount", "1", "--address", "bc1qz"])
    assert r.exit_code != 0 and "audit key" in r.output, r.output
    assert len(entries(state)) == 2


def test_legacy_entries_verify_with_a_note(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    declare(2)  # no key: unsigned, as every file written before this change
    legacy = audit_file(state).read_text()
    (state / "tradewarden.sqlite3").unlink()  # as before: no recorded head either
    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", AUDIT_KEY)
    declare(2)
    assert audit_file(state).read_text().startswith(legacy)
    r = verify()
    assert r.exit_code == 0, r.output
    assert "legacy" in r.output and "seq 1..2" in r.output, r.output


def test_missing_key_in_prod_is_a_configuration_error(tmp_path: Path) -> None:
    from tradewarden.audit.chain import AuditConfigError, audit_key
    from tradewarden.core.config import load_settings
    from tradewarden.secrets.env import EnvSource

    dev = load_settings(state_dir=tmp_path)
    source = EnvSource(dev, environ={})
    assert audit_key(dev, source) is None  # dev: unsigned, said by verify
    prod = load_settings(state_dir=tmp_path, profile="prod")
    with pytest.raises(AuditConfigError, match="audit_key"):
        audit_key(prod, source)


def test_the_daemon_records_the_head_and_refuses_a_truncated_chain(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.builders import LogNotifier
    from tradewarden.core.config import load_settings
    from tradewarden.runtime.daemon import Daemon, StartupError, safe_config

    monkeypatch.setenv("BINANCE_CREDENTIAL_KEY", CREDENTIAL_KEY_CANARY)
    settings = load_settings()
    d = Daemon(settings, notifier=LogNotifier())
    d.close()
    started = next(e for e in entries(state) if e["event"] == "daemon_started")
    cfg = started["data"]["config"]
    assert started["data"]["config_sha256"] == hashlib.sha256(canonical(cfg)).hexdigest()
    assert CREDENTIAL_KEY_CANARY not in audit_file(state).read_text()
    f = audit_file(state)
    f.write_text("".join(f.read_text().splitlines(keepends=True)[:-1]))  # drop daemon_stopped
    with pytest.raises(StartupError, match=r"entry seq 2 is missing"):
        Daemon(settings, notifier=LogNotifier())
    assert safe_config(settings)["credential_key_set"] is True


def test_an_order_intent_and_its_audit_head_commit_together(tmp_path: Path) -> None:
    """The order gate writes the intent and the audit head in one transaction: an intent
    whose audit entry cannot be written is not committed (and nothing is sent)."""
    from tradewarden.audit.chain import AuditLog
    from tradewarden.core.config import load_settings
    from tradewarden.core.models import OrderRequest, OrderType, Side
    from tradewarden.risk.engine import RiskEngine
    from tradewarden.state.store import Store
    from tradewarden.trading.order_gate import OrderGate
    from tradewarden.trading.paper_broker import PaperBroker

    settings = load_settings(state_dir=tmp_path, bots="b1:BTCUSDT:ma_cross", symbols="BTCUSDT")
    store = Store(settings.db_path)
    audit = AuditLog(settings.audit_dir, store=store)
    broker = PaperBroker({"USDT": 10_000.0})
    sent: list[Any] = []
    real_submit = broker.submit

    def submit(req: Any) -> Any:
        sent.append(req)
        return real_submit(req)

    broker.submit = submit  # type: ignore[method-assign]
    risk = RiskEngine(settings, store, ["b1"])
    risk.set_balances({"USDT": 10_000.0})
    gate = OrderGate(risk, broker, store, audit)

    def request() -> OrderRequest:
        return OrderRequest(
            bot="b1", symbol="BTCUSDT", side=Side.BUY, qty=0.001, order_type=OrderType.MARKET
        )

    class Broken(Exception):
        pass

    def fail(*_a: Any, **_k: Any) -> Any:
        raise Broken("disk full")

    real = audit._append_locked
    audit._append_locked = fail  # type: ignore[method-assign]
    with pytest.raises(Broken):
        gate.submit(request(), 50_000.0)
    assert store.order_count() == 0 and not sent
    assert not (settings.audit_dir / "audit.lock").exists() or not entries_in(settings.audit_dir)
    audit._append_locked = real  # type: ignore[method-assign]
    gate.submit(request(), 50_000.0)
    head = store.audit_head()
    events = entries_in(settings.audit_dir)
    intent = next((e for e in events if e["event"] == "order_intent"), events)
    assert store.order_count() == 1, events
    assert head is not None and head["seq"] >= intent["seq"]
    audit.close()
    store.close()


def entries_in(d: Path) -> list[dict[str, Any]]:
    return [
        json.loads(x) for f in sorted(d.glob("audit-*.jsonl")) for x in f.read_text().splitlines()
    ]


def test_a_new_chain_continues_from_the_recorded_head(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEWARDEN_AUDIT_KEY", AUDIT_KEY)
    declare(3)
    f = audit_file(state)
    f.write_text("".join(f.read_text().splitlines(keepends=True)[:-1]))
    assert verify().exit_code == 1
    busy = runner.invoke(app, ["audit", "new-chain", "--reason", "INC-1"])
    assert busy.exit_code == 1 and "move the directory aside" in busy.output
    (state / "audit").rename(state / "audit.broken")
    r = runner.invoke(app, ["audit", "new-chain", "--reason", "INC-1"])
    assert r.exit_code == 0, r.output
    (first,) = entries(state)
    assert first["event"] == "chain_restarted" and first["seq"] == 4
    assert first["data"]["continues_from"]["seq"] == 3 and first["data"]["reason"] == "INC-1"
    ok = verify()
    assert ok.exit_code == 0, ok.output
    declare(1)
    assert verify().exit_code == 0


def test_processes_appending_with_the_head_keep_one_chain(tmp_path: Path) -> None:
    """Several writers (the daemon, CLI commands) each record the head: SQLite's write lock
    then the file lock, in that order everywhere, so no deadlock and the head is the last."""
    import subprocess
    import sys

    from tradewarden.audit.chain import recorded_head
    from tradewarden.audit.chain import verify as verify_dir
    from tradewarden.state.store import Store

    code = (
        "import sys; from tradewarden.audit.chain import AuditLog;"
        "from tradewarden.state.store import Store;"
        "s = Store(sys.argv[1] + '/db.sqlite3', durable=False);"
        f"log = AuditLog(sys.argv[1] + '/audit', key={AUDIT_KEY!r}, store=s);"
        "[log.append('p', {'n': n}) for n in range(100)]; log.close(); s.close()"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)]) for _ in range(3)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    store = Store(tmp_path / "db.sqlite3")
    head = recorded_head(store)
    store.close()
    assert head is not None and head.seq == 300 and head.signed_from == 1
    res = verify_dir(tmp_path / "audit", key=AUDIT_KEY, refs=[head])
    assert res.ok and res.lines == 300 and res.last_hash == head.hash, res.describe()


def test_a_backup_of_a_cut_chain_is_refused_at_restore(state: Path, tmp_path: Path) -> None:
    declare(3)
    f = audit_file(state)
    f.write_text("".join(f.read_text().splitlines(keepends=True)[:-1]))
    made = runner.invoke(app, ["backup", "--to", str(tmp_path / "backups"), "--json"])
    assert made.exit_code == 0, made.output
    location = json.loads(made.output)["location"]
    check = runner.invoke(app, ["restore", "--from", location, "--check"])
    assert check.exit_code != 0, check.output
    assert "entry seq 3 is missing" in check.output, check.output
