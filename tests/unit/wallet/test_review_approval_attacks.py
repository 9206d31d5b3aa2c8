"""Adversarial review of issue 13 #7 (per-approver seeds): attacks by one person who can
run `tradewarden approvers ...` on the host (sudo) but is at most one approver."""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest

from tests.builders import ApprovalDesk
from tradewarden.wallet.approvals import VOUCH_COOLOFF_S, ApprovalError


def test_attack_replace_takes_over_both_approvers_without_a_second_human(
    desk: ApprovalDesk,
) -> None:
    """mallory (no approver, or one of them) runs `approvers add alice --replace` and
    `add bob --replace`, confirms with the codes of the new seeds she just saw, and is now
    both approvers of a $50,000 transfer."""
    desk.enrol("alice")
    desk.enrol("bob")
    pid = desk.q.propose("transfer", 50_000.0, {"destination": "x"}, "daemon")
    taken = {}
    for name in ("alice", "bob"):
        with pytest.raises(ApprovalError, match="vouch"):
            e = desk.approvers.add(name, "mallory@host uid=0", replace=True)
            taken[name] = pyotp.parse_uri(e.uri).secret
            desk.approvers.confirm(name, desk.code(taken[name]), "mallory@host uid=0")
            desk.clock.step()
    assert desk.q.get(pid).status == "pending"
    assert [r["status"] for r in desk.approvers.list()] == ["active", "active"]


def test_attack_new_names_need_a_voucher_once_two_approvers_exist(desk: ApprovalDesk) -> None:
    desk.enrol("alice")
    desk.enrol("bob")
    with pytest.raises(ApprovalError, match="vouch"):
        desk.approvers.add("mallory2", "mallory@host uid=0")
    valid = {desk.code(n, k) for n in ("alice", "bob") for k in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    with pytest.raises(ApprovalError, match="vouch"):  # a wrong voucher code
        desk.approvers.add("mallory2", "mallory@host uid=0", voucher_code=wrong)
    assert [r["name"] for r in desk.approvers.list()] == ["alice", "bob"]


def test_attack_an_approver_vouching_for_herself_twice_cannot_co_approve(
    desk: ApprovalDesk,
) -> None:
    """mallory is one approver; she vouches (with her own code) for `alice --replace`
    and for a new `m2`: none of the names she vouched for approves together with her or
    with each other while the vouch is recent."""
    desk.enrol("alice")
    desk.enrol("bob")
    desk.enrol("mallory", voucher="alice")
    desk.clock.t += VOUCH_COOLOFF_S + 60  # mallory is an old, trusted approver now
    fake = {}
    for name in ("alice", "m2"):
        e = desk.approvers.add(
            name, "mallory@host uid=0", replace=name == "alice", voucher_code=desk.code("mallory")
        )
        fake[name] = pyotp.parse_uri(e.uri).secret
        desk.clock.step()
        desk.approvers.confirm(name, desk.code(fake[name]), "mallory@host uid=0")
        desk.clock.step()
    pid = desk.q.propose("transfer", 50_000.0, {"destination": "x"}, "daemon")
    assert desk.q.approve(pid, desk.code("mallory"), "ok", actor="m").status == "pending"
    desk.clock.step()
    for name in ("alice", "m2"):
        with pytest.raises(ApprovalError, match="vouched"):
            desk.q.approve(pid, desk.code(fake[name]), "ok", actor="m")
        desk.clock.step()
    pid2 = desk.q.propose("withdrawal", 50_000.0, {"destination": "x"}, "daemon")
    assert desk.q.approve(pid2, desk.code(fake["alice"]), "ok", actor="m").status == "pending"
    desk.clock.step()
    with pytest.raises(ApprovalError, match="vouched"):  # common voucher: mallory
        desk.q.approve(pid2, desk.code(fake["m2"]), "ok", actor="m")
    desk.clock.step()
    assert desk.q.approve(pid2, desk.code("bob"), "ok", actor="b").status == "approved"
    audit = "".join(f.read_text() for f in sorted(desk.settings.audit_dir.glob("*")) if f.is_file())
    assert '"vouched_by":"mallory"' in audit.replace(" ", "")


def test_attack_guessing_codes_across_proposals_hits_a_global_lockout(desk: ApprovalDesk) -> None:
    """The wrong-code lockout was per proposal: rejecting a locked proposal (no code
    needed) and guessing on the next one gave unlimited guesses at a 6-digit code that
    any active approver's seed (three steps each) would accept."""
    from tradewarden.wallet.approvals import MAX_WRONG_CODES

    desk.enrol("alice")
    right = desk.code("alice")
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(3):
        pid = desk.q.propose("rebalance", 1_000.0, {}, "daemon")
        for _ in range(MAX_WRONG_CODES):
            with pytest.raises(ApprovalError):
                desk.q.approve(pid, wrong, "guess", actor="m")
        desk.q.reject(pid, "m", "locked, try the next one")
    pid = desk.q.propose("rebalance", 1_000.0, {}, "daemon")
    with pytest.raises(ApprovalError, match="locked"):
        desk.q.approve(pid, desk.code("alice"), "a guess that happens to be right", actor="m")


def test_attack_cli_replace_without_a_voucher_prints_no_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    """`tradewarden approvers add alice --replace` run by one person: refused before any
    seed is made or printed; with the other approver's code it goes through."""
    from cryptography.fernet import Fernet
    from typer.testing import CliRunner

    from tradewarden.cli.main import app

    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TRADEWARDEN_SECRET_SOURCE", "file")
    monkeypatch.setenv("TRADEWARDEN_CREDENTIAL_FILE", str(tmp_path / "creds.enc"))
    monkeypatch.setenv("BINANCE_CREDENTIAL_KEY", Fernet.generate_key().decode())
    runner = CliRunner()
    seeds = {}
    for name in ("alice", "bob"):
        added = runner.invoke(app, ["approvers", "add", name], input="\n")
        assert added.exit_code == 0, added.output
        (uri,) = [ln for ln in added.output.splitlines() if ln.startswith("otpauth://")]
        seeds[name] = pyotp.parse_uri(uri).secret
        ok = runner.invoke(
            app, ["approvers", "confirm", name], input=pyotp.TOTP(seeds[name]).now() + "\n"
        )
        assert ok.exit_code == 0, ok.output
    now = time.time()
    valid = {pyotp.TOTP(v).at(now + 30 * k) for v in seeds.values() for k in (-1, 0, 1, 2)}
    wrong = next(c for c in ("123456", "654321", "111111", "222222") if c not in valid)
    for typed in ("\n", wrong + "\n"):
        bad = runner.invoke(app, ["approvers", "add", "alice", "--replace"], input=typed)
        assert bad.exit_code != 0 and "otpauth://" not in bad.output
        assert "vouch" in bad.output
    totp = pyotp.TOTP(seeds["bob"])
    vouch = totp.at(time.time() + 30)  # the next step: bob's confirmation code is spent
    good = runner.invoke(app, ["approvers", "add", "alice", "--replace"], input=vouch + "\n\n")
    assert good.exit_code == 0, good.output
    assert "otpauth://" in good.output


def test_attack_a_seed_rewritten_in_the_secret_source_behind_approvers_is_not_used(
    desk: ApprovalDesk,
) -> None:
    """Whoever can write the secret source (an IAM role with PutSecretValue, the key of
    the credential file) swaps alice's seed for one of their own, bypassing `approvers`
    (no vouch, no audit): the rewritten seed must not approve as alice."""
    from tradewarden.secrets.bundle import SecretKind
    from tradewarden.wallet.approvals import approver_secret_id

    desk.enrol("alice")
    desk.enrol("bob")
    mine = pyotp.random_base32(32)
    desk.source.put(
        approver_secret_id(desk.settings, "alice"), SecretKind.ADMIN, {"totp_secret": mine}
    )
    desk.source.invalidate()
    pid = desk.q.propose("rebalance", 1_000.0, {}, "daemon")
    with pytest.raises(ApprovalError, match="wrong or expired"):
        desk.q.approve(pid, desk.code(mine), "ok", actor="m")
    assert desk.q.approve(pid, desk.code("bob"), "ok", actor="b").status == "approved"
    audit = "".join(f.read_text() for f in sorted(desk.settings.audit_dir.glob("*")) if f.is_file())
    assert "approver_seed_changed" in audit


def test_attack_a_replace_does_not_reopen_the_bootstrap(desk: ApprovalDesk) -> None:
    """bob (one of two approvers) vouches for `alice --replace`: the re-seeded alice is
    pending again, so only one approver was "confirmed" and a new name needed no vouch:
    bob enrolled carol alone and approved $50,000 as bob + carol."""
    desk.enrol("alice")
    desk.enrol("bob")
    e = desk.approvers.add("alice", "bob@host uid=0", replace=True, voucher_code=desk.code("bob"))
    desk.clock.step()
    fake_alice = pyotp.parse_uri(e.uri).secret
    with pytest.raises(ApprovalError, match="vouch"):
        carol = desk.approvers.add("carol", "bob@host uid=0")
        seed = pyotp.parse_uri(carol.uri).secret
        desk.approvers.confirm("carol", desk.code(seed), "bob@host uid=0")
        desk.clock.step()
        pid = desk.q.propose("transfer", 50_000.0, {}, "daemon")
        desk.q.approve(pid, desk.code("bob"), "ok", actor="b")
        desk.clock.step()
        desk.q.approve(pid, desk.code(seed), "ok", actor="b")
    desk.approvers.confirm("alice", desk.code(fake_alice), "bob@host uid=0")


def test_the_provisioning_uri_is_not_in_a_repr(desk: ApprovalDesk) -> None:
    e = desk.approvers.add("alice", "root")
    assert "secret=" not in repr(e) and pyotp.parse_uri(e.uri).secret not in repr(e)


def test_attack_parallel_guesses_do_not_pass_the_lockout_together(desk: ApprovalDesk) -> None:
    """The lockout was counted before the code was checked and the wrong code recorded
    after: guesses started together (one process each) all passed the count. Here each
    guess starts the next one (on its own connection, as another process would) while it
    is being checked; no more than MAX_WRONG_CODES may reach the seeds."""
    from tradewarden.state.store import Store
    from tradewarden.wallet.approvals import MAX_WRONG_CODES, ApprovalQueue, Approvers

    desk.enrol("alice")
    pid = desk.q.propose("rebalance", 1_000.0, {}, "daemon")
    valid = {desk.code("alice", k) for k in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    checked: list[int] = []

    class Racing(Approvers):
        def identify(self, code: str, only: str | None = None) -> list[tuple[str, int]]:
            checked.append(1)
            if len(checked) < 3 * MAX_WRONG_CODES:
                store = Store(desk.settings.db_path)
                try:
                    other = Racing(desk.settings, store, desk.source, desk.audit, desk.clock)
                    q = ApprovalQueue(desk.settings, store, desk.audit, other, desk.clock)
                    with pytest.raises(ApprovalError):
                        q.approve(pid, wrong, "parallel guess", actor="m")
                finally:
                    store.close()
            return super().identify(code, only)

    racing = Racing(desk.settings, desk.store, desk.source, desk.audit, desk.clock)
    q = ApprovalQueue(desk.settings, desk.store, desk.audit, racing, desk.clock)
    with pytest.raises(ApprovalError):
        q.approve(pid, wrong, "first guess", actor="m")
    assert len(checked) <= MAX_WRONG_CODES


def _approve_in_child(settings_kw: dict, pid: int, code: str, barrier, out) -> None:  # type: ignore[no-untyped-def]
    from tradewarden.audit.chain import AuditLog
    from tradewarden.core.config import load_settings
    from tradewarden.secrets.factory import build_source
    from tradewarden.state.store import Store
    from tradewarden.wallet.approvals import ApprovalQueue, Approvers

    settings = load_settings(**settings_kw)
    store = Store(settings.db_path)
    audit = AuditLog(settings.audit_dir)
    q = ApprovalQueue(settings, store, audit, Approvers(settings, store, build_source(settings)))
    barrier.wait(30)
    try:
        out.put(q.approve(pid, code, "race", actor="m").status)
    except ApprovalError as exc:
        out.put(f"refused: {exc}")
    finally:
        audit.close()
        store.close()


def test_two_processes_racing_one_approvers_two_codes_give_one_approval(
    tmp_path: Path, clean_env: None
) -> None:
    """alice's current and next codes (both inside the drift window) sent by two
    processes at once: one approval of alice, never two."""
    import multiprocessing

    from cryptography.fernet import Fernet

    from tradewarden.audit.chain import AuditLog
    from tradewarden.core.config import load_settings
    from tradewarden.secrets.factory import build_source
    from tradewarden.state.store import Store
    from tradewarden.wallet.approvals import ApprovalQueue, Approvers

    kw = {
        "state_dir": tmp_path,
        "two_approvers_usd": 10_000.0,
        "secret_source": "file",
        "credential_file": tmp_path / "creds.enc",
        "credential_key": Fernet.generate_key().decode(),
    }
    settings = load_settings(**kw)
    store = Store(settings.db_path)
    audit = AuditLog(settings.audit_dir)
    approvers = Approvers(settings, store, build_source(settings), audit)
    seed = pyotp.parse_uri(approvers.add("alice", "root").uri).secret
    totp = pyotp.TOTP(seed)
    approvers.confirm("alice", totp.at(time.time() - 30), "root")  # spend the previous step
    q = ApprovalQueue(settings, store, audit, approvers)
    pid = q.propose("transfer", 50_000.0, {}, "daemon")
    audit.close()
    store.close()
    now = time.time()
    codes = [totp.at(now), totp.at(now + 30)]
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_approve_in_child, args=(kw, pid, c, barrier, out)) for c in codes]
    for p in procs:
        p.start()
    results = sorted(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(60)
    assert results[0] == "pending" and results[1].startswith("refused"), results
    store = Store(settings.db_path)
    try:
        (row,) = store.query("SELECT approvals, status FROM proposals WHERE id=?", (pid,))
        assert row["status"] == "pending" and row["approvals"].count('"alice"') == 1
    finally:
        store.close()


def test_attack_approver_changes_are_loud_not_only_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    """One person enrolling or re-seeding approvers left only audit entries nobody reads
    in time: every add, replace, refused enrolment and removal queues a critical alert on
    every configured channel (the daemon sends it, with retries)."""
    from cryptography.fernet import Fernet
    from typer.testing import CliRunner

    from tradewarden.alerts.outbox import Outbox
    from tradewarden.cli.main import app
    from tradewarden.core.config import load_settings

    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TRADEWARDEN_SECRET_SOURCE", "file")
    monkeypatch.setenv("TRADEWARDEN_CREDENTIAL_FILE", str(tmp_path / "creds.enc"))
    monkeypatch.setenv("BINANCE_CREDENTIAL_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("TRADEWARDEN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TRADEWARDEN_EMAIL_TO", "desk@example.com")
    runner = CliRunner()
    seeds = {}
    for name in ("alice", "bob"):
        added = runner.invoke(app, ["approvers", "add", name], input="\n")
        (uri,) = [ln for ln in added.output.splitlines() if ln.startswith("otpauth://")]
        seeds[name] = pyotp.parse_uri(uri).secret
        code = pyotp.TOTP(seeds[name]).now()
        assert runner.invoke(app, ["approvers", "confirm", name], input=code + "\n").exit_code == 0
    refused = runner.invoke(app, ["approvers", "add", "alice", "--replace"], input="\n")
    assert refused.exit_code != 0
    assert runner.invoke(app, ["approvers", "remove", "bob", "--yes"]).exit_code == 0
    box = Outbox(load_settings().db_path)
    try:
        rows = box.rows()
    finally:
        box.close()
    titles = [r.alert.title for r in rows if r.channel == "email"]
    assert any("alice" in t and "enrolled" in t for t in titles), titles
    assert any("alice" in t and "refused" in t for t in titles), titles
    assert any("bob" in t and "removed" in t for t in titles), titles
    assert {r.channel for r in rows} >= {"email", "console"}
    assert all(r.alert.severity.value == "critical" for r in rows)
    for r in rows:
        assert not any(s in r.alert.to_json() for s in seeds.values())


def test_attack_the_approver_raises_the_two_approver_threshold_in_their_own_env(
    desk: ApprovalDesk,
) -> None:
    """`sudo TRADEWARDEN_TWO_APPROVERS_USD=1e12 tradewarden approvals approve ...`: the
    number of approvers was computed from the approving process's settings, so one
    approver's code approved a $50,000 transfer the daemon filed as needing two."""
    from tradewarden.core.config import load_settings
    from tradewarden.wallet.approvals import ApprovalQueue

    desk.enrol("alice")
    desk.enrol("bob")
    pid = desk.q.propose("transfer", 50_000.0, {"destination": "x"}, "daemon")
    mine = load_settings(**{**desk.settings.model_dump(), "two_approvers_usd": 1e12})
    q = ApprovalQueue(mine, desk.store, desk.audit, desk.approvers, clock=desk.clock)
    assert q.approve(pid, desk.code("alice"), "ok", actor="a").status == "pending"
    # and a daemon configured that way still needs two above the seed's $10,000
    pid2 = q.propose("transfer", 50_000.0, {"destination": "x"}, "daemon")
    desk.clock.step()
    assert q.approve(pid2, desk.code("alice"), "ok", actor="a").status == "pending"


def test_attack_another_secret_source_in_the_approvers_env_is_not_trusted(
    desk: ApprovalDesk, tmp_path: Path
) -> None:
    """`sudo TRADEWARDEN_SECRET_SOURCE=file TRADEWARDEN_CREDENTIAL_FILE=/tmp/mine.enc
    BINANCE_CREDENTIAL_KEY=... tradewarden approvals approve 7`: the seeds were read from
    whatever source the approving process was configured with, so a file of one's own
    holding "alice"'s seed id (even with the version `approvers list --json` shows)
    approved as alice."""
    import json as _json

    from cryptography.fernet import Fernet

    from tradewarden.secrets.fernet_file import FernetFileSource
    from tradewarden.wallet.approvals import ApprovalQueue, Approvers, approver_secret_id

    desk.enrol("alice")
    (row,) = [r for r in desk.approvers.list() if r["name"] == "alice"]
    mine, key = pyotp.random_base32(32), Fernet.generate_key()
    sid = approver_secret_id(desk.settings, "alice")
    forged = tmp_path / "mine.enc"
    content = {
        "format": "tradewarden-credentials",
        "version": 1,
        "secrets": {
            sid: {
                "kind": "admin",
                "value": {"totp_secret": mine},
                "stored_at": 0,
                "version": row.get("seed_version") or "",
            }
        },
    }
    forged.write_bytes(Fernet(key).encrypt(_json.dumps(content).encode()))
    forged.chmod(0o600)
    other = Approvers(
        desk.settings, desk.store, FernetFileSource(forged, key.decode()), desk.audit, desk.clock
    )
    q = ApprovalQueue(desk.settings, desk.store, desk.audit, other, clock=desk.clock)
    pid = q.propose("rebalance", 1_000.0, {}, "daemon")
    with pytest.raises(ApprovalError, match="wrong or expired"):
        q.approve(pid, desk.code(mine), "ok", actor="m")


def test_attack_an_approver_removed_while_the_code_is_checked_does_not_approve(
    desk: ApprovalDesk,
) -> None:
    """`approvers remove alice` lands between the seed check and the approval's
    transaction (another process): the approval must not be recorded for alice."""
    from tradewarden.wallet.approvals import ApprovalQueue, Approvers

    desk.enrol("alice")

    class Slow(Approvers):
        def identify(self, code: str, only: str | None = None) -> list[tuple[str, int]]:
            found = super().identify(code, only)
            desk.approvers.remove("alice", "security-lead")  # meanwhile, elsewhere
            return found

    slow = Slow(desk.settings, desk.store, desk.source, desk.audit, desk.clock)
    q = ApprovalQueue(desk.settings, desk.store, desk.audit, slow, clock=desk.clock)
    pid = q.propose("rebalance", 1_000.0, {}, "daemon")
    with pytest.raises(ApprovalError, match="removed|not active"):
        q.approve(pid, desk.code("alice"), "ok", actor="a")
    assert q.get(pid).status == "pending"


def test_no_seed_in_the_state_database_the_audit_log_or_a_refusal(desk: ApprovalDesk) -> None:
    """Held: the seeds (and their base32 bytes) are nowhere in SQLite (with its WAL), the
    audit files or the refusal messages."""
    desk.enrol("alice")
    desk.enrol("bob")
    desk.enrol("carol", voucher="alice")
    pid = desk.q.propose("transfer", 50_000.0, {}, "daemon")
    desk.q.approve(pid, desk.code("bob"), "ok", actor="b")
    desk.clock.step()
    refusals = []
    for code in (desk.code("bob"), "12345x", desk.code("alice", -3)):
        try:
            desk.q.approve(pid, code, "again", actor="b")
        except ApprovalError as exc:
            refusals.append(f"{exc!s} {exc!r}")
    db = desk.settings.db_path
    blobs = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert b"alice" in blobs  # the approvers table is in what is scanned
    blobs += b"".join(p.read_bytes() for p in desk.settings.audit_dir.rglob("*") if p.is_file())
    for seed in desk.seeds.values():
        assert seed.encode() not in blobs
        assert all(seed not in r for r in refusals)


def test_attack_a_forged_seed_with_the_recorded_version_and_source_is_not_used(
    desk: ApprovalDesk,
) -> None:
    """The version and the source's name are not secrets (`approvers list --json` shows
    the version; Secrets Manager lets a writer choose the VersionId, and another AWS
    account has the same regional endpoint): a store written with "alice"'s id, her
    recorded version and another seed, where the real one is read, must not approve."""
    import json as _json

    from cryptography.fernet import Fernet

    from tradewarden.wallet.approvals import approver_secret_id

    desk.enrol("alice")
    (row,) = [r for r in desk.approvers.list() if r["name"] == "alice"]
    mine = pyotp.random_base32(32)
    path = desk.settings.credential_file
    key = desk.settings.credential_key.get_secret_value()  # type: ignore[union-attr]
    store = _json.loads(Fernet(key.encode()).decrypt(path.read_bytes().strip()))
    entry = store["secrets"][approver_secret_id(desk.settings, "alice")]
    assert entry["version"] == row["seed_version"]
    entry["value"] = {"totp_secret": mine}
    path.write_bytes(Fernet(key.encode()).encrypt(_json.dumps(store).encode()))
    desk.source.invalidate()
    pid = desk.q.propose("rebalance", 1_000.0, {}, "daemon")
    with pytest.raises(ApprovalError, match="wrong or expired"):
        desk.q.approve(pid, desk.code(mine), "ok", actor="m")


def test_attack_one_sudo_login_gives_both_approvals(desk: ApprovalDesk) -> None:
    """mallory holds two seeds and runs both approvals from her own login (`sudo
    tradewarden ...` records `mallory@host ... sudo`): a personal login is one human, so
    the second approval must come from another one. A shared login (ssm-user) says
    nothing and is not refused."""
    desk.enrol("alice")
    desk.enrol("bob")
    as_mallory = "mallory@host uid=999 sudo"
    pid = desk.q.propose("transfer", 50_000.0, {}, "daemon")
    assert desk.q.approve(pid, desk.code("alice"), "ok", actor=as_mallory).status == "pending"
    desk.clock.step()
    with pytest.raises(ApprovalError, match="mallory"):
        desk.q.approve(pid, desk.code("bob"), "ok", actor=as_mallory)
    desk.clock.step()
    shared = desk.q.propose("transfer", 50_000.0, {}, "daemon")
    desk.q.approve(shared, desk.code("alice"), "ok", actor="ssm-user@host uid=999 sudo")
    desk.clock.step()
    p = desk.q.approve(shared, desk.code("bob"), "ok", actor="ssm-user@host uid=999 sudo")
    assert p.status == "approved"
