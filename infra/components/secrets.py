"""Secrets: the stack's KMS key and the Secrets Manager secrets the daemon reads.

Secrets are created empty (no secret version): values are put with
``tradewarden secrets put`` and never pass through Pulumi config or state. The one
exception is ``smtp``: its value is the SES SMTP credentials Pulumi itself creates
(infra/components/email.py), written as a Pulumi secret.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra import iam, naming
from infra.config import StackConfig
from infra.naming import AwsContext


class Secrets(pulumi.ComponentResource):
    key: aws.kms.Key
    secrets: dict[str, aws.secretsmanager.Secret]

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("tradewarden:infra:Secrets", name, None, opts)
        # Fixed names: a replacement deletes the old one first.
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        protected = pulumi.ResourceOptions(
            parent=self, protect=cfg.protect, delete_before_replace=True
        )
        # The daily EBS snapshots (Data Lifecycle Manager) and the backups outlive the stack
        # and are encrypted with this key: `pulumi destroy` of an unprotected stack leaves
        # the key (retain_on_delete) instead of scheduling its deletion under them.
        # infra/README.md, "Tearing a stack down", says how to retire it afterwards.
        key_opts = pulumi.ResourceOptions(
            parent=self,
            protect=cfg.protect,
            retain_on_delete=not cfg.protect,
            delete_before_replace=True,
        )

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"tradewarden {cfg.stack}: secrets, EBS, alert topic and logs",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(iam.kms_key_policy(ctx, cfg.stack)),
            tags=naming.tags(cfg.stack),
            opts=key_opts,
        )
        self.alias = aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/tradewarden-{cfg.stack}",
            target_key_id=self.key.key_id,
            opts=child,
        )

        secret_policy = json.dumps(
            iam.secret_resource_policy(
                host_role_arn=naming.host_role_arn(ctx, cfg.stack),
                admin_role_arn=cfg.admin_role_arn,
            )
        )
        self.secrets = {}
        for key in naming.SECRET_PATHS:
            secret = aws.secretsmanager.Secret(
                f"{name}-{key}",
                name=naming.secret_name(cfg.stack, key),
                description=f"tradewarden {cfg.stack} {key}: put with `tradewarden secrets put`",
                kms_key_id=self.key.arn,
                recovery_window_in_days=30 if cfg.protect else 7,
                tags=naming.tags(cfg.stack),
                opts=protected,
            )
            aws.secretsmanager.SecretPolicy(
                f"{name}-{key}-policy",
                secret_arn=secret.arn,
                policy=secret_policy,
                block_public_policy=True,
                opts=child,
            )
            self.secrets[key] = secret

        self.secret_arns: pulumi.Output[dict[str, str]] = pulumi.Output.all(
            **{k: s.arn for k, s in self.secrets.items()}
        )
        self.register_outputs({"keyArn": self.key.arn, "secretArns": self.secret_arns})
