"""Bad stack config stops the program with a message naming the key, before anything is
created (no resource registered, not even an AWS data source queried)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from infra.config import ConfigError
from infra.offline import RecordingMocks, read_stack_file, run_offline

REPO = Path(__file__).resolve().parents[2]


def cloud_resources(mocks: RecordingMocks) -> list:
    """What was registered besides the AWS provider (which creates nothing in AWS)."""
    return [r for r in mocks.resources if not r.type.startswith("pulumi:providers:")]


def broken(**changes: Any) -> dict[str, Any]:
    raw = read_stack_file("dev")
    for key, value in changes.items():
        if value is None:
            raw.pop(f"tradewarden:{key}")
        else:
            raw[f"tradewarden:{key}"] = value
    return raw


@pytest.mark.parametrize(
    ("stack", "raw", "key", "fragment"),
    [
        ("bad-unknown-key", broken(instanceSize="huge"), "tradewarden:instanceSize", "unknown key"),
        (
            "bad-not-a-domain",
            broken(allowedDomains=[".binance.com", "binance com"]),
            "tradewarden:allowedDomains",
            "'binance com' is not a domain name",
        ),
        (
            "bad-broad-wildcard",
            broken(allowedDomains=[".binance.com", "*.com"]),
            "tradewarden:allowedDomains",
            "'*.com' is a wildcard broader than the Binance list",
        ),
        (
            "bad-everything",
            broken(allowedDomains=["*"]),
            "tradewarden:allowedDomains",
            "'*' is a wildcard broader than the Binance list",
        ),
        ("bad-no-email", broken(alertEmails=None), "tradewarden:alertEmails", "required"),
        # A half-host: no release to install, no zone, no mode, no alert destinations.
        *(
            (f"bad-no-{key.lower()}", broken(**{key: None}), f"tradewarden:{key}", "required")
            for key in ("releaseBucket", "availabilityZone", "mode", "slack", "alertEmailFrom")
        ),
        (
            "bad-mode-vs-testnet",
            broken(testnet=False),
            "tradewarden:mode / tradewarden:testnet",
            "mode testnet means testnet true, but testnet is false",
        ),
    ],
)
def test_program_stops_before_creating_anything(
    stack: str, raw: dict[str, Any], key: str, fragment: str
) -> None:
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError) as info:
        run_offline(stack, raw, mocks=mocks)
    message = str(info.value)
    assert f"{key}: " in message and fragment in message
    assert "nothing was created" in message
    assert isinstance(info.value.__cause__, ConfigError)
    assert mocks.resources == []
    assert mocks.calls == []


@pytest.mark.parametrize(
    "key", ["releaseBucket", "availabilityZone", "mode", "slack", "alertEmailFrom"]
)
def test_half_host_stops_pulumi_preview_naming_the_key(key: str) -> None:
    """During `pulumi preview` (unknown ids and outputs), before any resource exists."""
    mocks = RecordingMocks(preview=True)
    with pytest.raises(pulumi.RunError) as info:
        run_offline(f"half-{key.lower()}", broken(**{key: None}), mocks=mocks)
    assert f"tradewarden:{key}: required but not set" in str(info.value)
    assert mocks.resources == [] and mocks.calls == []


def test_deploying_as_someone_other_than_the_admin_role_is_refused() -> None:
    mocks = RecordingMocks(caller_arn="arn:aws:sts::111111111111:assumed-role/intern/laptop")
    with pytest.raises(pulumi.RunError, match="tradewarden:adminRoleArn: run Pulumi as"):
        run_offline("bad-deployer", read_stack_file("dev"), mocks=mocks)
    assert cloud_resources(mocks) == []


def test_admin_role_in_another_account_is_refused() -> None:
    raw = broken(adminRoleArn="arn:aws:iam::999999999999:role/tradewarden-admin")
    mocks = RecordingMocks(caller_arn="arn:aws:sts::111111111111:assumed-role/tradewarden-admin/x")
    with pytest.raises(pulumi.RunError, match="account 999999999999 is not the account"):
        run_offline("bad-account", raw, mocks=mocks)
    assert cloud_resources(mocks) == []


def test_unavailable_zone_is_refused() -> None:
    mocks = RecordingMocks()
    with pytest.raises(pulumi.RunError, match="tradewarden:availabilityZone: 'eu-west-1z'"):
        run_offline("bad-zone", broken(availabilityZone="eu-west-1z"), mocks=mocks)
    assert cloud_resources(mocks) == []


def test_inventory_reports_bad_config_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.broken.yaml").write_text(
        yaml.safe_dump({"config": broken(colour="blue", alertEmails=None)}), encoding="utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "infra.inventory", "broken", "--stack-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "tradewarden:colour: unknown key" in proc.stderr
    assert "tradewarden:alertEmails: required but not set" in proc.stderr
    assert proc.stdout == ""


def test_attack_a_zone_without_the_ses_smtp_endpoint_builds_a_host_that_cannot_mail() -> None:
    """Not every zone offers SES's email-smtp interface endpoint. A stack in such a zone
    passed preview; `pulumi up` then created the host (it does not wait for the endpoint)
    and failed on the endpoint: a trading host whose alert email can never leave. It must
    stop before anything is created, naming the key."""
    mocks = RecordingMocks(ses_smtp_zone_suffixes="bc")
    with pytest.raises(pulumi.RunError, match="tradewarden:availabilityZone: 'eu-west-1a'.*SES"):
        run_offline("no-smtp-zone", read_stack_file("dev"), mocks=mocks)
    assert cloud_resources(mocks) == []


def test_attack_two_stacks_in_one_account_share_one_ses_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SES identity (the sender's domain) exists once per account and region. Two
    stacks sending from one domain there: the second `pulumi up` creates its host, then
    fails on the identity; destroying either stack deletes the identity the other sends
    from, and its alert email stops for good (retried, never delivered). The shipped dev
    and staging stacks did exactly that. Preview must stop, naming the key and the other
    stack."""
    import shutil

    from infra import config as infra_config
    from infra.config import load_stack_config
    from infra.naming import AwsContext
    from infra.program import preflight

    for stack in ("dev", "staging", "prod"):
        shutil.copy(REPO / f"Pulumi.{stack}.yaml", tmp_path)
    monkeypatch.setattr(infra_config, "STACK_FILE_DIR", tmp_path)

    def check(stack: str, raw: dict[str, Any]) -> None:
        cfg = load_stack_config(raw, stack)
        account = cfg.account_id
        ctx = AwsContext(
            "aws",
            raw["aws:region"],
            account,
            f"arn:aws:sts::{account}:assumed-role/tradewarden-admin/pulumi",
            (cfg.availability_zone,),
        )
        preflight(cfg, ctx)

    shipped = {s: read_stack_file(s) for s in ("dev", "staging", "prod")}
    for stack, raw in shipped.items():
        check(stack, raw)  # the shipped stacks each have their own identity
    raw = dict(shipped["dev"])
    raw["tradewarden:alertEmailFrom"] = (
        "other@" + shipped["staging"]["tradewarden:alertEmailFrom"].split("@")[1].upper()
    )
    with pytest.raises(ConfigError) as info:
        check("dev", raw)
    (problem,) = info.value.problems
    assert problem.startswith("tradewarden:alertEmailFrom:") and "stack staging" in problem
    # Another account (prod's) or another region may use the same domain.
    raw = dict(shipped["prod"])
    raw["tradewarden:alertEmailFrom"] = shipped["staging"]["tradewarden:alertEmailFrom"]
    check("prod", raw)
