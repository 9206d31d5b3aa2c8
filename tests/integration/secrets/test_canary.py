"""Canary: plant a recognisable key and secret, run every `secrets` command and error path
as a real process (DEBUG logging of boto3/urllib3/python-binance on), then run the gateway
with them through a rotation, a Binance refusal and a crash traceback. Grep every stdout,
stderr, log file and file written: 0 hits."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.fakes.binance import FakeBinance
from tests.integration.exchange.conftest import intent
from tests.integration.secrets.conftest import TRADE_ID
from tradewarden.core.config import load_settings
from tradewarden.core.logs import JsonFormatter
from tradewarden.exchange import AuthError, BinanceBroker, RateLimiter
from tradewarden.secrets import scrub
from tradewarden.secrets.credentials import BinanceCredentials
from tradewarden.secrets.factory import build_source
from tradewarden.state.store import Store

CANARY_KEY = "CANARYKEY7d1f3e9a2b4c6d8e0f1a2b3c4d5e6f7a"
CANARY_SECRET = "CANARYSECRETf00dfeedbeefcafe1234567890abcd"
CANARY2_KEY = "CANARYKEYTWO0c0ffee0c0ffee0c0ffee0c0ffee00"
CANARY2_SECRET = "CANARYSECRETTWOdeadbeef0123456789deadbeef"
CANARY_SMTP = "CANARYSMTPPASSWORD-correct-horse-battery"
CANARIES = (CANARY_KEY, CANARY_SECRET, CANARY2_KEY, CANARY2_SECRET, CANARY_SMTP)

BOOT = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.DEBUG, filename=sys.argv[1],"
    " format='%(name)s %(levelname)s %(message)s')\n"
    "sys.argv = ['tradewarden'] + sys.argv[2:]\n"
    "from tradewarden.cli.main import main\n"
    "main()\n"
)


class Runs:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp, env
        self.outputs: list[str] = []
        self.codes: list[tuple[str, int]] = []

    def __call__(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
        log = self.tmp / "logs" / f"cli-{len(self.codes)}.log"
        log.parent.mkdir(exist_ok=True)
        p = subprocess.run(
            [sys.executable, "-c", BOOT, str(log), "secrets", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=120,
        )
        self.outputs += [p.stdout, p.stderr]
        self.codes.append((" ".join(args), p.returncode))
        return p


def hits(texts: list[str], root: Path) -> list[str]:
    found = [f"output #{i}: {c[:12]}" for i, t in enumerate(texts) for c in CANARIES if c in t]
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {c[:12]}" for c in CANARIES if c.encode() in data]
    return found


def base_env(tmp: Path, aws_url: str, fx: FakeBinance) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWARDEN_", "BINANCE_"))}
    return keep | {
        "AWS_ENDPOINT_URL": aws_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "TRADEWARDEN_SECRET_SOURCE": "aws",
        "TRADEWARDEN_SECRET_TRADE_KEY_ID": TRADE_ID,
        "TRADEWARDEN_BINANCE_BASE_URL": fx.url,
        "TRADEWARDEN_STATE_DIR": str(tmp / "state"),
    }


@pytest.mark.slow
def test_no_canary_anywhere(aws_env: str, sm: Any, tmp_path: Path, clean_env: None) -> None:
    with FakeBinance(api_key=CANARY_KEY, api_secret=CANARY_SECRET) as fx:
        run = Runs(tmp_path, base_env(tmp_path, aws_env, fx))
        first = json.dumps({"api_key": CANARY_KEY, "api_secret": CANARY_SECRET})
        second = json.dumps({"api_key": CANARY2_KEY, "api_secret": CANARY2_SECRET})

        # --- Secrets Manager: every command and error path ------------------------------
        assert run("put", "trade", stdin=first).returncode == 0
        assert run("put", "trade", stdin=second).returncode == 2  # exists
        assert run("put", "trade", stdin="{" + CANARY_SECRET).returncode == 2  # not JSON
        bad_field = json.dumps({"api_key": CANARY_KEY, CANARY_SECRET: "x"})
        assert run("put", "trade", "--replace", stdin=bad_field).returncode == 2
        assert run("put", "trade", "--prompt", stdin=f"{CANARY_KEY}\n\n").returncode != 0
        assert run("rotate", "trade", stdin=second).returncode == 1  # exchange refuses it
        assert run("rotate", "trade", stdin=first).returncode == 1  # same key
        fx.add_key(CANARY2_KEY, CANARY2_SECRET)
        rotated = run("rotate", "trade", stdin=second)
        assert rotated.returncode == 0, rotated.stderr
        smtp = json.dumps({"username": "alerts", "password": CANARY_SMTP})
        assert run("put", "smtp", stdin=smtp).returncode == 0
        assert run("check").returncode == 0
        assert run("check", "--json").returncode == 0
        assert run("rekey").returncode == 2  # not the file source

        # --- the encrypted file --------------------------------------------------------
        old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
        cred = tmp_path / "state" / "creds.enc"
        file_env = {
            "TRADEWARDEN_SECRET_SOURCE": "file",
            "TRADEWARDEN_CREDENTIAL_FILE": str(cred),
            "BINANCE_CREDENTIAL_KEY": old,
        }
        assert run("put", "trade", stdin=first, **file_env).returncode == 0
        assert run("rotate", "trade", stdin=second, **file_env).returncode == 0
        assert run("rekey", **file_env | {"BINANCE_CREDENTIAL_KEY": f"{new},{old}"}).returncode == 0
        assert run("check", **file_env).returncode == 1  # old key alone: wrong key now
        assert run("rekey", **file_env).returncode == 1
        os.chmod(cred, 0o644)
        assert run("check", **file_env | {"BINANCE_CREDENTIAL_KEY": new}).returncode == 2
        os.chmod(cred, 0o600)

        # --- the gateway with these keys: rotation, refusal, traceback -------------------
        log_path = tmp_path / "logs" / "daemon.log"
        handler = logging.FileHandler(log_path)
        handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        root.addHandler(handler)
        old_level = root.level
        root.setLevel(logging.DEBUG)
        scrub.install()
        store = Store(tmp_path / "state" / "tradewarden.sqlite3", durable=False)
        try:
            settings = load_settings(
                state_dir=tmp_path / "state",
                secret_source="aws",
                secret_trade_key_id=TRADE_ID,
                binance_base_url=fx.url,
            )
            creds = BinanceCredentials(build_source(settings), TRADE_ID)
            creds.load()
            broker = BinanceBroker(
                settings, store, creds, on_auth_error=creds.on_auth_error, limiter=RateLimiter()
            )
            broker.start()
            broker.submit(intent(store, bot="b1"))
            fx.remove_key(CANARY2_KEY)  # revoked: Binance refuses, the provider re-reads
            with pytest.raises(AuthError):
                broker.balances()
            log = logging.getLogger("tradewarden.canary")
            try:
                broker.balances()
            except AuthError:
                log.exception("exchange refused the key")
            try:
                key, secret = creds()
                raise RuntimeError(f"library blew up with {key.reveal()}:{secret.reveal()}")
            except RuntimeError:
                log.exception("crash")
            log.info("bundle %r creds %s", creds.bundle(), creds())
        finally:
            store.close()
            scrub.uninstall()
            root.removeHandler(handler)
            handler.close()
            root.setLevel(old_level)

    # the canaries were really used: they are in moto, and the log has the scrubbed crash
    cur = sm.get_secret_value(SecretId=TRADE_ID, VersionStage="AWSCURRENT")["SecretString"]
    prev = sm.get_secret_value(SecretId=TRADE_ID, VersionStage="AWSPREVIOUS")["SecretString"]
    assert CANARY2_KEY in cur and CANARY_KEY in prev
    daemon_log = log_path.read_text()
    assert "library blew up with ***:***" in daemon_log and "Traceback" in daemon_log
    assert "SecretString: *** (redacted)" in "".join(
        p.read_text() for p in (tmp_path / "logs").glob("cli-*.log")
    )  # botocore's DEBUG dump of the answer was there, and cut
    assert hits(run.outputs, tmp_path) == [], run.codes
