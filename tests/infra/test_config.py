"""The stack config module: typed values, defaults, and a clear error per bad key."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, StackConfig, load_stack_config
from infra.domains import BINANCE_LIVE_ALLOWLIST, BINANCE_TESTNET_ALLOWLIST
from infra.offline import read_stack_file

BASE: dict[str, Any] = {
    "aws:region": "eu-west-1",
    "tradewarden:mode": "testnet",
    "tradewarden:availabilityZone": "eu-west-1a",
    "tradewarden:releaseBucket": "tradewarden-releases-111111111111",
    "tradewarden:alertEmails": '["oncall@example.com"]',
    "tradewarden:alertEmailFrom": "tradewarden@alerts.example.com",
    "tradewarden:slack": "false",
    "tradewarden:adminRoleArn": "arn:aws:iam::111111111111:role/tradewarden-admin",
    "tradewarden:wheelVersion": "0.1.0",
}
# What a live-capable stack must write out (no defaults with real money).
PROD_EXPLICIT: dict[str, Any] = {
    "instanceType": "m7i.large",
    "vpcCidr": "10.44.0.0/16",
    "rootVolumeSizeGb": "30",
    "snapshotRetentionDays": "30",
    "backupRetentionDays": "35",
    "backupLockMode": "COMPLIANCE",
    "backupLockDays": "35",
    "logRetentionDays": "365",
    "cpuAlarmThresholdPercent": "80",
    "heartbeatMissingMinutes": "3",
    "protect": "true",
}


def load(stack: str = "dev", **overrides: Any) -> StackConfig:
    raw = dict(BASE)
    for key, value in overrides.items():
        if value is None:
            raw.pop(f"tradewarden:{key}", None)
        else:
            raw[f"tradewarden:{key}"] = value
    return load_stack_config(raw, stack)


def problems(**overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(**overrides)
    return info.value.problems


def test_defaults_are_testnet_small_host_binance_list() -> None:
    cfg = load()
    assert cfg.testnet is True
    assert cfg.instance_type == "t3.small"
    assert cfg.network_firewall_targets == BINANCE_TESTNET_ALLOWLIST
    assert cfg.log_retention_days == 90
    assert cfg.backup_retention_days == 35
    assert cfg.alert_sms_numbers == ()
    assert cfg.protect is False


def test_live_stack_defaults_to_the_live_binance_list() -> None:
    cfg = load(stack="live", mode="live", **PROD_EXPLICIT)
    assert cfg.testnet is False
    assert cfg.network_firewall_targets == BINANCE_LIVE_ALLOWLIST
    assert ".binance.vision" not in cfg.network_firewall_targets


def test_values_arrive_as_engine_strings_and_are_typed() -> None:
    cfg = load(
        protect="true",
        rootVolumeSizeGb="40",
        allowedDomains='["*.binance.com", "API.Binance.com.", "hooks.slack.com"]',
        alertSmsNumbers='["+447700900123"]',
    )
    assert cfg.protect is True
    assert cfg.root_volume_size_gb == 40
    assert cfg.network_firewall_targets == (".binance.com", "api.binance.com", "hooks.slack.com")
    assert cfg.non_binance_domains == ("hooks.slack.com",)
    assert cfg.alert_sms_numbers == ("+447700900123",)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_shipped_stack_file_is_valid(stack: str) -> None:
    cfg = load_stack_config(read_stack_file(stack), stack)
    assert cfg.alert_emails
    assert cfg.testnet is (stack != "prod")
    assert cfg.mode == ("live" if stack == "prod" else "testnet")
    assert cfg.release_bucket and cfg.availability_zone and cfg.alert_email_from


def test_staging_is_sized_like_prod_and_dev_is_small() -> None:
    sizes = {
        s: load_stack_config(read_stack_file(s), s).instance_type
        for s in ("dev", "staging", "prod")
    }
    assert sizes["staging"] == sizes["prod"]
    assert sizes["dev"] == "t3.small"


def test_unknown_key_is_named() -> None:
    found = problems(colour="blue")
    assert len(found) == 1
    assert found[0].startswith("tradewarden:colour: unknown key")


def test_missing_alert_email_is_named() -> None:
    assert problems(alertEmails=None) == ["tradewarden:alertEmails: required but not set"]


def test_empty_alert_email_list_is_refused() -> None:
    found = problems(alertEmails="[]")
    assert found == ["tradewarden:alertEmails: must list at least one entry"]


@pytest.mark.parametrize("entry", ["not a domain", "http://binance.com", "binance", "-x.com", ""])
def test_allowlist_entry_that_is_not_a_domain(entry: str) -> None:
    found = problems(allowedDomains=[".binance.com", entry])
    assert len(found) == 1
    assert found[0].startswith("tradewarden:allowedDomains: entry [1]:")
    assert "is not a domain name" in found[0]


@pytest.mark.parametrize(
    "entry",
    ["*", ".com", "*.com", "*.amazonaws.com", ".vision", "binance.*", "*.binance.com.evil.io"],
)
def test_allowlist_wildcard_broader_than_binance(entry: str) -> None:
    found = problems(allowedDomains=[entry])
    assert len(found) == 1
    assert found[0].startswith("tradewarden:allowedDomains: entry [0]:")
    assert "broader than the Binance list" in found[0]


def test_every_bad_allowlist_entry_is_reported_at_once() -> None:
    (found,) = problems(allowedDomains=["*", ".binance.com", "nope nope"])
    assert "entry [0]" in found and "entry [2]" in found and "entry [1]" not in found


def test_allowlist_duplicates_and_size_limit() -> None:
    assert "same entry twice" in problems(allowedDomains=[".binance.com", "*.binance.com"])[0]
    many = [f"h{i}.binance.com" for i in range(26)]
    assert "at most 25" in problems(allowedDomains=many)[0]


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("testnet", "yes", "must be true or false"),
        ("instanceType", "huge", "instance type"),
        ("vpcCidr", "8.8.0.0/16", "private"),
        ("vpcCidr", "10.0.0.0/8", "/16 to /22"),
        ("alertEmails", '["not-an-email"]', "e-mail"),
        ("alertEmails", '["o\'neil$x@example.com"]', "e-mail"),  # env-file unsafe
        ("alertEmailFrom", "alerts@", "e-mail"),
        ("alertSmsNumbers", '["07700900123"]', "E.164"),
        ("adminRoleArn", "arn:aws:iam::1:user/bob", "IAM role ARN"),
        ("wheelVersion", "latest", "release version"),
        ("amiId", "ami-xyz", "AMI id"),
        ("logRetentionDays", "30", "at least 90"),
        ("logRetentionDays", "100", "one of"),
        ("snapshotRetentionDays", "0", "between 1 and 365"),
        ("backupRetentionDays", "3", "must be between 7 and 3650, got 3"),
        ("backupRetentionDays", "3651", "must be between 7 and 3650, got 3651"),
        ("backupRetentionDays", "a month", "whole number"),
        ("cpuAlarmThresholdPercent", "abc", "whole number"),
        ("allowedDomains", "not-a-list", "YAML list"),
    ],
)
def test_bad_values_name_their_key(key: str, value: str, fragment: str) -> None:
    found = problems(**{key: value})
    assert len(found) == 1
    assert found[0].startswith(f"tradewarden:{key}: ")
    assert fragment in found[0]


def test_all_problems_are_collected_and_the_message_says_nothing_was_created() -> None:
    with pytest.raises(ConfigError) as info:
        load(colour="blue", alertEmails=None, allowedDomains=["*"])
    message = str(info.value)
    assert "nothing was created" in message
    for key in ("tradewarden:colour", "tradewarden:alertEmails", "tradewarden:allowedDomains"):
        assert key in message


def test_bad_stack_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="stack name"):
        load(stack="Prod_EU")


def test_other_namespaces_are_left_to_their_providers() -> None:
    raw = dict(BASE, **{"aws:defaultTags": "{}", "aws:skipMetadataApiCheck": "false"})
    assert load_stack_config(raw, "dev").stack == "dev"


@pytest.mark.parametrize(
    ("instance_type", "arch"),
    [
        ("t3.small", "x86_64"),
        ("m7i.large", "x86_64"),
        ("m7i-flex.large", "x86_64"),
        ("t4g.small", "arm64"),
        ("c7gn.large", "arm64"),
        ("g4dn.xlarge", "x86_64"),
    ],
)
def test_architecture_follows_the_instance_family(instance_type: str, arch: str) -> None:
    assert load(instanceType=instance_type).architecture == arch


# --- a stack that cannot produce a half-host ---------------------------------------------


@pytest.mark.parametrize(
    "key", ["mode", "availabilityZone", "releaseBucket", "alertEmailFrom", "slack"]
)
def test_each_required_key_missing_is_named(key: str) -> None:
    assert problems(**{key: None}) == [f"tradewarden:{key}: required but not set"]


@pytest.mark.parametrize(("mode", "testnet"), [("testnet", "false"), ("live", "true")])
def test_a_mode_that_disagrees_with_testnet_names_both_keys(mode: str, testnet: str) -> None:
    found = problems(stack="live", mode=mode, testnet=testnet, **PROD_EXPLICIT)
    assert len(found) == 1, found
    assert found[0].startswith("tradewarden:mode / tradewarden:testnet: ")


def test_mode_decides_the_network_and_paper_must_say_which() -> None:
    assert load(mode="testnet").testnet is True
    assert load(stack="live", mode="live", **PROD_EXPLICIT).testnet is False
    assert problems(mode="paper")[0].startswith("tradewarden:testnet: required with")
    assert load(mode="paper", testnet="true").mode == "paper"
    assert problems(mode="demo")[0].startswith("tradewarden:mode: must be paper, testnet or live")


def test_live_mode_on_the_dev_stack_is_refused() -> None:
    found = problems(stack="dev", mode="live", **PROD_EXPLICIT)
    assert found == ["tradewarden:mode: live on stack dev (the dev profile refuses live)"]


def test_a_live_capable_stack_defaults_nothing() -> None:
    found = problems(stack="live", mode="live", protect="true")
    missing = {p.split(":")[1] for p in found}
    assert missing == set(PROD_EXPLICIT) - {"protect"}
    assert all("sets it explicitly" in p for p in found)


def test_slack_needs_its_channel_and_a_channel_needs_slack() -> None:
    assert problems(slack="true") == [
        "tradewarden:slackChannel: required with tradewarden:slack true "
        "(the channel the daemon posts to)"
    ]
    assert problems(slackChannel="#ops") == [
        "tradewarden:slackChannel: set but tradewarden:slack is false"
    ]
    assert problems(slack="true", slackChannel="ops")[0].startswith(
        "tradewarden:slackChannel: must be a Slack channel"
    )
    cfg = load(slack="true", slackChannel="#ops")
    assert cfg.slack_channel == "#ops"


def test_slack_hosts_join_every_egress_layer_only_when_slack_is_on() -> None:
    on = load(slack="true", slackChannel="#ops")
    off = load()
    slack = {"hooks.slack.com", "slack.com"}
    assert set(on.host_alert_hosts) == slack
    assert slack <= set(on.network_firewall_targets) and slack <= set(on.dns_firewall_domains)
    assert off.host_alert_hosts == ()
    assert not slack & (set(off.network_firewall_targets) | set(off.dns_firewall_domains))
    # listed in allowedDomains as well: once
    both = load(slack="true", slackChannel="#ops", allowedDomains='[".binance.com", "slack.com"]')
    assert both.network_firewall_targets == (".binance.com", "slack.com", "hooks.slack.com")


def test_infra_readme_documents_every_key_and_the_walkthrough_names_the_required_ones() -> None:
    from pathlib import Path

    from infra.config import KEYS

    text = (Path(__file__).resolve().parents[2] / "infra" / "README.md").read_text()
    table = text.split("## Config keys", 1)[1].split("\n## ", 1)[0]
    walk = text.split("## From an empty account to a trading host", 1)[1].split("\n## ", 1)[0]
    assert [k for k in KEYS if f"| `{k}`" not in table] == []
    required = [k for k, spec in KEYS.items() if spec.required] + ["slackChannel"]
    assert [k for k in required if f"`tradewarden:{k}`" not in walk] == []
    assert "build_release.py" in walk and "tradewarden:grafana" in walk


def test_attack_testnet_mode_on_the_prod_stack_deploys_a_paper_host() -> None:
    """A stack file says ``mode: testnet`` on stack prod: the host gets
    TRADEWARDEN_PROFILE=prod, BINANCE_TESTNET=true, TRADEWARDEN_MODE=testnet, and the
    daemon's gate (prod refuses testnet endpoints and keys) quietly runs paper — the stack
    says one mode, the host trades another. It must stop at preview naming the key."""
    from tradewarden.core.config import Mode, Profile, SecretSource
    from tradewarden.live.gate import GateInputs, decide

    # What the daemon would do with the env this stack renders (a testnet-scoped key, all
    # else holding): paper, because of the profile alone.
    decision = decide(
        GateInputs(
            requested=Mode.TESTNET,
            profile=Profile.PROD,
            binance_testnet=True,
            final_hammer=False,
            terms_accepted=True,
            secret_source=SecretSource.AWS,
            permissions_ok=True,
            promotion_ok=True,
            key_scope="testnet",
        )
    )
    assert decision.mode is Mode.PAPER and "prod refuses testnet" in decision.fallback
    found = problems(stack="prod", mode="testnet", **PROD_EXPLICIT)
    assert found == [
        "tradewarden:mode: testnet on stack prod (the prod profile refuses testnet: "
        "the host would trade paper)"
    ]
