"""AWS Secrets Manager source: one JSON secret per id, cached with a TTL.

Reading: ``GetSecretValue`` (stage AWSCURRENT) through boto3, which takes the endpoint from
``AWS_ENDPOINT_URL`` and the region and credentials from the usual chain. A value is served
from memory for ``TRADEWARDEN_SECRET_TTL_SECONDS``; then the next `get` asks again.

If asking fails after start (unreachable, throttled, 5xx, access/KMS denied), the cached
value is kept until TTL + ``TRADEWARDEN_SECRET_GRACE_SECONDS`` after it was last read, with
a new attempt at most every `retry_s` (and one more the moment that runs out); after that
`get` raises `SecretUnavailableError`
(the daemon halts rather than trade on nothing). A secret that is gone or malformed when
re-read is an error at once: the store now says the old value is not to be used.

Writing (the CLI): a new version is put as AWSPENDING, then AWSCURRENT is moved onto it,
which makes the old one AWSPREVIOUS (`stage_pending` / `promote` / `discard_pending`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tradewarden.core.config import SecretSource
from tradewarden.secrets.bundle import SecretBundle, SecretKind, encode, parse_payload, parse_text
from tradewarden.secrets.errors import (
    SecretAccessError,
    SecretConfigError,
    SecretError,
    SecretFormatError,
    SecretNotFoundError,
    SecretUnavailableError,
)

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

log = logging.getLogger(__name__)

CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"
_NOT_FOUND = {"ResourceNotFoundException"}
_GONE = {"InvalidRequestException"}  # e.g. scheduled for deletion
_DENIED = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
}
# the role's temporary credentials ran out before botocore refreshed them (the instance
# metadata service did not answer in time): they refresh by themselves, so transient
_EXPIRED = {"ExpiredTokenException", "ExpiredToken", "RequestExpired"}
_KMS = {
    "DecryptionFailure",
    "KMSAccessDeniedException",
    "KMSDisabledException",
    "KMSInvalidStateException",
    "KMSNotFoundException",
    "KMSInvalidKeyUsageException",
}
_BUSY = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "InternalServiceError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
}


@dataclass
class _Entry:
    bundle: SecretBundle
    fetched: float  # clock time of the last successful read
    stale: bool = False
    next_try: float = 0.0
    last_error: str = ""
    warned: bool = False
    last_chance: bool = False  # the one extra attempt when TTL + grace runs out was made


# Tags a secret made at run time takes from its `like` secret (ManagedBy is ours).
INHERITED_TAGS = ("Project", "Stack")


class AwsSecretsManagerSource:
    kind = SecretSource.AWS

    def __init__(
        self,
        *,
        ttl_s: float = 900.0,
        grace_s: float = 300.0,
        retry_s: float | None = None,
        client: SecretsManagerClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_attempts: int = 3,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 5.0,
    ) -> None:
        self.ttl_s = ttl_s
        self.grace_s = grace_s
        self.retry_s = retry_s if retry_s is not None else min(30.0, max(1.0, ttl_s / 30.0))
        self._clock = clock
        self._client = client or _make_client(max_attempts, connect_timeout_s, read_timeout_s)
        # our own client is re-made after a credentials failure: botocore resolves the
        # credential chain once per client, so one made while the instance metadata service
        # did not answer would never find the role's credentials
        self._remake: Callable[[], SecretsManagerClient] | None = None
        if client is None:
            self._remake = lambda: _make_client(max_attempts, connect_timeout_s, read_timeout_s)
        self._cache: dict[tuple[str, SecretKind], _Entry] = {}
        self._locks: dict[tuple[str, SecretKind], threading.Lock] = {}
        self._lock = threading.Lock()
        self.reads = 0  # GetSecretValue calls made (for tests and metrics)

    def describe(self) -> str:
        meta = self._client.meta
        return f"AWS Secrets Manager ({meta.region_name}, {meta.endpoint_url})"

    # --- reading ----------------------------------------------------------------------------
    def get(self, secret_id: str, kind: SecretKind = SecretKind.BINANCE) -> SecretBundle:
        key = (secret_id, kind)
        with self._lock:
            entry = self._cache.get(key)
            lock = self._locks.setdefault(key, threading.Lock())
        now = self._clock()
        if entry is not None and not entry.stale and now - entry.fetched < self.ttl_s:
            return entry.bundle
        if not lock.acquire(blocking=False):
            # another thread is asking Secrets Manager: serve the cached value if allowed
            if entry is not None and now - entry.fetched < self.ttl_s + self.grace_s:
                return entry.bundle
            lock.acquire()
        try:
            return self._refresh(key)
        finally:
            lock.release()

    def _refresh(self, key: tuple[str, SecretKind]) -> SecretBundle:
        secret_id, kind = key
        now = self._clock()
        with self._lock:
            entry = self._cache.get(key)
        if entry is not None and not entry.stale and now - entry.fetched < self.ttl_s:
            return entry.bundle  # refreshed by the thread we waited for
        if entry is not None and now < entry.next_try and not self._take_last_chance(entry, now):
            return self._fallback(entry, now)  # retry_s not up; the cached value still serves
        try:
            bundle = self.fetch(secret_id, kind)
        except (SecretUnavailableError, SecretAccessError) as exc:
            if entry is None:
                raise
            entry.next_try = now + self.retry_s
            entry.last_error = str(exc)
            return self._fallback(entry, now)
        except SecretError:
            with self._lock:
                self._cache.pop(key, None)
            raise
        with self._lock:
            if entry is not None and entry.warned:
                log.warning("Secrets Manager answers again", extra={"secret_id": secret_id})
            # the TTL runs from the answer, not the question: a reply slower than the TTL
            # must not make every later `get` ask again
            self._cache[key] = _Entry(bundle, self._clock())
        return bundle

    def _take_last_chance(self, entry: _Entry, now: float) -> bool:
        """The cached value just ran past TTL + grace: ask once more before giving up on
        it, even if the last failed attempt was less than `retry_s` ago (the source may be
        back by now). Once only; after that attempts keep the `retry_s` pace."""
        if entry.last_chance or now - entry.fetched < self.ttl_s + self.grace_s:
            return False
        entry.last_chance = True
        return True

    def _fallback(self, entry: _Entry, now: float) -> SecretBundle:
        secret_id = entry.bundle.secret_id
        age = now - entry.fetched
        limit = self.ttl_s + self.grace_s
        if age < limit:
            if not entry.warned:
                entry.warned = True
                log.warning(
                    "secret could not be re-read: using the cached value until TTL+grace",
                    extra={
                        "secret_id": secret_id,
                        "error": entry.last_error,
                        "seconds_left": round(limit - age, 1),
                    },
                )
            return entry.bundle
        raise SecretUnavailableError(
            f"secret {secret_id}: cannot be re-read ({entry.last_error or 'no answer'}); the"
            f" cached value is {age:.0f}s old, past TTL+grace"
            f" ({limit:.0f}s, TRADEWARDEN_SECRET_TTL_SECONDS + TRADEWARDEN_SECRET_GRACE_SECONDS)"
            ": not used any more",
            secret_id,
        )

    def invalidate(self, secret_id: str | None = None) -> None:
        with self._lock:
            for (sid, _), entry in self._cache.items():
                if secret_id is None or sid == secret_id:
                    entry.stale = True
                    entry.next_try = 0.0

    def fetch(
        self,
        secret_id: str,
        kind: SecretKind = SecretKind.BINANCE,
        *,
        stage: str = CURRENT,
        version_id: str | None = None,
    ) -> SecretBundle:
        """One uncached read of a stage (or version) of the secret."""
        args: dict[str, Any] = {"SecretId": secret_id}
        if version_id:
            args["VersionId"] = version_id
        else:
            args["VersionStage"] = stage
        self.reads += 1
        resp = self._call(secret_id, "GetSecretValue", self._client.get_secret_value, **args)
        text = resp.get("SecretString")
        if text is None and resp.get("SecretBinary") is None:
            # a cut or garbled answer (seen through a flaky network path), not a statement
            # about the secret: transient, so a cached value still serves until TTL + grace
            raise SecretUnavailableError(
                f"secret {secret_id}: Secrets Manager answered without a value", secret_id
            )
        if text is None:
            raise SecretFormatError(
                f"secret {secret_id}: stored as SecretBinary; expected a JSON SecretString",
                secret_id,
            )
        created = resp.get("CreatedDate")
        stored_at = created.timestamp() if hasattr(created, "timestamp") else None
        return parse_text(secret_id, kind, text, version=resp.get("VersionId"), stored_at=stored_at)

    # --- writing ----------------------------------------------------------------------------
    def exists(self, secret_id: str) -> bool:
        try:
            self._call(
                secret_id, "DescribeSecret", self._client.describe_secret, SecretId=secret_id
            )
        except SecretNotFoundError:
            return False
        return True

    def stages(self, secret_id: str) -> dict[str, list[str]]:
        resp = self._call(
            secret_id, "DescribeSecret", self._client.describe_secret, SecretId=secret_id
        )
        return {k: list(v) for k, v in (resp.get("VersionIdsToStages") or {}).items()}

    def current_version(self, secret_id: str) -> str | None:
        for version, stages in self.stages(secret_id).items():
            if CURRENT in stages:
                return version
        return None

    def create(
        self,
        secret_id: str,
        kind: SecretKind,
        payload: Mapping[str, str],
        *,
        like: str | None = None,
    ) -> str:
        """A new secret. `like`: a secret (the stack's admin secret) whose KMS key and
        Project/Stack tags the new one gets, if it exists; `put` copies its resource policy."""
        text = _validated(secret_id, kind, payload)
        token = str(uuid.uuid4())
        extra: dict[str, Any] = {}
        template = self._template(like) if like else None
        if template is not None:
            if template.get("KmsKeyId"):
                extra["KmsKeyId"] = template["KmsKeyId"]
            tags = {
                t["Key"]: t["Value"]
                for t in template.get("Tags") or []
                if t.get("Key") in INHERITED_TAGS
            }
            tags["ManagedBy"] = "tradewarden"
            extra["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        resp = self._call(
            secret_id,
            "CreateSecret",
            self._client.create_secret,
            Name=secret_id,
            ClientRequestToken=token,
            SecretString=text,
            Description="tradewarden credentials (written by `tradewarden secrets`)",
            **extra,
        )
        return str(resp.get("VersionId") or token)

    def _template(self, like: str) -> dict[str, Any] | None:
        """DescribeSecret of `like`, or None when there is no such secret (nothing to
        inherit: outside a deployed stack). Any other failure stops the write."""
        try:
            return dict(
                self._call(like, "DescribeSecret", self._client.describe_secret, SecretId=like)
            )
        except SecretNotFoundError:
            return None

    def _protect_like(self, secret_id: str, like: str) -> None:
        """Give `secret_id` the resource policy of `like` (in a stack: deny everyone but the
        host and the admin role), so a secret made at run time is as closed as its parent."""
        if self._template(like) is None:
            return
        resp = self._call(
            like, "GetResourcePolicy", self._client.get_resource_policy, SecretId=like
        )
        policy = resp.get("ResourcePolicy")
        if not policy:
            return
        self._call(
            secret_id,
            "PutResourcePolicy",
            self._client.put_resource_policy,
            SecretId=secret_id,
            ResourcePolicy=policy,
            BlockPublicPolicy=True,
        )

    def stage_pending(self, secret_id: str, kind: SecretKind, payload: Mapping[str, str]) -> str:
        """Write a new version labelled AWSPENDING only (the daemon keeps using AWSCURRENT)."""
        text = _validated(secret_id, kind, payload)
        token = str(uuid.uuid4())
        resp = self._call(
            secret_id,
            "PutSecretValue",
            self._client.put_secret_value,
            SecretId=secret_id,
            ClientRequestToken=token,
            SecretString=text,
            VersionStages=[PENDING],
        )
        return str(resp.get("VersionId") or token)

    def promote(self, secret_id: str, version: str) -> str | None:
        """AWSCURRENT -> `version` (the old current becomes AWSPREVIOUS); drop AWSPENDING."""
        previous = self.current_version(secret_id)
        move: dict[str, Any] = {"MoveToVersionId": version}
        if previous and previous != version:
            move["RemoveFromVersionId"] = previous
        self._call(
            secret_id,
            "UpdateSecretVersionStage",
            self._client.update_secret_version_stage,
            SecretId=secret_id,
            VersionStage=CURRENT,
            **move,
        )
        self.discard_pending(secret_id, version)
        self.invalidate(secret_id)
        return previous if previous != version else None

    def discard_pending(self, secret_id: str, version: str) -> None:
        if PENDING not in self.stages(secret_id).get(version, []):
            return
        self._call(
            secret_id,
            "UpdateSecretVersionStage",
            self._client.update_secret_version_stage,
            SecretId=secret_id,
            VersionStage=PENDING,
            RemoveFromVersionId=version,
        )

    def put(
        self,
        secret_id: str,
        kind: SecretKind,
        payload: Mapping[str, str],
        *,
        like: str | None = None,
    ) -> tuple[str, str | None]:
        """Store a new current version. `like` (secrets made at run time, such as the
        approvers' seeds under the admin secret): a new secret gets that secret's KMS key
        and tags, and every write (re)applies its resource policy before the value counts."""
        if not self.exists(secret_id):
            version = self.create(secret_id, kind, payload, like=like)
            if like:
                self._protect_like(secret_id, like)
            return version, None
        if like:
            self._protect_like(secret_id, like)
        version = self.stage_pending(secret_id, kind, payload)
        return version, self.promote(secret_id, version)

    # --- errors -----------------------------------------------------------------------------
    def _call(self, secret_id: str, action: str, fn: Callable[..., Any], **kw: Any) -> Any:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        try:
            return fn(**kw)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code") or "") in _EXPIRED:
                self._remake_client()  # a refreshed credentials file or role: found again
            raise _map_client_error(secret_id, action, exc) from None
        except NoCredentialsError:
            # on a host: the instance metadata service did not answer (yet); it comes back,
            # so the source is unreachable for now (the start-up waits NOT READY), not denied
            self._remake_client()
            raise SecretUnavailableError(
                f"secret {secret_id}: no AWS credentials found (instance role, AWS_PROFILE or"
                " AWS_ACCESS_KEY_ID); will ask again",
                secret_id,
            ) from None
        except PartialCredentialsError:
            raise SecretAccessError(
                f"secret {secret_id}: incomplete AWS credentials (AWS_ACCESS_KEY_ID without"
                " AWS_SECRET_ACCESS_KEY, or a partial profile)",
                secret_id,
            ) from None
        except BotoCoreError as exc:
            raise SecretUnavailableError(
                f"secret {secret_id}: Secrets Manager unreachable at"
                f" {self._client.meta.endpoint_url} ({type(exc).__name__})",
                secret_id,
            ) from None

    def _remake_client(self) -> None:
        """The next request resolves the AWS credential chain again (a new client)."""
        if self._remake is None:
            return
        try:
            self._client = self._remake()
        except Exception:  # keep the old client; the next failure tries again
            log.warning("could not re-make the Secrets Manager client", exc_info=True)


def _validated(secret_id: str, kind: SecretKind, payload: Mapping[str, str]) -> str:
    parse_payload(secret_id, kind, dict(payload))  # refuse to store what we could not read
    return encode(payload)


def _map_client_error(secret_id: str, action: str, exc: Any) -> SecretError:
    err = exc.response.get("Error", {}) if hasattr(exc, "response") else {}
    code = str(err.get("Code") or "")
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    what = f"secret {secret_id}: {action}"
    if code in _NOT_FOUND:
        return SecretNotFoundError(f"{what}: not found in Secrets Manager", secret_id)
    if code in _GONE:
        return SecretNotFoundError(
            f"{what}: not usable ({code}: deleted or scheduled for deletion?)", secret_id
        )
    if code in _KMS or code.startswith("KMS"):
        return SecretAccessError(
            f"{what}: Secrets Manager could not decrypt it with its KMS key ({code}); check"
            " kms:Decrypt for this role on the secret's key and that the key is enabled",
            secret_id,
        )
    if code in _EXPIRED:
        return SecretUnavailableError(
            f"{what}: AWS credentials expired ({code}); waiting for them to be refreshed",
            secret_id,
        )
    if code in _DENIED or status == 403 or code == "403":
        return SecretAccessError(
            f"{what}: access denied ({code or status}); check the role's"
            f" secretsmanager:{action} and kms:Decrypt rights",
            secret_id,
        )
    if code in _BUSY or status == 429 or status >= 500:
        return SecretUnavailableError(
            f"{what}: Secrets Manager busy or failing ({code or status})", secret_id
        )
    return SecretAccessError(f"{what}: refused ({code or status})", secret_id)


def _make_client(
    max_attempts: int, connect_timeout_s: float, read_timeout_s: float
) -> SecretsManagerClient:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    config = Config(
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        retries={"mode": "standard", "max_attempts": max_attempts},
    )
    session = boto3.session.Session()
    try:
        return session.client("secretsmanager", config=config)
    except NoRegionError:
        raise SecretConfigError(
            "TRADEWARDEN_SECRET_SOURCE=aws: no AWS region (set AWS_REGION or AWS_DEFAULT_REGION,"
            " or a region in the AWS profile)"
        ) from None
