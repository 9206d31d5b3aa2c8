"""AWS credentials missing or expired at start are transient on a host (the instance
metadata service answers again, the role's credentials refresh): the daemon waits NOT
READY with the reason and starts once credentials appear. A refusal (AccessDenied, KMS
denied, a missing secret) still exits 1: waiting would not fix it. Secrets Manager is moto
in server mode; the refusal comes from a minimal endpoint speaking its protocol."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import boto3
import pytest

from tests.builders import flat_prices
from tests.integration.daemon.helpers import readyz, start, tw, wait_for
from tests.integration.secrets.conftest import ErrorEndpoint, sm_client
from tradewarden.secrets.aws import AwsSecretsManagerSource
from tradewarden.secrets.errors import SecretAccessError, SecretUnavailableError

pytestmark = pytest.mark.usefixtures("clean_env")
ADMIN_ID = "tradewarden/credtest/admin"
AUDIT_KEY = "k" * 40


def no_credentials_env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    """Secrets Manager at `endpoint`; no AWS credentials anywhere (no env keys, no
    profile, an absent shared credentials file, no instance metadata service)."""
    return {
        "TRADEWARDEN_SECRET_SOURCE": "aws",
        "TRADEWARDEN_SECRET_ADMIN_ID": ADMIN_ID,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def test_no_credentials_at_start_waits_not_ready_until_they_appear(
    tmp_path: Path, aws_env: str
) -> None:
    boto3.client("secretsmanager").create_secret(
        Name=ADMIN_ID, SecretString=json.dumps({"audit_key": AUDIT_KEY})
    )
    env = no_credentials_env(tmp_path, aws_env)
    # a market where no bot trades: the shipped scenario trips consecutive_losses within
    # seconds of READY, and a HALTED daemon is rightly not ready (a fast run raced /readyz)
    env["TRADEWARDEN_SCENARIO"] = str(flat_prices(tmp_path / "flat.csv", 2))
    proc = start(tmp_path / "state", "run", "--follow", "--no-console", **env)
    lines: list[str] = []

    def said(text: str) -> bool:
        line = proc.stdout.readline() if proc.stdout else ""
        lines.append(line)
        return text in line or proc.poll() is not None

    try:
        assert wait_for(lambda: said("not ready: waiting to start"), 60), lines
        assert proc.poll() is None, (lines, proc.stderr.read() if proc.stderr else "")
        rec = json.loads(lines[-1])
        code, body = readyz(int(rec["metrics_port"]))
        assert code == 503, body
        assert any(
            "secret source unreachable at start" in r and "no AWS credentials" in r
            for r in body["reasons"]
        ), body
        # the credentials arrive (the metadata service answers again / a refreshed file)
        (tmp_path / "aws-credentials").write_text(
            "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        )
        assert wait_for(lambda: said("daemon ready"), 60), lines
        assert proc.poll() is None, lines
        # /readyz follows the daemon's first housekeeping round after READY
        assert wait_for(lambda: readyz(int(rec["metrics_port"]))[0] == 200, 30), readyz(
            int(rec["metrics_port"])
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert AUDIT_KEY not in "".join(lines)


def test_access_denied_at_start_still_exits_1(tmp_path: Path) -> None:
    ep = ErrorEndpoint()
    try:
        ep.answer = (400, "AccessDeniedException")
        env = no_credentials_env(tmp_path, ep.url)
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        done = tw(tmp_path / "state", "run", "--no-console", timeout=60, **env)
    finally:
        ep.close()
    assert done.returncode == 1, done.stderr
    assert "access denied" in done.stderr and ADMIN_ID in done.stderr


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ExpiredTokenException", SecretUnavailableError),  # refreshed by the role: transient
        ("ExpiredToken", SecretUnavailableError),
        ("AccessDeniedException", SecretAccessError),  # a verdict: permanent
        ("KMSAccessDeniedException", SecretAccessError),
    ],
)
def test_expired_token_is_transient_access_denied_is_not(code: str, error: type[Exception]) -> None:
    ep = ErrorEndpoint()
    try:
        ep.answer = (400, code)
        with pytest.raises(error) as info:
            AwsSecretsManagerSource(client=sm_client(ep.url)).get(ADMIN_ID)
    finally:
        ep.close()
    assert type(info.value) is error and code in str(info.value)
