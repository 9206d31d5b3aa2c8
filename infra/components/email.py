"""Alert email through Amazon SES: the sender's identity and the host's SMTP credentials.

* SES identity: the domain of ``tradewarden:alertEmailFrom`` with Easy DKIM; the three
  DKIM CNAME records are the stack output ``sesDkimRecords`` (whoever runs the domain's DNS
  publishes them; SES sends nothing before the identity is verified).
* SMTP user: an IAM user whose only permission is ``ses:SendRawEmail`` from that identity
  with that sender address, to the stack's ``alertEmails`` only. Its access key's
  ``ses_smtp_password_v4`` (the SMTP password AWS derives for the stack's region) and key
  id (the SMTP user name) are written to the stack's ``smtp`` secret as
  ``{"username", "password"}``: the JSON fields the daemon reads
  (``tradewarden.secrets.bundle``, kind smtp) through ``TRADEWARDEN_SECRET_SMTP_ID``.
  The values are Pulumi secrets (encrypted in the state), never plain config.

The host reaches SES only through the VPC's ``email-smtp`` interface endpoint on 587
(infra/components/network.py), with STARTTLS (``TRADEWARDEN_SMTP_TLS=starttls``).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import naming
from infra.config import StackConfig
from infra.naming import AwsContext


def smtp_user_name(stack: str) -> str:
    return f"{naming.PROJECT}-{stack}-ses-smtp"


def ses_identity_arn(ctx: AwsContext, identity: str) -> str:
    return ctx.arn("ses", f"identity/{identity}")


def recipient_forms(address: str) -> tuple[str, ...]:
    """An address as written, with its domain in lower case, and all in lower case: IAM
    compares case-sensitively, and a recipient SES reports in another case must still
    match (an alert refused by the policy would never be delivered)."""
    local, _, domain = address.rpartition("@")
    return (address, f"{local}@{domain.lower()}", address.lower())


def alert_recipients(cfg: StackConfig) -> list[str]:
    """Every form of every ``alertEmails`` address (`recipient_forms`)."""
    return sorted({form for a in cfg.alert_emails for form in recipient_forms(a)})


def smtp_user_policy(ctx: AwsContext, cfg: StackConfig) -> dict[str, Any]:
    """Send raw email (what SMTP uses) from the stack's identity, as its sender only, and
    only to the stack's alert recipients: the password is on the host, and mail to anyone
    would be a channel out around the egress firewalls (``ses:Recipients`` holds To, Cc
    and Bcc; ``ForAllValues``: every one of them must be listed)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SendAlertEmailAsTheStackSender",
                "Effect": "Allow",
                "Action": "ses:SendRawEmail",
                "Resource": ses_identity_arn(ctx, cfg.email_sender_domain),
                "Condition": {
                    "StringEquals": {"ses:FromAddress": cfg.alert_email_from},
                    "ForAllValues:StringEquals": {"ses:Recipients": alert_recipients(cfg)},
                },
            }
        ],
    }


def smtp_secret_json(username: str, password: str) -> str:
    """The smtp secret's value, in the shape the daemon's secret reader accepts."""
    return json.dumps({"username": username, "password": password})


def dkim_records(domain: str, tokens: list[str] | None) -> list[str]:
    return [f"{t}._domainkey.{domain} CNAME {t}.dkim.amazonses.com" for t in tokens or []]


class AlertEmail(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        ctx: AwsContext,
        *,
        smtp_secret_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("tradewarden:infra:AlertEmail", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        tags = naming.tags(cfg.stack)
        domain = cfg.email_sender_domain

        self.identity = aws.sesv2.EmailIdentity(
            f"{name}-identity",
            email_identity=domain,
            tags=tags,
            opts=child,
        )
        self.dkim_records: pulumi.Output[list[str]] = self.identity.dkim_signing_attributes.apply(
            lambda attrs: dkim_records(domain, attrs.tokens if attrs else None)
        )

        self.user = aws.iam.User(
            f"{name}-smtp-user",
            name=smtp_user_name(cfg.stack),
            path=f"/{naming.PROJECT}/",
            tags=tags,
            opts=child,
        )
        aws.iam.UserPolicy(
            f"{name}-smtp-user-policy",
            name="ses-send-alert-email",
            user=self.user.name,
            policy=json.dumps(smtp_user_policy(ctx, cfg)),
            opts=child,
        )
        # Rotate with `pulumi up --replace <this key's URN>`: a new key, a new secret version.
        key = aws.iam.AccessKey(f"{name}-smtp-key", user=self.user.name, opts=child)
        self.secret_version = aws.secretsmanager.SecretVersion(
            f"{name}-smtp-credentials",
            secret_id=smtp_secret_id,
            secret_string=pulumi.Output.secret(
                pulumi.Output.all(key.id, key.ses_smtp_password_v4).apply(
                    lambda a: smtp_secret_json(a[0], a[1])
                )
            ),
            opts=child,
        )
        self.register_outputs({"identity": domain, "dkimRecords": self.dkim_records})
