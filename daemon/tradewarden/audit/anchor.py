"""The audit chain head, anchored off the host: one S3 object per host.

``s3://<TRADEWARDEN_AUDIT_ANCHOR_BUCKET>/<prefix>/<host>/audit-head.json`` holds
``{"seq", "hash", "hmac", "time", "host"}`` of the newest entry. The daemon writes it at
start, every ``TRADEWARDEN_AUDIT_ANCHOR_INTERVAL_SECONDS`` and at shutdown (`AnchorJob`);
`tradewarden audit anchor` writes it by hand; `tradewarden audit verify --anchor` checks the
local chain against it: a chain that ends before the anchor's seq was truncated, one whose
entry at that seq has another hash was rewritten.

The anchor never moves backwards: before it is overwritten the local chain must contain
the anchor there now (same seq, same hash), so an attacker who cuts the local chain cannot
have the daemon bless the shorter one. The object holds hashes only, never an entry's
data. boto3 takes its endpoint from ``AWS_ENDPOINT_URL`` (the tests aim it at moto).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tradewarden.audit.chain import AuditLog, Head

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from tradewarden.core.config import Settings

log = logging.getLogger(__name__)
OBJECT_NAME = "audit-head.json"


class AnchorError(Exception):
    """The anchor cannot be read or written, or refusing to move it backwards."""


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    hmac: str | None
    time: str
    host: str

    def as_head(self, where: str) -> Head:
        return Head(self.seq, self.hash, self.hmac, f"the off-host anchor ({where}, {self.time})")


class S3Anchor:
    """Reads and writes the anchor object of one host."""

    def __init__(self, bucket: str, prefix: str, host: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self.key = f"{prefix.strip('/')}/{host}/{OBJECT_NAME}".lstrip("/")
        self.host = host
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3",
                config=Config(
                    connect_timeout=3,
                    read_timeout=5,
                    retries={"max_attempts": 2, "mode": "standard"},
                ),
            )
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings, host: str | None = None) -> S3Anchor:
        if not settings.audit_anchor_bucket:
            raise AnchorError("TRADEWARDEN_AUDIT_ANCHOR_BUCKET: not set (no off-host anchor)")
        return cls(
            settings.audit_anchor_bucket,
            settings.audit_anchor_prefix,
            host or socket.gethostname(),
        )

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def read(self) -> Anchor | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # Listed first: S3 answers GetObject on a missing key with 404 only to a caller
            # that may list the whole bucket; the host may list its own prefix only and
            # would get 403, so "no anchor yet" is learned from the listing.
            listed = self._client.list_objects_v2(Bucket=self.bucket, Prefix=self.key, MaxKeys=1)
            if not any(o.get("Key") == self.key for o in listed.get("Contents") or []):
                return None
            obj = self._client.get_object(Bucket=self.bucket, Key=self.key)
            raw = json.loads(obj["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise AnchorError(f"cannot read {self.describe()}: {exc}") from None
        except (BotoCoreError, ValueError) as exc:
            raise AnchorError(f"cannot read {self.describe()}: {exc}") from None
        try:
            return Anchor(
                int(raw["seq"]), str(raw["hash"]), raw.get("hmac"), str(raw["time"]), raw["host"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AnchorError(f"{self.describe()} is not an audit anchor ({exc})") from None

    def write(self, anchor: Anchor) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=json.dumps(asdict(anchor), sort_keys=True).encode(),
                ContentType="application/json",
            )
        except (BotoCoreError, ClientError) as exc:
            raise AnchorError(f"cannot write {self.describe()}: {exc}") from None


def publish(
    audit: AuditLog,
    remote: S3Anchor,
    *,
    last: Anchor | None = None,
    force_reason: str = "",
    actor: str = "operator",
) -> Anchor:
    """Anchor the local head. The local chain must contain the anchor there now first,
    even when it is `last` (ours): the files and the database may have been cut back
    since, and the anchor must not follow them. `force_reason` (a human, after a restore
    or a new chain) skips that check; the replaced anchor is audited."""
    current = remote.read()
    if current is not None and not force_reason:
        res = audit.verify_chain([current.as_head(remote.describe())])
        if not res.ok:
            raise AnchorError(
                f"not anchoring: the local chain does not contain the anchor at"
                f" {remote.describe()} (seq {current.seq}): {res.problem}. See"
                " runbooks/audit-chain-broken.md"
            )
    if force_reason:
        audit.append(
            "audit_anchor_replaced",
            {
                "anchor": remote.describe(),
                "replaced": asdict(current) if current else None,
                "reason": force_reason,
            },
            actor=actor,
            sync=True,
        )
    head = audit.head()
    if current is not None and (current.seq, current.hash) == (head.seq, head.hash):
        return current
    anchor = Anchor(
        head.seq,
        head.hash,
        head.hmac,
        datetime.now(UTC).isoformat(timespec="seconds"),
        remote.host,
    )
    remote.write(anchor)
    return anchor


class AnchorJob:
    """The daemon's periodic anchoring: a thread that never blocks the trading loop. A
    failure is logged and counted (`failures`, `last_error`) and retried at the next
    interval; alerting on it belongs to the audit-chain alerts."""

    def __init__(self, audit: AuditLog, remote: S3Anchor, interval: float) -> None:
        self.audit, self.remote, self.interval = audit, remote, interval
        self.last: Anchor | None = None
        self.last_ok_ts = 0.0
        self.failures = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="audit-anchor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def tick(self) -> bool:
        with self._lock:
            try:
                self.last = publish(self.audit, self.remote, last=self.last)
            except Exception as exc:  # logged and retried; never stops the daemon
                from tradewarden.secrets import scrub

                self.failures += 1
                self.last_error = scrub.scrub(str(exc))
                log.error(
                    "audit anchor failed",
                    extra={"anchor": self.remote.describe(), "error": self.last_error},
                )
                return False
            self.last_ok_ts = time.time()
            self.last_error = ""
            return True

    def _run(self) -> None:
        self.tick()
        while not self._stop.wait(self.interval):
            self.tick()

    def stop(self, *, final: bool = True) -> None:
        """Stop the thread; `final`: anchor the last head (after `daemon_stopped`)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if final:
            self.tick()
