"""Alert egress follows the alert config (issue 15, item 3), from one place.

Slack on: the Network Firewall's SNI list, the DNS Firewall's allow list and the host's
nftables allow-list (host.env TRADEWARDEN_EGRESS_ALERT_HOSTS, read by
ops/nftables/refresh-allowlist.py) hold exactly the same Slack hosts; Slack off: none of
them does. Email: SES SMTP through the VPC's email-smtp endpoint (587 from the host only),
with credentials Pulumi writes into the stack's smtp secret in the daemon's JSON shape.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import yaml
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key  # a secret's marker

from infra.domains import SLACK_HOSTS, aws_service_domains
from infra.offline import OfflineRun, read_stack_file, run_offline
from infra.policy import checks as t
from tradewarden.secrets.bundle import OPTIONAL, REQUIRED, SecretKind, parse_text

from .conftest import policy_json

SENDERS = {
    "dev": "tradewarden-dev@dev.alerts.example.com",
    "staging": "tradewarden-staging@alerts.example.com",
    "prod": "tradewarden-prod@alerts.example.com",
}


@pytest.fixture(scope="module")
def slack_off() -> OfflineRun:
    raw = read_stack_file("dev")
    raw["tradewarden:slack"] = False
    del raw["tradewarden:slackChannel"]
    return run_offline("noslack", raw)


def host_env(run: OfflineRun, path: str) -> dict[str, str]:
    doc = yaml.safe_load(run.one(t.INSTANCE).inputs["userData"])
    (content,) = [f["content"] for f in doc["write_files"] if f["path"] == path]
    return dict(line.split("=", 1) for line in content.splitlines() if "=" in line)


def layers(run: OfflineRun) -> dict[str, set[str]]:
    """The Slack names each egress layer lets through."""
    source = run.one(t.NFW_RULE_GROUP).inputs["ruleGroup"]["rulesSource"]["rulesSourceList"]
    dns = run.one(t.DNS_DOMAIN_LIST, "network-dns-allowed").inputs["domains"]
    hosts = host_env(run, "/etc/tradewarden/host.env")["TRADEWARDEN_EGRESS_ALERT_HOSTS"]
    return {
        "network firewall": {d for d in source["targets"] if "slack" in d},
        "dns firewall": {d for d in dns if "slack" in d},
        "host nftables": {h for h in hosts.split(",") if h},
    }


def test_slack_on_puts_the_same_slack_hosts_in_all_three_layers(run: OfflineRun) -> None:
    assert layers(run) == dict.fromkeys(
        ("network firewall", "dns firewall", "host nftables"), set(SLACK_HOSTS)
    )
    assert run.outputs["alertEgressHosts"] == sorted(SLACK_HOSTS, key=SLACK_HOSTS.index)
    env = host_env(run, "/etc/tradewarden/tradewarden.env")
    assert env["TRADEWARDEN_SLACK_CHANNEL"] == f"#tradewarden-{run.stack}"


def test_slack_off_puts_no_slack_host_anywhere(slack_off: OfflineRun) -> None:
    assert layers(slack_off) == dict.fromkeys(
        ("network firewall", "dns firewall", "host nftables"), set()
    )
    assert slack_off.outputs["alertEgressHosts"] == []


def test_mode_and_email_reach_the_daemon_env(run: OfflineRun) -> None:
    env = host_env(run, "/etc/tradewarden/tradewarden.env")
    assert (
        env["TRADEWARDEN_MODE"]
        == {"dev": "testnet", "staging": "testnet", "prod": "live"}[run.stack]
    )
    assert env["BINANCE_TESTNET"] == ("false" if run.stack == "prod" else "true")
    assert env["TRADEWARDEN_SMTP_HOST"] == "email-smtp.eu-west-1.amazonaws.com"
    assert (env["TRADEWARDEN_SMTP_PORT"], env["TRADEWARDEN_SMTP_TLS"]) == ("587", "starttls")
    assert env["TRADEWARDEN_EMAIL_FROM"] == SENDERS[run.stack]
    emails = read_stack_file(run.stack)["tradewarden:alertEmails"]
    assert env["TRADEWARDEN_EMAIL_TO"].split(",") == emails
    # The SES name resolves inside the VPC (private DNS of the endpoint).
    dns = run.one(t.DNS_DOMAIN_LIST, "network-dns-allowed").inputs["domains"]
    assert "email-smtp.eu-west-1.amazonaws.com" in dns
    assert "email-smtp.eu-west-1.amazonaws.com" in aws_service_domains("eu-west-1")


def test_ses_smtp_endpoint_accepts_only_587_from_the_host(run: OfflineRun) -> None:
    endpoint = run.one("aws:ec2/vpcEndpoint:VpcEndpoint", "network-vpce-email-smtp").inputs
    assert endpoint["serviceName"] == "com.amazonaws.eu-west-1.email-smtp"
    assert endpoint["vpcEndpointType"] == "Interface" and endpoint["privateDnsEnabled"] is True
    assert endpoint["subnetIds"] == [run.one(t.SUBNET, "network-private").id]
    sg = run.one(t.SECURITY_GROUP, "network-smtp-endpoint-sg")
    assert endpoint["securityGroupIds"] == [sg.id]
    assert sg.inputs.get("ingress") in (None, []) and sg.inputs["egress"] == []
    into = [
        r.inputs for r in run.of_type(t.VPC_INGRESS_RULE) if r.inputs["securityGroupId"] == sg.id
    ]
    assert into == [
        {
            "securityGroupId": sg.id,
            "referencedSecurityGroupId": run.one(t.SECURITY_GROUP, "host-sg").id,
            "ipProtocol": "tcp",
            "fromPort": 587,
            "toPort": 587,
            "description": "the host submits alert email to SES (STARTTLS)",
            "tags": into[0]["tags"],
        }
    ]


def secret_value(value: Any) -> tuple[bool, str]:
    """(marked secret?, plain value) of a recorded input."""
    if isinstance(value, dict) and value.get(_special_sig_key) == _special_secret_sig:
        return True, value["value"]
    return False, value


def test_smtp_secret_holds_the_ses_credentials_in_the_daemons_shape(run: OfflineRun) -> None:
    version = run.one("aws:secretsmanager/secretVersion:SecretVersion")
    assert version.inputs["secretId"] == run.outputs["secretArns"]["smtp"]
    is_secret, text = secret_value(version.inputs["secretString"])
    assert is_secret, "the SMTP password must be a Pulumi secret (encrypted in the state)"
    value = json.loads(text)
    allowed = set(REQUIRED[SecretKind.SMTP]) | set(OPTIONAL[SecretKind.SMTP])
    assert set(value) == set(REQUIRED[SecretKind.SMTP]) and set(value) <= allowed
    key = run.one("aws:iam/accessKey:AccessKey")
    assert value["username"] == key.id
    assert value["password"] == key.outputs["sesSmtpPasswordV4"]
    # The daemon's own reader accepts it (the same parser `tradewarden` runs on the host).
    bundle = parse_text("tradewarden/x/smtp", SecretKind.SMTP, text)
    assert bundle["username"].reveal() == key.id


def test_smtp_user_may_only_send_as_the_stack_sender(run: OfflineRun) -> None:
    user = run.one("aws:iam/user:User")
    key = run.one("aws:iam/accessKey:AccessKey")
    assert key.inputs["user"] == user.outputs["name"] == f"tradewarden-{run.stack}-ses-smtp"
    (policy,) = run.of_type("aws:iam/userPolicy:UserPolicy")
    assert policy.inputs["user"] == user.outputs["name"]
    (statement,) = policy_json(policy)["Statement"]
    sender = SENDERS[run.stack]
    domain = sender.split("@")[1]  # each stack its own SES identity (one per account+region)
    account = run.outputs["kmsKeyArn"].split(":")[4]
    assert statement == {
        "Sid": "SendAlertEmailAsTheStackSender",
        "Effect": "Allow",
        "Action": "ses:SendRawEmail",
        "Resource": f"arn:aws:ses:eu-west-1:{account}:identity/{domain}",
        "Condition": {
            "StringEquals": {"ses:FromAddress": sender},
            "ForAllValues:StringEquals": {
                "ses:Recipients": sorted(read_stack_file(run.stack)["tradewarden:alertEmails"])
            },
        },
    }
    identity = run.one("aws:sesv2/emailIdentity:EmailIdentity")
    assert identity.inputs["emailIdentity"] == domain
    tokens = identity.outputs["dkimSigningAttributes"]["tokens"]
    assert run.outputs["sesDkimRecords"] == [
        f"{tok}._domainkey.{domain} CNAME {tok}.dkim.amazonses.com" for tok in tokens
    ]


def test_the_rendered_daemon_env_is_what_the_daemon_reads(
    run: OfflineRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host's tradewarden.env, read by the daemon's own Settings: the stack's mode,
    network and alert destinations arrive as the stack file says."""
    from tradewarden.core.config import Settings

    for name in list(os.environ):
        if name.startswith(("TRADEWARDEN_", "BINANCE_", "FINAL_HAMMER")):
            monkeypatch.delenv(name)
    for name, value in host_env(run, "/etc/tradewarden/tradewarden.env").items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    cfg = read_stack_file(run.stack)
    assert settings.mode.value == cfg["tradewarden:mode"]
    assert settings.binance_testnet is (run.stack != "prod")
    assert settings.smtp_host == "email-smtp.eu-west-1.amazonaws.com"
    assert (settings.smtp_port, settings.smtp_tls) == (587, "starttls")
    assert list(settings.email_to) == cfg["tradewarden:alertEmails"]
    assert settings.email_from == cfg["tradewarden:alertEmailFrom"]
    assert settings.slack_channel == cfg["tradewarden:slackChannel"]


def test_attack_the_smtp_credentials_mail_anyone_out_of_the_vpc(run: OfflineRun) -> None:
    """The SMTP password sits on the host (the daemon reads it). Whoever runs code there
    could send anything to any address on the internet through SES: a mail channel out,
    around the Network Firewall's SNI list and the host's nftables. The SMTP user may
    send only to the stack's alert recipients (``ses:Recipients`` covers To, Cc and Bcc;
    ``ForAllValues``: every recipient must be one of them)."""
    recipients = read_stack_file(run.stack)["tradewarden:alertEmails"]
    (policy,) = run.of_type("aws:iam/userPolicy:UserPolicy")
    statements = policy_json(policy)["Statement"]
    assert statements, policy
    for st in statements:
        assert st["Effect"] == "Allow"
        allowed = st.get("Condition", {}).get("ForAllValues:StringEquals", {})
        assert "ses:Recipients" in allowed, st
        # IAM compares case-sensitively: each address as written, with its domain in lower
        # case, and all in lower case; nothing else.
        forms = {
            f
            for a in recipients
            for f in (a, a.rsplit("@", 1)[0] + "@" + a.rsplit("@", 1)[1].lower(), a.lower())
        }
        assert set(allowed["ses:Recipients"]) == forms, st
    from infra.components.email import recipient_forms

    assert recipient_forms("OnCall@Example.COM") == (
        "OnCall@Example.COM",
        "OnCall@example.com",
        "oncall@example.com",
    )
