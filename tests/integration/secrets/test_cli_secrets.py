"""`tradewarden secrets put|rotate|check|rekey` against moto, the fake Binance and real
files. Values go in on stdin or hidden prompts and never come out."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from tests.fakes.binance import FakeBinance
from tests.integration.secrets.conftest import KEY, NEW_KEY, NEW_SECRET, SECRET, TRADE_ID, pair
from tradewarden.cli.main import app
from tradewarden.secrets.fernet_file import FernetFileSource

runner = CliRunner()
ALL_VALUES = (KEY, SECRET, NEW_KEY, NEW_SECRET)


def run(args: list[str], stdin: str | None = None) -> Any:
    result = runner.invoke(app, ["secrets", *args], input=stdin)
    for v in ALL_VALUES:
        assert v not in result.stdout and v not in result.stderr, args
    return result


@pytest.fixture()
def aws(aws_env: str, fx: FakeBinance, tmp_path: Path, clean_env: None, monkeypatch) -> None:
    for k, v in {
        "TRADEWARDEN_SECRET_SOURCE": "aws",
        "TRADEWARDEN_SECRET_TRADE_KEY_ID": TRADE_ID,
        "TRADEWARDEN_BINANCE_BASE_URL": fx.url,
        "TRADEWARDEN_STATE_DIR": str(tmp_path / "state"),
    }.items():
        monkeypatch.setenv(k, v)


@pytest.fixture()
def file_source(fx: FakeBinance, tmp_path: Path, clean_env: None, monkeypatch) -> Path:
    path = tmp_path / "creds.enc"
    for k, v in {
        "TRADEWARDEN_SECRET_SOURCE": "file",
        "TRADEWARDEN_CREDENTIAL_FILE": str(path),
        "TRADEWARDEN_SECRET_TRADE_KEY_ID": TRADE_ID,
        "BINANCE_CREDENTIAL_KEY": Fernet.generate_key().decode(),
        "TRADEWARDEN_BINANCE_BASE_URL": fx.url,
        "TRADEWARDEN_STATE_DIR": str(tmp_path / "state"),
    }.items():
        monkeypatch.setenv(k, v)
    return path


def current(sm) -> dict:
    return json.loads(
        sm.get_secret_value(SecretId=TRADE_ID, VersionStage="AWSCURRENT")["SecretString"]
    )


def stages(sm) -> dict[str, list[str]]:
    return sm.describe_secret(SecretId=TRADE_ID)["VersionIdsToStages"]


# --- put ------------------------------------------------------------------------------------
def test_put_from_stdin_then_refuses_to_overwrite_a_binance_key(aws, sm) -> None:
    r = run(["put", "trade", "--scope", "live"], pair())
    assert r.exit_code == 0, r.stderr
    assert f"stored {TRADE_ID}" in r.stdout and "fp " in r.stdout
    assert current(sm) == {"api_key": KEY, "api_secret": SECRET, "scope": "live"}
    again = run(["put", "trade"], pair(NEW_KEY, NEW_SECRET))
    assert again.exit_code == 2 and "secrets rotate trade" in again.stderr
    assert current(sm)["api_key"] == KEY
    replaced = run(["put", "trade", "--replace"], pair(NEW_KEY, NEW_SECRET))
    assert replaced.exit_code == 0 and "AWSPREVIOUS" in replaced.stdout
    assert current(sm)["api_key"] == NEW_KEY


def test_put_with_hidden_prompts(aws, sm) -> None:
    r = run(["put", "trade", "--prompt"], f"{KEY}\n{SECRET}\n")
    assert r.exit_code == 0, r.stderr
    assert "api_key" in r.stdout and "api_secret" in r.stdout  # the prompts, not the values
    assert current(sm) == {"api_key": KEY, "api_secret": SECRET}


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (["put", "trade"], "", "stdin is empty"),
        (["put", "trade"], "{" + SECRET, "not valid JSON"),
        (["put", "trade"], json.dumps([KEY, SECRET]), "expected a JSON object"),
        (["put", "trade"], json.dumps({"api_key": KEY}), "missing field(s) api_secret"),
        (["put", "trade"], json.dumps({"api_key": KEY, "api_secret": " "}), "is empty"),
        (["put", "trade", "--scope", "mainnet"], pair(), "scope must be"),
        (["put", "trade", "--key-created", "last week"], pair(), "created_at"),
        (["put", "trade", "--key-created", "2999-01-01"], pair(), "in the future"),
        (["put", "slack", "--scope", "live"], json.dumps({"bot_token": SECRET}), "--scope"),
    ],
)
def test_put_bad_input_exits_2_and_stores_nothing(aws, sm, args, stdin, needle) -> None:
    r = run(args, stdin)
    assert r.exit_code == 2 and needle in r.stderr
    assert sm.list_secrets()["SecretList"] == []


def test_put_alert_secrets(aws, sm) -> None:
    r = run(["put", "smtp"], json.dumps({"username": "alerts", "password": SECRET}))
    assert r.exit_code == 0, r.stderr
    stored = sm.get_secret_value(SecretId="tradewarden/dev/smtp")["SecretString"]
    assert json.loads(stored) == {"username": "alerts", "password": SECRET}


def test_put_refused_for_the_env_source(clean_env: None, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path))
    r = run(["put", "trade"], pair())
    assert r.exit_code == 2 and "TRADEWARDEN_SECRET_SOURCE=env" in r.stderr


def test_secrets_manager_down_exits_1(clean_env: None, tmp_path: Path, monkeypatch) -> None:
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("TRADEWARDEN_SECRET_SOURCE", "aws")
    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path))
    r = run(["put", "trade"], pair())
    assert r.exit_code == 1 and "unreachable" in r.stderr
    c = run(["check"])
    assert c.exit_code == 1 and "error" in c.stdout


# --- rotate ---------------------------------------------------------------------------------
def test_rotate_stages_verifies_and_promotes(aws, sm, fx: FakeBinance) -> None:
    assert run(["put", "trade"], pair()).exit_code == 0
    old_version = [v for v, s in stages(sm).items() if "AWSCURRENT" in s][0]
    fx.add_key(NEW_KEY, NEW_SECRET)
    r = run(["rotate", "trade"], pair(NEW_KEY, NEW_SECRET))
    assert r.exit_code == 0, r.stderr
    assert "verified: account readable" in r.stdout
    assert "AWSPREVIOUS" in r.stdout and "revoke the old key on Binance" in r.stdout
    assert current(sm)["api_key"] == NEW_KEY
    st = stages(sm)
    assert st[old_version] == ["AWSPREVIOUS"]
    assert not any("AWSPENDING" in s for s in st.values())
    accounts = [x["api_key_fp"] for x in fx.requests() if x["path"] == "/api/v3/account"]
    assert accounts == [fx.key_fingerprint(NEW_KEY)]  # verified with the new key


def test_rotate_with_a_key_the_exchange_refuses_changes_nothing(aws, sm, fx) -> None:
    assert run(["put", "trade"], pair()).exit_code == 0
    before = stages(sm)
    r = run(["rotate", "trade"], pair(NEW_KEY, NEW_SECRET))  # not added on the exchange
    assert r.exit_code == 1
    assert "failed verification" in r.stderr and "AWSCURRENT unchanged" in r.stderr
    assert current(sm)["api_key"] == KEY
    after = stages(sm)
    assert not any("AWSPENDING" in s for s in after.values())
    assert {v: s for v, s in after.items() if s} == before


def test_rotate_on_a_live_endpoint_checks_key_permissions(aws, sm, fx, monkeypatch) -> None:
    monkeypatch.setenv("BINANCE_TESTNET", "false")
    monkeypatch.setenv("TRADEWARDEN_PROFILE", "staging")
    assert run(["put", "trade"], pair()).exit_code == 0
    fx.add_key(NEW_KEY, NEW_SECRET, restrictions={"enableWithdrawals": True})
    r = run(["rotate", "trade"], pair(NEW_KEY, NEW_SECRET))
    assert r.exit_code == 1 and "enableWithdrawals is true" in r.stderr
    assert current(sm)["api_key"] == KEY
    fx.add_key("good-new-key-31aa", "good-new-secret-8c2f")
    ok = run(["rotate", "trade"], pair("good-new-key-31aa", "good-new-secret-8c2f"))
    assert ok.exit_code == 0 and "trade key permissions ok" in ok.stdout


def test_rotate_refuses_the_same_key_and_non_binance_roles(aws, sm) -> None:
    assert run(["put", "trade"], pair()).exit_code == 0
    same = run(["rotate", "trade"], pair())
    assert same.exit_code == 1 and "is the current one" in same.stderr
    slack = run(["rotate", "slack"], json.dumps({"bot_token": SECRET}))
    assert slack.exit_code == 2


def test_rotate_the_file_source(file_source: Path, fx: FakeBinance) -> None:
    assert run(["put", "trade"], pair()).exit_code == 0
    fx.add_key(NEW_KEY, NEW_SECRET)
    r = run(["rotate", "trade"], pair(NEW_KEY, NEW_SECRET))
    assert r.exit_code == 0, r.stderr
    key = os.environ["BINANCE_CREDENTIAL_KEY"]
    assert FernetFileSource(file_source, key).get(TRADE_ID)["api_key"].reveal() == NEW_KEY
    assert stat.S_IMODE(file_source.stat().st_mode) == 0o600


# --- check ----------------------------------------------------------------------------------
def days_ago(n: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() - n * 86_400))


@pytest.mark.parametrize(
    ("age", "status", "code"), [(0, "ok", 0), (85, "warn", 0), (95, "critical", 1)]
)
def test_check_ages(aws, sm, age: int, status: str, code: int) -> None:
    args = ["put", "trade"] + (["--key-created", days_ago(age)] if age else [])
    assert run(args, pair()).exit_code == 0
    r = run(["check"])
    assert r.exit_code == code, r.stdout
    line = next(x for x in r.stdout.splitlines() if x.startswith("trade"))
    assert status in line and TRADE_ID in line
    j = run(["check", "--json"])
    data = json.loads(j.stdout)
    trade = next(s for s in data["secrets"] if s["role"] == "trade")
    assert trade["status"] == status and data["ok"] is (code == 0)
    assert trade["age_days"] == pytest.approx(age, abs=1.1)


def test_check_without_a_trade_key_fails(aws) -> None:
    r = run(["check"])
    assert r.exit_code == 1 and "error" in r.stdout and "not found" in r.stdout


# --- rekey ----------------------------------------------------------------------------------
def test_rekey_moves_the_file_to_the_newest_key(file_source: Path, monkeypatch) -> None:
    old = os.environ["BINANCE_CREDENTIAL_KEY"]
    assert run(["put", "trade"], pair()).exit_code == 0
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("BINANCE_CREDENTIAL_KEY", f"{new},{old}")
    r = run(["rekey"])
    assert r.exit_code == 0 and "under key 1 of 2 (was key 2)" in r.stdout
    monkeypatch.setenv("BINANCE_CREDENTIAL_KEY", new)
    assert run(["check"]).exit_code == 0
    monkeypatch.setenv("BINANCE_CREDENTIAL_KEY", old)
    wrong = run(["rekey"])
    assert wrong.exit_code == 1 and "none of the 1 key(s)" in wrong.stderr
    for v in (old, new):
        assert v not in wrong.stderr and v not in r.stdout


def test_rekey_refusals(file_source: Path, monkeypatch) -> None:
    assert run(["put", "trade"], pair()).exit_code == 0
    os.chmod(file_source, 0o640)
    too_open = run(["rekey"])
    assert too_open.exit_code == 2 and "0640" in too_open.stderr
    monkeypatch.setenv("TRADEWARDEN_SECRET_SOURCE", "aws")
    assert run(["rekey"]).exit_code == 2
