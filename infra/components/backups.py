"""Backups: the S3 bucket the host's nightly ``tradewarden backup`` writes to.

* One bucket per stack and account, ``tradewarden-<stack>-backups-<account id>``; the host
  writes under ``<stack>/`` only (``infra.iam.backup_statements``) and may not delete.
* Default encryption SSE-KMS with the stack's key (bucket key on, fewer KMS calls); the
  bucket policy refuses plain HTTP and uploads naming another algorithm or key.
* Versioned, all four public access blocks on, ACLs disabled (BucketOwnerEnforced).
* Lifecycle: a backup expires ``backupRetentionDays`` after it was written, a replaced or
  expired version 7 days later, and an unfinished multipart upload after a day.
* S3 Object Lock: every version is locked for ``backupLockDays`` (default: the retention)
  from when it was written, GOVERNANCE in dev/staging, COMPLIANCE in prod. Overwriting an
  object only adds a version; no one (the host least of all) can delete or shorten a
  locked version, and the lifecycle removes it only once the lock has run out.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra import iam, naming
from infra.config import StackConfig
from infra.naming import AwsContext

NONCURRENT_VERSION_DAYS = 7
ABORT_MULTIPART_DAYS = 1


class Backups(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    bucket_arn: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        *,
        kms_key_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("tradewarden:infra:Backups", name, None, opts)
        # One configuration of each kind per bucket: a replacement deletes the old first.
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        tags = naming.tags(cfg.stack)
        bucket_name = naming.backup_bucket_name(cfg.stack, ctx.account_id)

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name,
            force_destroy=False,
            tags={**tags, "Name": bucket_name},
            # prod: protected. Elsewhere `pulumi destroy` leaves the bucket and its locked
            # backups behind (retain_on_delete) rather than failing on a non-empty bucket.
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=cfg.protect,
                retain_on_delete=not cfg.protect,
                delete_before_replace=True,
            ),
        )
        # The sub-resources take the bucket's name (its id in AWS).
        bucket = self.bucket.bucket
        self.bucket_arn = bucket.apply(lambda b: naming.s3_bucket_arn(ctx.partition, b))

        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": kms_key_arn,
                    },
                    "bucket_key_enabled": True,
                }
            ],
            opts=child,
        )
        policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket,
            policy=pulumi.Output.all(self.bucket_arn, kms_key_arn).apply(
                lambda a: json.dumps(iam.backup_bucket_policy(bucket_arn=a[0], key_arn=a[1]))
            ),
            # After the public access block: concurrent changes fail (OperationAborted).
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[public_access])
            ),
        )
        lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket,
            rules=[
                {
                    "id": "expire-backups",
                    "status": "Enabled",
                    "filter": {},
                    "expiration": {"days": cfg.backup_retention_days},
                    "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_VERSION_DAYS},
                    "abort_incomplete_multipart_upload": {
                        "days_after_initiation": ABORT_MULTIPART_DAYS
                    },
                }
            ],
            # Lifecycle rules on a versioned bucket: versioning first.
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[versioning])
            ),
        )
        # Enabled on the existing (versioned) bucket: no bucket replacement is needed.
        lock = aws.s3.BucketObjectLockConfiguration(
            f"{name}-object-lock",
            bucket=bucket,
            object_lock_enabled="Enabled",
            rule={
                "default_retention": {
                    "mode": cfg.backup_lock_mode,
                    "days": cfg.backup_lock_days,
                }
            },
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[versioning])
            ),
        )

        # The URL resolves only once every setting above exists, so the host (whose user
        # data carries it) is never created before its backup target is locked down.
        locked_down = [public_access, ownership, versioning, encryption, policy, lifecycle, lock]
        self.url = pulumi.Output.all(bucket, *[r.id for r in locked_down]).apply(
            lambda a: naming.backup_url(a[0], cfg.stack)
        )
        self.register_outputs({"bucketName": bucket, "bucketArn": self.bucket_arn, "url": self.url})
