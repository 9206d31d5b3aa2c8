"""The Secrets Manager source against moto in server mode (and, for KMS failures and
throttling, which moto does not model, a minimal endpoint speaking the same protocol).

Every failure is one clear error naming the secret id, never its value."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import boto3
import pytest

from tests.integration.secrets.conftest import (
    KEY,
    NEW_KEY,
    NEW_SECRET,
    SECRET,
    TRADE_ID,
    Clock,
    ErrorEndpoint,
    enable_iam_auth,
    make_settings,
    pair,
    private_moto,
    sm_client,
)
from tradewarden.secrets.aws import AwsSecretsManagerSource
from tradewarden.secrets.bundle import SecretKind
from tradewarden.secrets.credentials import BinanceCredentials
from tradewarden.secrets.errors import (
    SecretAccessError,
    SecretConfigError,
    SecretFormatError,
    SecretNotFoundError,
    SecretUnavailableError,
)
from tradewarden.secrets.factory import build_source
from tradewarden.trading.broker import BrokerError


def clean(exc: BaseException, *values: str) -> str:
    text = f"{exc} {exc!r}"
    for v in (KEY, SECRET, NEW_KEY, NEW_SECRET, *values):
        assert v not in text
    assert TRADE_ID in str(exc)
    return str(exc)


def test_reads_the_current_version_through_aws_endpoint_url(
    sm, tmp_path: Path, clean_env: None
) -> None:
    sm.create_secret(Name=TRADE_ID, SecretString=pair(scope="testnet"))
    src = build_source(make_settings(tmp_path))
    assert isinstance(src, AwsSecretsManagerSource)
    b = src.get(TRADE_ID)
    assert (b["api_key"].reveal(), b["api_secret"].reveal(), b.scope) == (KEY, SECRET, "testnet")
    assert b.version and b.stored_at and b.created_at == b.stored_at
    assert "127.0.0.1" in src.describe()


def test_cache_ttl_then_re_read_and_invalidate(sm, clean_env: None) -> None:
    sm.create_secret(Name=TRADE_ID, SecretString=pair())
    clock = Clock()
    src = AwsSecretsManagerSource(ttl_s=60, grace_s=30, clock=clock)
    assert src.get(TRADE_ID)["api_key"].reveal() == KEY
    sm.put_secret_value(SecretId=TRADE_ID, SecretString=pair(NEW_KEY, NEW_SECRET))
    clock.t += 59
    assert src.get(TRADE_ID)["api_key"].reveal() == KEY and src.reads == 1  # cached
    clock.t += 2
    assert src.get(TRADE_ID)["api_key"].reveal() == NEW_KEY and src.reads == 2
    sm.put_secret_value(SecretId=TRADE_ID, SecretString=pair("third-key-abcd", "third-s"))
    src.invalidate(TRADE_ID)
    assert src.get(TRADE_ID)["api_key"].reveal() == "third-key-abcd" and src.reads == 3


@pytest.mark.parametrize(
    ("stored", "error", "needle"),
    [
        (None, SecretNotFoundError, "not found"),
        ("not json " + SECRET, SecretFormatError, "not valid JSON"),
        (json.dumps({"key": KEY, "secret": SECRET}), SecretFormatError, "unexpected field"),
        (json.dumps({"api_key": KEY}), SecretFormatError, "missing field(s) api_secret"),
        (json.dumps({"api_key": KEY, "api_secret": ""}), SecretFormatError, "is empty"),
        (" ", SecretFormatError, "empty"),
        (b"binary-" + SECRET.encode(), SecretFormatError, "SecretBinary"),
    ],
)
def test_bad_secrets_at_start(sm, clean_env: None, stored, error, needle: str) -> None:
    if isinstance(stored, bytes):
        sm.create_secret(Name=TRADE_ID, SecretBinary=stored)
    elif stored is not None:
        sm.create_secret(Name=TRADE_ID, SecretString=stored)
    src = AwsSecretsManagerSource()
    with pytest.raises(error) as info:
        src.get(TRADE_ID)
    assert needle in clean(info.value)
    with pytest.raises(error):  # and the provider fails the same way at start
        BinanceCredentials(src, TRADE_ID).load()


def test_no_region_names_the_setting(aws_env: str, monkeypatch, clean_env: None) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(SecretConfigError, match="AWS_REGION"):
        AwsSecretsManagerSource()


def test_unreachable_at_start(clean_env: None) -> None:
    from tests.conftest import free_port

    src = AwsSecretsManagerSource(client=sm_client(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(SecretUnavailableError) as info:
        src.get(TRADE_ID)
    assert "unreachable" in clean(info.value)
    assert isinstance(info.value, BrokerError)  # the gateway fails closed on it


def test_down_after_start_cached_until_ttl_plus_grace_then_halt(
    clean_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    with private_moto() as url:
        sm_client(url).create_secret(Name=TRADE_ID, SecretString=pair())
        src = AwsSecretsManagerSource(
            ttl_s=10, grace_s=5, retry_s=2, clock=clock, client=sm_client(url)
        )
        creds = BinanceCredentials(src, TRADE_ID)
        assert creds()[0].reveal() == KEY
    # Secrets Manager is gone from here on
    clock.t += 9
    assert creds()[0].reveal() == KEY and src.reads == 1  # within TTL: no request at all
    clock.t += 3  # 12 s: past TTL, within TTL+grace
    with caplog.at_level(logging.WARNING):
        assert creds()[0].reveal() == KEY
    assert src.reads == 2 and "cached value until TTL+grace" in caplog.text
    clock.t += 1  # 13 s: the last attempt failed 1 s ago (retry_s=2): no new request
    assert creds()[0].reveal() == KEY and src.reads == 2
    clock.t += 2.5  # 15.5 s: past TTL+grace
    with pytest.raises(SecretUnavailableError) as info:
        creds()
    msg = clean(info.value)
    assert "past TTL+grace" in msg and "TRADEWARDEN_SECRET_GRACE_SECONDS" in msg
    assert isinstance(info.value, BrokerError)
    for record in caplog.records:
        assert KEY not in record.getMessage() and SECRET not in record.getMessage()


def test_throttled(error_endpoint: ErrorEndpoint, clean_env: None) -> None:
    error_endpoint.answer = (400, "ThrottlingException")
    src = AwsSecretsManagerSource(client=sm_client(error_endpoint.url))
    with pytest.raises(SecretUnavailableError) as info:
        src.get(TRADE_ID)
    assert "ThrottlingException" in clean(info.value)
    assert error_endpoint.hits >= 2  # boto3's retry ran, then we gave up


@pytest.mark.parametrize("code", ["DecryptionFailure", "KMSAccessDeniedException"])
def test_kms_denied(error_endpoint: ErrorEndpoint, clean_env: None, code: str) -> None:
    error_endpoint.answer = (400, code)
    with pytest.raises(SecretAccessError) as info:
        AwsSecretsManagerSource(client=sm_client(error_endpoint.url)).get(TRADE_ID)
    msg = clean(info.value)
    assert "KMS" in msg and code in msg and "kms:Decrypt" in msg


def test_kms_denied_after_start_is_ridden_out_for_the_grace_only(
    error_endpoint: ErrorEndpoint, clean_env: None
) -> None:
    clock = Clock()
    error_endpoint.answer = ("ok", pair())
    src = AwsSecretsManagerSource(
        ttl_s=10, grace_s=5, retry_s=1, clock=clock, client=sm_client(error_endpoint.url)
    )
    assert src.get(TRADE_ID)["api_key"].reveal() == KEY
    error_endpoint.answer = (400, "DecryptionFailure")
    clock.t += 12
    assert src.get(TRADE_ID)["api_key"].reveal() == KEY
    clock.t += 4
    with pytest.raises(SecretUnavailableError, match="DecryptionFailure"):
        src.get(TRADE_ID)


def test_an_answer_without_a_value_is_transient_not_a_verdict_on_the_secret(
    error_endpoint: ErrorEndpoint, clean_env: None
) -> None:
    """A 200 without SecretString or SecretBinary (a cut answer) does not say the secret is
    binary or gone: unavailable, so the cached value serves until TTL + grace, then halt."""
    error_endpoint.answer = ("empty", "")
    with pytest.raises(SecretUnavailableError, match="answered without a value") as info:
        AwsSecretsManagerSource(client=sm_client(error_endpoint.url)).get(TRADE_ID)
    assert "SecretBinary" not in clean(info.value)
    clock = Clock()
    error_endpoint.answer = ("ok", pair())
    src = AwsSecretsManagerSource(
        ttl_s=10, grace_s=5, retry_s=1, clock=clock, client=sm_client(error_endpoint.url)
    )
    assert src.get(TRADE_ID)["api_key"].reveal() == KEY
    error_endpoint.answer = ("empty", "")
    clock.t += 12
    assert src.get(TRADE_ID)["api_key"].reveal() == KEY  # within TTL + grace
    clock.t += 4
    with pytest.raises(SecretUnavailableError, match="without a value"):
        src.get(TRADE_ID)


def test_the_ttl_runs_from_the_answer_so_a_slow_reply_is_not_asked_again_at_once(
    error_endpoint: ErrorEndpoint, clean_env: None
) -> None:
    clock = Clock()
    error_endpoint.answer = ("ok", pair())

    def slow_reply() -> None:
        clock.t += 15  # the reply takes longer than the TTL

    error_endpoint.on_hit = slow_reply
    src = AwsSecretsManagerSource(
        ttl_s=10, grace_s=5, clock=clock, client=sm_client(error_endpoint.url)
    )
    src.get(TRADE_ID)
    error_endpoint.on_hit = lambda: None
    clock.t += 9
    src.get(TRADE_ID)
    assert error_endpoint.hits == 1  # still fresh: 9 s after the answer arrived
    clock.t += 2
    src.get(TRADE_ID)
    assert error_endpoint.hits == 2


def test_one_more_attempt_when_the_cached_value_runs_out(
    error_endpoint: ErrorEndpoint, clean_env: None
) -> None:
    """The source comes back between two paced attempts: the moment TTL + grace runs out it
    is asked once more rather than the daemon stopping on a value it could have re-read."""
    clock = Clock()
    error_endpoint.answer = ("ok", pair())
    src = AwsSecretsManagerSource(
        ttl_s=10, grace_s=5, retry_s=30, clock=clock, client=sm_client(error_endpoint.url)
    )
    src.get(TRADE_ID)
    error_endpoint.answer = (500, "InternalServiceError")
    clock.t += 11
    assert src.get(TRADE_ID)["api_key"].reveal() == KEY  # failed; next paced try in 30 s
    hits = error_endpoint.hits
    clock.t += 2
    src.get(TRADE_ID)
    assert error_endpoint.hits == hits  # paced: not asked again yet
    error_endpoint.answer = ("ok", pair(NEW_KEY, NEW_SECRET))
    clock.t += 3  # 16 s after the read: past TTL + grace, 25 s before the paced retry
    assert src.get(TRADE_ID)["api_key"].reveal() == NEW_KEY
    error_endpoint.answer = (500, "InternalServiceError")
    clock.t += 16
    hits = error_endpoint.hits
    with pytest.raises(SecretUnavailableError):
        src.get(TRADE_ID)  # ran out again, and the attempt due now failed
    with pytest.raises(SecretUnavailableError):
        src.get(TRADE_ID)  # the one extra attempt past TTL + grace, failed too
    assert error_endpoint.hits > hits
    hits = error_endpoint.hits
    with pytest.raises(SecretUnavailableError):
        src.get(TRADE_ID)
    assert error_endpoint.hits == hits  # no hammering: back to the retry_s pace


def test_iam_access_denied(clean_env: None) -> None:
    with private_moto() as url:
        sm_client(url).create_secret(Name=TRADE_ID, SecretString=pair())
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        iam.create_user(UserName="trader")
        iam.put_user_policy(
            UserName="trader",
            PolicyName="describe-only",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "secretsmanager:DescribeSecret",
                            "Resource": "*",
                        }
                    ],
                }
            ),
        )
        ak = iam.create_access_key(UserName="trader")["AccessKey"]
        enable_iam_auth(url)
        client = sm_client(url, key_id=ak["AccessKeyId"], secret_key=ak["SecretAccessKey"])
        with pytest.raises(SecretAccessError) as info:
            AwsSecretsManagerSource(client=client).get(TRADE_ID)
        msg = clean(info.value, ak["SecretAccessKey"])
        assert "access denied" in msg and "secretsmanager:GetSecretValue" in msg
        unknown = sm_client(url, key_id="test-unknown-key-id", secret_key="test-not-a-secret")
        with pytest.raises(SecretAccessError):
            AwsSecretsManagerSource(client=unknown).get(TRADE_ID)


def test_a_secret_deleted_after_start_fails_at_once(sm, clean_env: None) -> None:
    sm.create_secret(Name=TRADE_ID, SecretString=pair())
    clock = Clock()
    src = AwsSecretsManagerSource(ttl_s=10, grace_s=300, clock=clock)
    src.get(TRADE_ID)
    sm.delete_secret(SecretId=TRADE_ID, ForceDeleteWithoutRecovery=True)
    clock.t += 11
    with pytest.raises(SecretNotFoundError):
        src.get(TRADE_ID)  # the store says it is gone: no grace for a missing secret
    with pytest.raises(SecretUnavailableError):  # through the provider: a BrokerError
        BinanceCredentials(src, TRADE_ID)()


def test_put_creates_then_stages_and_promotes(sm, clean_env: None) -> None:
    src = AwsSecretsManagerSource()
    v1, prev = src.put(TRADE_ID, SecretKind.BINANCE, {"api_key": KEY, "api_secret": SECRET})
    assert prev is None
    v2, prev = src.put(TRADE_ID, SecretKind.BINANCE, {"api_key": NEW_KEY, "api_secret": NEW_SECRET})
    assert prev == v1
    stages = src.stages(TRADE_ID)
    assert stages[v2] == ["AWSCURRENT"] and stages[v1] == ["AWSPREVIOUS"]
    # (moto answers a GetSecretValue without a stage from its own bookkeeping, which
    # UpdateSecretVersionStage does not move; the source always asks for AWSCURRENT)
    current = sm.get_secret_value(SecretId=TRADE_ID, VersionStage="AWSCURRENT")
    assert json.loads(current["SecretString"])["api_key"] == NEW_KEY
    with pytest.raises(SecretFormatError):  # never stores what it could not read back
        src.put(TRADE_ID, SecretKind.BINANCE, {"api_key": "only"})
    assert src.current_version(TRADE_ID) == v2
