"""`python -m infra.inventory <stack>`: the reviewable inventory, as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def inventory(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.inventory", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_inventory_prints_the_dev_stack() -> None:
    proc = inventory("dev")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("stack dev: ")
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("aws:")}
    assert "imds=required/hop1" in lines["host-instance"]
    assert "publicIp=False" in lines["host-instance"] and "keyPair=none" in lines["host-instance"]
    assert "ebsEncrypted=True" in lines["host-instance"]
    assert "ingress=none" in lines["host-sg"]
    assert (
        "allow .binance.com .binance.vision hooks.slack.com slack.com on TLS_SNI+HTTP_HOST"
        in lines["network-egress-allowlist"]
    )
    assert "failOpen=DISABLED" in lines["network-dns-fail-closed"]
    assert "tradewarden/dev/binance/trade" in lines["secrets-binance-trade"]
    assert 'ssmSessionCommand: "aws ssm start-session --target i-' in out


def test_inventory_json_lists_every_resource_with_type_and_name() -> None:
    proc = inventory("prod", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["stack"] == "prod"
    types = {r["type"] for r in data["resources"]}
    assert {
        "aws:ec2/instance:Instance",
        "aws:networkfirewall/firewall:Firewall",
        "aws:sns/topic:Topic",
    } <= types
    (rule_group,) = [r for r in data["resources"] if r["name"] == "network-egress-allowlist"]
    assert ".binance.vision" not in rule_group["properties"]
    assert data["outputs"]["testnet"] is False


def test_inventory_unknown_stack_exits_2() -> None:
    proc = inventory("nosuchstack")
    assert proc.returncode == 2
    assert "Pulumi.nosuchstack.yaml" in proc.stderr
