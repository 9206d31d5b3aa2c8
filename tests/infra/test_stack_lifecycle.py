"""What a real `pulumi up`, a replacement and a `pulumi destroy` need, per stack: the DNS
Firewall trusts CNAME targets of allowed names, the NAT address is an output, protected
in prod, fixed names are deleted before they are replaced, dev can be destroyed and prod
cannot, user data never restarts the host, one explicit AWS provider with default tags
and the allowed account, resolver query logs and the egress/snapshot alarms."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import load_stack_config
from infra.offline import OfflineRun, Recorded, read_stack_file, run_offline
from infra.policy import checks as t

PROTECTED = {"dev": False, "staging": False, "prod": True}


def cfg_of(run: OfflineRun) -> Any:
    return load_stack_config(read_stack_file(run.stack), run.stack)


def named(run: OfflineRun, name: str) -> Recorded:
    (found,) = [r for r in run.resources if r.name == name]
    return found


# --- 1: DNS Firewall and CNAME chains ----------------------------------------------------------


def test_dns_allow_rule_trusts_the_redirection_chain(run: OfflineRun) -> None:
    allow = named(run, "network-dns-allow").inputs
    assert allow["action"] == "ALLOW"
    assert allow["firewallDomainRedirectionAction"] == "TRUST_REDIRECTION_DOMAIN"


# --- 6: the NAT address -------------------------------------------------------------------------


def test_nat_address_is_an_output_protected_in_prod(run: OfflineRun) -> None:
    eip = named(run, "network-nat-ip")
    assert run.outputs["natPublicIp"] == eip.outputs["publicIp"] == "203.0.113.10"
    assert eip.options["protect"] is PROTECTED[run.stack]
    text = run.one(t.INSTANCE).inputs["userData"]
    assert "TRADEWARDEN_EGRESS_IP=203.0.113.10\n" in text


# --- 7: replacement and teardown ---------------------------------------------------------------

FIXED_NAME_KEYS = ("name", "bucket")


def test_resources_with_fixed_names_are_deleted_before_replacement(run: OfflineRun) -> None:
    fixed = [
        r
        for r in run.resources
        if r.custom
        and r.type != "pulumi:providers:aws"
        and any(isinstance(r.inputs.get(k), str) for k in FIXED_NAME_KEYS)
    ]
    assert len(fixed) > 20
    missing = [r.name for r in fixed if not r.options["deleteBeforeReplace"]]
    assert missing == []


def test_prod_is_protected_and_dev_is_destroyable(run: OfflineRun) -> None:
    protect = PROTECTED[run.stack]
    for name in (
        "secrets-key",
        "backups-bucket",
        "host-instance",
        "network-nat-ip",
        "host-logs",
        "network-vpc-flow-logs",
        "network-network-firewall-logs",
        "network-dns-query-logs",
        "secrets-binance-trade",
    ):
        assert named(run, name).options["protect"] is protect, name
    assoc = run.one(t.DNS_ASSOCIATION).inputs
    assert assoc["mutationProtection"] == ("ENABLED" if protect else "DISABLED")
    assert run.one(t.NFW_FIREWALL).inputs["deleteProtection"] is protect
    assert run.one(t.INSTANCE).inputs["disableApiTermination"] is protect


def test_destroying_an_unprotected_stack_keeps_the_key_its_snapshots_need(
    run: OfflineRun,
) -> None:
    """DLM snapshots outlive the stack: the key that encrypts them must too."""
    key = named(run, "secrets-key")
    assert key.options["retainOnDelete"] is not PROTECTED[run.stack]
    bucket = named(run, "backups-bucket")
    assert bucket.options["retainOnDelete"] is not PROTECTED[run.stack]


# --- 8: user data never restarts the host ------------------------------------------------------


def test_user_data_changes_are_ignored(run: OfflineRun) -> None:
    inst = run.one(t.INSTANCE)
    assert "userData" in inst.options["ignoreChanges"]
    assert inst.inputs["userDataReplaceOnChange"] is False


# --- 9: config hygiene -------------------------------------------------------------------------


def test_one_explicit_provider_with_default_tags_and_the_allowed_account(
    run: OfflineRun,
) -> None:
    (provider,) = [r for r in run.resources if r.type == "pulumi:providers:aws"]
    account = cfg_of(run).admin_role_arn.split(":")[4]
    assert provider.inputs["region"] == "eu-west-1"
    assert provider.inputs["allowedAccountIds"] in ([account], f'["{account}"]')
    tags = provider.inputs["defaultTags"]
    tags = tags if isinstance(tags, dict) else __import__("json").loads(tags)
    assert tags["tags"] == {"Project": "tradewarden", "Stack": run.stack, "ManagedBy": "pulumi"}
    urn = provider.urn
    for r in run.resources:
        if r.custom and r.type != "pulumi:providers:aws":
            assert r.options["provider"].startswith(urn + "::"), r.name
    data_sources = {tok for tok, _ in run.calls}
    assert data_sources  # the lookups go through the same provider
    assert "pulumi:disable-default-providers" in read_stack_file(run.stack)


def test_futures_domain_only_where_futures_is_configured(run: OfflineRun) -> None:
    targets = run.one(t.NFW_RULE_GROUP).inputs["ruleGroup"]["rulesSource"]["rulesSourceList"][
        "targets"
    ]
    assert ".binancefuture.com" not in targets
    raw = read_stack_file("dev")
    raw["tradewarden:futures"] = "true"
    futures = run_offline("futures", raw)
    targets = futures.one(t.NFW_RULE_GROUP).inputs["ruleGroup"]["rulesSource"]["rulesSourceList"][
        "targets"
    ]
    assert ".binancefuture.com" in targets


def test_resolver_query_logging_to_an_encrypted_group(run: OfflineRun) -> None:
    group = named(run, "network-dns-query-logs")
    assert group.inputs["kmsKeyId"] == run.outputs["kmsKeyArn"]
    (config,) = run.of_type("aws:route53/resolverQueryLogConfig:ResolverQueryLogConfig")
    assert config.inputs["destinationArn"] == group.outputs["arn"]
    (assoc,) = run.of_type(
        "aws:route53/resolverQueryLogConfigAssociation:ResolverQueryLogConfigAssociation"
    )
    assert assoc.inputs["resourceId"] == run.one(t.VPC).id
    assert assoc.inputs["resolverQueryLogConfigId"] == config.id


def test_alarms_on_firewall_drops_dns_blocks_and_snapshot_failures(run: OfflineRun) -> None:
    alarms = {
        a.inputs["metricName"]: a.inputs
        for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    topic = run.outputs["alertTopicArn"]
    drops = alarms["DroppedPackets"]
    assert drops["namespace"] == "AWS/NetworkFirewall"
    assert drops["dimensions"]["FirewallName"] == run.one(t.NFW_FIREWALL).inputs["name"]
    blocks = alarms["FirewallRuleQueryVolume"]
    assert blocks["namespace"] == "AWS/Route53Resolver"
    assert blocks["dimensions"] == {
        "FirewallRuleGroupId": named(run, "network-dns-rules").id,
        "FirewallDomainListId": named(run, "network-dns-everything").id,
    }
    dlm = alarms["SnapshotsCreateFailed"]
    assert dlm["namespace"] == "AWS/DataLifecycleManager"
    assert dlm["dimensions"] == {
        "DLMPolicyId": run.one("aws:dlm/lifecyclePolicy:LifecyclePolicy").id
    }
    for alarm in (drops, blocks, dlm):
        assert topic in alarm["alarmActions"] and alarm["threshold"] >= 1


@pytest.mark.parametrize("stack", ["dev"])
def test_config_is_read_through_pulumi_config(stack: str) -> None:
    source = (__import__("pathlib").Path(__file__).parents[2] / "infra" / "config.py").read_text()
    assert "pulumi.runtime" not in source and "runtime_config" not in source
    assert "pulumi.Config(" in source


def test_pulumi_packages_have_their_own_group_that_setup_installs() -> None:
    import tomllib
    from importlib.metadata import version
    from pathlib import Path

    root = Path(__file__).parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    groups = project["dependency-groups"]
    assert {"pulumi>=3.120", "pulumi-aws>=7,<8", "pulumi-policy>=1.11"} <= set(groups["infra"])
    assert not [d for d in groups["dev"] if d.startswith("pulumi")]
    assert "infra" in project["tool"]["uv"]["default-groups"]
    assert "--group infra" in (root / "Makefile").read_text().split("setup:", 1)[1].split("\n\n")[0]
    assert int(version("pulumi-aws").split(".")[0]) >= 7
