"""The compliance packet's architecture diagram is drawn from what the Pulumi program
declares and what the daemon's code wires: every declared resource, egress name, secret,
endpoint and alarm is in it, and a resource added to the program appears without an edit
to the diagram code."""

from __future__ import annotations

import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from infra.offline import OfflineRun, run_offline
from infra.resource_graph import graph_of, host_side
from tests.infra.test_monitoring import with_grafana
from tradewarden.compliance import diagram
from tradewarden.compliance.diagram import DiagramError, build_dot, daemon_parts
from tradewarden.core.config import Settings
from tradewarden.risk.engine import build_breakers

NO_DOT = "Graphviz's `dot` is missing: apt-get install graphviz (.ci/run installs it)"


def full_graph(run: OfflineRun) -> dict[str, Any]:
    g = graph_of(run)
    g["host_services"] = host_side(bool(g["testnet"]))
    return g


def declared(run: OfflineRun) -> dict[str, list[str]]:
    """What the program declares, read straight from the recorded resources."""
    rule_group = run.one("aws:networkfirewall/ruleGroup:RuleGroup")
    dns = run.one(
        "aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList", "network-dns-allowed"
    )
    return {
        "egress domains": rule_group.inputs["ruleGroup"]["rulesSource"]["rulesSourceList"][
            "targets"
        ],
        "dns names": dns.inputs["domains"],
        "secrets": [r.inputs["name"] for r in run.of_type("aws:secretsmanager/secret:Secret")],
        "topic": [run.one("aws:sns/topic:Topic").inputs["name"]],
        "endpoints": [
            r.inputs["serviceName"].rsplit(".", 1)[-1]
            for r in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        ],
        "alarms": [r.inputs["name"] for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")],
        "resources": [r.name for r in run.resources if r.custom],  # providers too
    }


def missing_from(dot: str, run: OfflineRun) -> dict[str, list[str]]:
    return {
        what: [n for n in names if n not in dot]
        for what, names in declared(run).items()
        if any(n not in dot for n in names)
    }


def test_the_dot_holds_what_every_stack_declares(stack_runs: dict[str, OfflineRun]) -> None:
    parts = daemon_parts()
    for stack, run in stack_runs.items():
        dot = build_dot(full_graph(run), parts)
        assert missing_from(dot, run) == {}, stack
        assert f"stack {stack}" in dot
        # the alert subscribers' addresses and numbers stay out of the packet
        for sub in run.of_type("aws:sns/topicSubscription:TopicSubscription"):
            assert sub.inputs["endpoint"] not in dot, stack
        # the host side: nftables rules, Prometheus scrapes, Alertmanager receivers
        for rule in ("@binance_v4 tcp/443", "@alert_v4 tcp/443", "@vpc_v4 tcp/587"):
            assert rule in dot, (stack, rule)
        assert "scrape node: 127.0.0.1:9100" in dot
        assert "critical: email, slack, sns" in dot
        # the daemon: the classes that implement each part, the breakers it builds
        for qualname in parts["parts"].values():
            assert qualname.removeprefix("tradewarden.") in dot
        for b in build_breakers(Settings.model_construct()):
            assert f"breaker {b.name} &gt;= {b.threshold:g}" in dot
        assert "secrets.aws.AwsSecretsManagerSource" in dot


def test_a_resource_added_to_the_program_appears(stack_runs: dict[str, OfflineRun]) -> None:
    # Managed Grafana is in no stack file: switching it on adds its resources to the
    # program, and the diagram shows every one of them.
    run = run_offline("staging", with_grafana())
    before = {r.name for r in stack_runs["staging"].resources}
    added = [r for r in run.resources if r.name not in before and r.custom]
    assert any(r.type == "aws:grafana/workspace:Workspace" for r in added)
    dot = build_dot(full_graph(run), daemon_parts())
    assert missing_from(dot, run) == {}
    assert [r.name for r in added if r.name not in dot] == []
    assert "Amazon Managed Grafana" in dot
    assert "Amazon Managed Grafana" not in build_dot(
        full_graph(stack_runs["staging"]), daemon_parts()
    )


def test_render_architecture_writes_dot_svg_png(tmp_path: Path) -> None:
    assert shutil.which("dot"), NO_DOT
    paths = diagram.render_architecture(tmp_path, "dev")
    assert [p.name for p in paths] == ["architecture.dot", "architecture.svg", "architecture.png"]
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = ET.parse(paths[1]).getroot()
    text = " ".join(t for t in svg.itertext())
    assert "tradewarden/dev/binance/trade" in text and ".binance.vision" in text
    assert "stack dev (mode testnet" in text


def test_a_missing_dot_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DiagramError, match=r"apt-get install graphviz"):
        diagram.render_dot("digraph x {}", tmp_path / "out")


def test_without_the_infra_checkout_the_error_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diagram, "repo_root", lambda: None)
    with pytest.raises(DiagramError, match=r"infra/\) was not found.*repository checkout"):
        diagram.render_architecture(Path("unused"), None)
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "infra.resource_graph", None)  # import fails
    with pytest.raises(DiagramError, match=r"cannot be imported.*uv sync --group infra"):
        diagram.infra_graph("dev")


def test_an_unknown_stack_is_named() -> None:
    with pytest.raises(DiagramError, match=r"stack 'nosuchstack': no stack file"):
        diagram.infra_graph("nosuchstack")


def test_a_renamed_daemon_class_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    gone = diagram.Part("gate", "order gate", "tradewarden.trading.order_gate:NoSuchGate")
    monkeypatch.setattr(diagram, "PARTS", (*diagram.PARTS[:2], gone, *diagram.PARTS[3:]))
    with pytest.raises(DiagramError, match=r"tradewarden.trading.order_gate:NoSuchGate not found"):
        daemon_parts()
