"""The architecture diagram of the compliance packet, drawn from the system itself.

`render_architecture(out_dir, stack)` writes ``architecture.dot``, ``.svg`` and ``.png``.
The picture is made of two readings, neither written by hand:

- the Pulumi program's resources for the stack (``infra.resource_graph``: the program run
  offline under Pulumi's mocks, as the infra tests run it; plus the host's egress filter,
  Prometheus scrapes and Alertmanager receivers from ``ops/``). ``infra`` is a repository
  directory, not part of the installed package: the packet is built from a checkout, and
  without one this module says so (`DiagramError`);
- the daemon's components, named by the classes that implement them (imported here, so a
  renamed or removed class fails the packet rather than leaving a stale box), the breakers
  and thresholds the risk engine builds from the settings, and the secret sources and
  alert channels the code offers.

Every resource the program declares is in the ``.dot`` (in the picture or, for the
plumbing, in the inventory table under it), so a resource added to ``infra/`` shows up
without touching this file. Rendering needs Graphviz's ``dot`` (Debian: ``graphviz``).
"""

from __future__ import annotations

import html
import importlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradewarden.core.config import Settings

DEFAULT_STACK = "prod"  # the live-capable stack: what an exchange reviews
FONT = "DejaVu Sans"
INVENTORY_PER_LINE = 8

# colours: one per concern, used by the clusters and the edges
C_DAEMON = "#e8f1fb"
C_HOST = "#f7f7f7"
C_MON = "#eef8ee"
C_NET = "#fff7e6"
C_AWS = "#f3eefb"
C_NET_EDGE = "#b35900"
C_ALERT_EDGE = "#c0392b"
C_KEY_EDGE = "#6c3483"
C_MON_EDGE = "#1e8449"


class DiagramError(Exception):
    """The diagram cannot be built; the message says what is missing."""


@dataclass(frozen=True)
class Part:
    """A daemon component: a box labelled with what it does and the class that does it."""

    node: str
    title: str
    target: str  # "module:attribute"
    detail: str = ""


# The daemon's wiring (tradewarden/runtime/daemon.py, exchange_wiring.py, alerts/factory.py).
PARTS: tuple[Part, ...] = (
    Part("bots", "strategy bots", "tradewarden.trading.trader:Bot", "TRADEWARDEN_BOTS"),
    Part(
        "trader",
        "trader",
        "tradewarden.trading.trader:Trader",
        "signals -> orders, fills -> ledger",
    ),
    Part(
        "gate", "order gate", "tradewarden.trading.order_gate:OrderGate", "every order passes here"
    ),
    Part(
        "risk",
        "risk engine",
        "tradewarden.risk.engine:RiskEngine",
        "ACTIVE / REDUCING / HALTED; pre-trade checks",
    ),
    Part(
        "live",
        "live gate + guard",
        "tradewarden.runtime.wiring:LiveGuard",
        "re-checked before every live order",
    ),
    Part("paper", "paper broker", "tradewarden.trading.paper_broker:PaperBroker", "paper mode"),
    Part(
        "binance",
        "Binance gateway",
        "tradewarden.exchange.gateway:BinanceBroker",
        "testnet / live; signed REST",
    ),
    Part(
        "ratelimit",
        "rate limiter",
        "tradewarden.exchange.ratelimit:RateLimiter",
        "weight + order budgets, 429/418 back-off",
    ),
    Part(
        "approvals",
        "approval queue",
        "tradewarden.wallet.approvals:ApprovalQueue",
        "human approve (TOTP) for transfers, cold wallet",
    ),
    Part("outbox", "alert outbox", "tradewarden.alerts.outbox:Outbox", "persisted, retried"),
    Part("dispatcher", "dispatcher", "tradewarden.alerts.dispatcher:Dispatcher", "by severity"),
    Part(
        "audit", "audit log", "tradewarden.audit.chain:AuditLog", "hash chain + HMAC, append-only"
    ),
    Part(
        "anchor",
        "audit anchor",
        "tradewarden.audit.anchor:S3Anchor",
        "chain head copied off-host",
    ),
    Part("metrics", "metrics exporter", "tradewarden.runtime.metrics:MetricsServer", ""),
)
BREAKERS = "tradewarden.risk.engine:build_breakers"
SECRET_SOURCES: Mapping[str, str] = {
    "aws": "tradewarden.secrets.aws:AwsSecretsManagerSource",
    "file": "tradewarden.secrets.fernet_file:FernetFileSource",
    "env": "tradewarden.secrets.env:EnvSource",
}
ALERT_CHANNELS: Mapping[str, str] = {
    "slack": "tradewarden.alerts.slack:SlackChannel",
    "slack_webhook": "tradewarden.alerts.slack:SlackWebhookChannel",
    "email": "tradewarden.alerts.email:EmailChannel",
    "sns": "tradewarden.alerts.sns:SnsChannel",
    "console": "tradewarden.alerts.console:ConsoleChannel",
}


# --- reading the system ---------------------------------------------------------------


def _resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise DiagramError(
            f"architecture diagram: daemon component {target} not found: {exc}"
        ) from exc


def _qualname(target: str) -> str:
    obj = _resolve(target)
    return f"{obj.__module__}.{obj.__qualname__}"


def repo_root() -> Path | None:
    """The checkout holding ``infra/`` (and ``ops/``): the working directory or one of its
    parents, else the one this package was installed from (editable install)."""
    here = Path.cwd().resolve()
    candidates = [here, *here.parents, *Path(__file__).resolve().parents]
    for c in candidates:
        if (c / "infra" / "resource_graph.py").is_file() and (c / "Pulumi.yaml").is_file():
            return c
    return None


def infra_graph(stack: str) -> dict[str, Any]:
    """``infra.resource_graph.resource_graph(stack)``, imported only now (it needs the
    repository checkout and the Pulumi SDK, which the host's install does not carry)."""
    root = repo_root()
    if root is None:
        raise DiagramError(
            "architecture diagram: the Pulumi program (infra/) was not found; build the "
            "packet from a repository checkout (its directory or a subdirectory)"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        from infra.resource_graph import resource_graph
    except ImportError as exc:
        raise DiagramError(
            f"architecture diagram: the Pulumi program in {root / 'infra'} cannot be imported "
            f"({exc}); install the infra dependencies (`uv sync --group infra`)"
        ) from exc
    try:
        return resource_graph(stack, root)
    except FileNotFoundError as exc:
        raise DiagramError(f"architecture diagram: stack {stack!r}: {exc}") from exc
    except Exception as exc:  # the program refused the stack's config, or a mock gap
        raise DiagramError(
            f"architecture diagram: the Pulumi program failed offline for stack {stack!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def daemon_parts(settings: Settings | None = None) -> dict[str, Any]:
    """The daemon's components as the code defines them (see `PARTS`)."""
    settings = settings or Settings.model_construct()
    breakers = _resolve(BREAKERS)(settings)
    return {
        "parts": {p.node: _qualname(p.target) for p in PARTS},
        "breakers": [(b.name, float(b.threshold)) for b in breakers],
        "secret_sources": {k: _qualname(v) for k, v in SECRET_SOURCES.items()},
        "alert_channels": {k: _qualname(v) for k, v in ALERT_CHANNELS.items()},
        "metrics_port": int(settings.metrics_port),
        "secret_source": str(settings.secret_source),
    }


# --- DOT --------------------------------------------------------------------------------


# A full AWS account id (12 digits) never goes into the picture: the backup bucket is
# named after it (infra.naming.backup_bucket_name), and the packet must not carry it.
_ACCOUNT_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")


def _e(text: object) -> str:
    return html.escape(_ACCOUNT_ID.sub("<account-id>", str(text)), quote=True)


def _id(text: str) -> str:
    return "n_" + "".join(ch if ch.isalnum() else "_" for ch in text)


def _table(title: str, rows: Iterable[str], *, sub: str = "") -> str:
    """An HTML-like label: a bold title, an optional small line, then one row per item."""
    out = ['<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">']
    out.append(f'<TR><TD ALIGN="LEFT"><B>{_e(title)}</B></TD></TR>')
    if sub:
        out.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="8">{_e(sub)}</FONT></TD></TR>')
    for row in rows:
        out.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">{_e(row)}</FONT></TD></TR>')
    out.append("</TABLE>>")
    return "".join(out)


class _Dot:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1

    def add(self, line: str) -> None:
        self.lines.append("  " * self.depth + line)

    def node(self, nid: str, label: str, **attrs: str) -> None:
        extra = "".join(f' {k}="{_e(v)}"' for k, v in attrs.items())
        self.add(f"{nid} [label={label}{extra}];")

    def edge(self, a: str, b: str, label: str = "", **attrs: str) -> None:
        parts = [f'label="{_e(label)}"'] if label else []
        parts += [f'{k}="{_e(v)}"' for k, v in attrs.items()]
        self.add(f"{a} -> {b} [{', '.join(parts)}];")

    def open(self, name: str, label: str, fill: str, style: str = "rounded,filled") -> None:
        self.add(f"subgraph cluster_{name} {{")
        self.depth += 1
        self.add(
            f'label="{_e(label)}"; labeljust="l"; labelloc="t"; style="{style}"; '
            f'fillcolor="{fill}";'
        )

    def close(self) -> None:
        self.depth -= 1
        self.add("}")


def _component_summary(graph: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in graph["resources"]:
        if not r["custom"]:
            continue
        out.setdefault(r["component"] or "(stack)", []).append(r["name"])
    return out


def _service(endpoint: Mapping[str, Any]) -> str:
    return str(endpoint["service"]).rsplit(".", 1)[-1]


def _port(endpoint: Mapping[str, Any]) -> str:
    return "p_" + "".join(ch if ch.isalnum() else "_" for ch in str(endpoint["name"]))


def _inventory(graph: Mapping[str, Any], title: str) -> str:
    """The graph's label: the title, then every resource the program declares, grouped
    by component (the picture shows the ones that matter; this lists them all)."""
    rows = ['<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">']
    rows.append(f'<TR><TD COLSPAN="2" BORDER="0" ALIGN="LEFT"><B>{_e(title)}</B></TD></TR>')
    rows.append(
        '<TR><TD COLSPAN="2" ALIGN="LEFT"><B>Every resource the Pulumi program declares, '
        "by component</B></TD></TR>"
    )
    for comp, names in sorted(_component_summary(graph).items()):
        chunks = [
            ", ".join(names[i : i + INVENTORY_PER_LINE])
            for i in range(0, len(names), INVENTORY_PER_LINE)
        ]
        cell = '<BR ALIGN="LEFT"/>'.join(_e(c) for c in chunks)
        rows.append(
            f'<TR><TD ALIGN="LEFT" VALIGN="TOP"><B>{_e(comp)}</B> ({len(names)})</TD>'
            f'<TD ALIGN="LEFT"><FONT POINT-SIZE="8">{cell}<BR ALIGN="LEFT"/></FONT></TD></TR>'
        )
    rows.append("</TABLE>>")
    return "".join(rows)


def build_dot(graph: Mapping[str, Any], daemon: Mapping[str, Any]) -> str:
    """The DOT text for one stack's graph (`infra_graph`) and the daemon (`daemon_parts`)."""
    d = _Dot()
    g = graph
    eg, host, hs = g["egress"], g["host"], g["host_services"]
    parts = daemon["parts"]
    title = (
        f"tradewarden architecture: stack {g['stack']} (mode {g['mode']}, {g['region']}), "
        "generated from the Pulumi program and the daemon's code"
    )
    d.lines.append("digraph architecture {")
    d.add(
        f'graph [rankdir=LR, compound=true, newrank=true, fontname="{FONT}", fontsize=11, '
        f"nodesep=0.15, ranksep=0.35, labelloc=b, labeljust=l, label={_inventory(g, title)}];"
    )
    d.add(
        f'node [shape=box, style="rounded,filled", fillcolor=white, fontname="{FONT}", '
        'fontsize=9, margin="0.06,0.03"];'
    )
    d.add(f'edge [fontname="{FONT}", fontsize=8, color="#555555", arrowsize=0.6];')

    d.open("aws", f"AWS account, region {g['region']}", C_AWS)
    d.open("vpc", "VPC: no inbound path to the host", C_NET)

    # --- the host -------------------------------------------------------------------
    d.open("private", "private subnet (no route to the internet but through the firewall)", C_NET)
    d.open(
        "host",
        f"EC2 {host['instance']} ({host['instance_type']}): IMDSv2 {host['imds_tokens']}, "
        f"public IP {'yes' if host['public_ip'] else 'none'}, no key pair (SSM sessions)",
        C_HOST,
    )
    d.open("daemon", "tradewarden daemon (tradewarden.service, one process)", C_DAEMON)

    def part(node: str, title: str, detail: str = "", *rows: str) -> None:
        lines = [parts[node].removeprefix("tradewarden."), *([detail] if detail else []), *rows]
        d.node(_id(node), _table(title, lines[1:], sub=lines[0]))

    for p in PARTS:
        if p.node == "risk":
            rows = [f"breaker {name} >= {thr:g}" for name, thr in daemon["breakers"]]
            part(p.node, p.title, p.detail, *rows, "trips are sticky: human reset only")
        elif p.node == "metrics":
            part(p.node, p.title, f"127.0.0.1:{daemon['metrics_port']} /metrics")
        else:
            part(p.node, p.title, p.detail)
    d.node(
        "n_secret_source",
        _table(
            "secret source",
            [f"{k}: {v}" for k, v in daemon["secret_sources"].items()],
            sub="TRADEWARDEN_SECRET_SOURCE (host: aws); values are Secret, always redacted",
        ),
    )
    d.node(
        "n_channels",
        _table("alert channels", [f"{k}: {v}" for k, v in daemon["alert_channels"].items()]),
    )
    d.close()  # daemon

    d.open("monitor", "monitoring on the host (localhost only)", C_MON)
    scrapes = {s["job"]: s["targets"] for s in hs["prometheus"]["scrapes"]}
    d.node(
        "n_prometheus",
        _table(
            "Prometheus",
            [f"scrape {job}: {', '.join(t)}" for job, t in scrapes.items()],
            sub="rules + remote_write (SigV4) to Amazon Managed Prometheus",
        ),
    )
    d.node(
        "n_alertmanager",
        _table(
            "Alertmanager",
            [
                f"{r}: {', '.join(k) or '(none)'}"
                for r, k in hs["alertmanager"]["receivers"].items()
            ],
            sub="receivers by severity",
        ),
    )
    d.node("n_node_exporter", _table("node_exporter", [", ".join(scrapes.get("node", []))]))
    d.node(
        "n_heartbeat",
        _table("heartbeat timer", ["CloudWatch metric (dead-man's switch)"]),
    )
    d.close()  # monitor

    nft = hs["nftables"]
    d.node(
        "n_nftables",
        _table(
            "nftables (host egress filter)",
            [f"@{r['set']} tcp/{r['port']}: {r['why']}" for r in nft["rules"]]
            + ["everything else: logged, dropped"]
            + [f"Binance names: {len(nft['binance_hosts'])} (refreshed every minute)"],
            sub=f"output policy {nft['policy']}",
        ),
        fillcolor="#ffe9cc",
    )
    d.close()  # host

    sg = host["security_group"]
    d.node(
        _id(sg["name"]),
        _table(
            f"security group {sg['name']}",
            [f"ingress: {len(sg['ingress']) or 'none'}"]
            + [f"egress {e['protocol']}/{e['port']} -> {', '.join(e['to'])}" for e in sg["egress"]],
        ),
        fillcolor="#ffe9cc",
    )
    ep_rows = ['<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">']
    ep_rows.append('<TR><TD ALIGN="LEFT" COLSPAN="2"><B>VPC endpoints</B></TD></TR>')
    ep_rows.append(
        '<TR><TD ALIGN="LEFT" COLSPAN="2"><FONT POINT-SIZE="8">private DNS: AWS traffic '
        "never leaves the VPC</FONT></TD></TR>"
    )
    for ep in g["vpc_endpoints"]:
        ep_rows.append(
            f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">{_e(_service(ep))}</FONT></TD>'
            f'<TD ALIGN="LEFT" PORT="{_port(ep)}"><FONT POINT-SIZE="8">{_e(ep["kind"])}: '
            f"{_e(ep['name'])}</FONT></TD></TR>"
        )
    ep_rows.append("</TABLE>>")
    d.node("n_vpce", "".join(ep_rows), fillcolor="#fffdf5")
    d.close()  # private

    d.node(
        "n_dnsfw",
        _table(
            "Route 53 Resolver DNS Firewall",
            [f"fail open: {eg['dns_firewall_fail_open']}; every name not listed: BLOCK"]
            + [f"{len(eg['dns_firewall'])} names answered:"]
            + [
                ", ".join(eg["dns_firewall"][i : i + 3])
                for i in range(0, len(eg["dns_firewall"]), 3)
            ],
        ),
        fillcolor="#ffe9cc",
    )
    d.open("fwsubnet", "firewall subnet", C_NET)
    d.node(
        "n_nfw",
        _table(
            "AWS Network Firewall",
            [f"allow {t}" for t in eg["network_firewall"]] + ["every other host: dropped"],
            sub=f"stateful domain list on {' + '.join(eg['network_firewall_inspects'])}",
        ),
        fillcolor="#ffe9cc",
    )
    d.close()
    d.open("public", "public subnet", C_NET)
    d.node("n_nat", _table("NAT gateway", [f"egress address {eg['nat_public_ip']}"]))
    d.node("n_igw", _table("internet gateway", []))
    d.close()
    d.close()  # vpc

    # --- AWS services -------------------------------------------------------------------
    d.open("services", "AWS services", "#faf7ff")
    d.node(
        "n_secrets",
        _table(
            "Secrets Manager",
            [s["name"] for s in g["secrets"]]
            + [
                f"KMS key {k['resource']} (rotation {'on' if k['rotation'] else 'off'})"
                for k in g["kms_keys"]
            ],
            sub="resource policy: the host role (+ admin) only",
        ),
    )
    subs = ", ".join(f"{n} {proto}" for proto, n in g["alerting"]["subscriptions"].items())
    d.node(
        "n_sns",
        _table(
            f"SNS topic {g['alerting']['topic']}",
            [
                f"subscriptions: {subs or 'none'}",
                f"encrypted: {'yes' if g['alerting']['topic_encrypted'] else 'NO'}",
            ],
        ),
    )
    d.node(
        "n_cloudwatch",
        _table(
            "CloudWatch",
            [f"alarm {a}" for a in g["alerting"]["alarms"]]
            + [f"logs {lg}" for lg in g["monitoring"]["log_groups"]],
        ),
    )
    d.node("n_amp", _table("Amazon Managed Prometheus", [str(g["monitoring"]["amp_workspace"])]))
    if g["monitoring"]["grafana"]:
        d.node("n_grafana", _table("Amazon Managed Grafana", ["dashboards from ops/grafana"]))
        d.edge("n_amp", "n_grafana", "queries", color=C_MON_EDGE)
    d.node(
        "n_s3", _table("S3 backups bucket", [str(g["backups"]["bucket"]), "backups + audit anchor"])
    )
    d.node("n_ses", _table("Amazon SES (SMTP)", ["alert e-mail"]))
    d.node("n_ssm", _table("Systems Manager", ["operator sessions, deploy document"]))
    d.node("n_aws_other", _table("KMS, STS", ["decrypt, role credentials"]))
    d.close()  # services
    d.close()  # aws

    # --- the internet -------------------------------------------------------------------
    d.open(
        "internet",
        "internet: reached only via NAT, after the Network Firewall",
        "#ffffff",
        "rounded",
    )
    binance = [t for t in eg["network_firewall"] if t not in eg["alert_hosts"]]
    d.node(
        "n_binance_hosts",
        _table(
            "Binance",
            [f"allow-list: {t}" for t in binance]
            + ["nftables resolves:"]
            + [
                ", ".join(nft["binance_hosts"][i : i + 4])
                for i in range(0, len(nft["binance_hosts"]), 4)
            ],
            sub="REST + WebSocket, TLS :443",
        ),
        fillcolor="#fff3b0",
    )
    if eg["alert_hosts"]:
        d.node("n_slack", _table("Slack", list(eg["alert_hosts"]), sub="alerts, TLS :443"))
    d.node("n_oncall", _table("on-call humans", ["Slack, e-mail, SMS"]), shape="ellipse")
    d.close()

    # --- edges: inside the daemon -------------------------------------------------------------
    d.edge("n_bots", "n_trader", "signals")
    d.edge("n_trader", "n_gate", "orders")
    d.edge("n_gate", "n_risk", "check first", color=C_ALERT_EDGE)
    d.edge("n_gate", "n_live", "live only")
    d.edge("n_live", "n_binance")
    d.edge("n_gate", "n_paper", "paper")
    d.edge("n_binance", "n_ratelimit", "every request")
    d.edge("n_gate", "n_audit", "every decision")
    d.edge("n_audit", "n_anchor", "head")
    d.edge("n_risk", "n_outbox", "trips, warnings", color=C_ALERT_EDGE)
    d.edge("n_approvals", "n_audit", "", constraint="false")
    d.edge("n_outbox", "n_dispatcher", "retry, dedup", color=C_ALERT_EDGE)
    d.edge("n_dispatcher", "n_channels", "", color=C_ALERT_EDGE)
    d.edge(
        "n_secret_source",
        "n_binance",
        "API key pair",
        color=C_KEY_EDGE,
        style="dashed",
        constraint="false",
    )
    d.edge(
        "n_secret_source",
        "n_channels",
        "Slack/SMTP credentials",
        color=C_KEY_EDGE,
        style="dashed",
        constraint="false",
    )
    d.edge(
        "n_secret_source",
        "n_audit",
        "audit HMAC key",
        color=C_KEY_EDGE,
        style="dashed",
        constraint="false",
    )

    # --- edges: monitoring -------------------------------------------------------------------
    d.edge("n_prometheus", "n_metrics", "scrape", color=C_MON_EDGE, dir="back")
    d.edge("n_prometheus", "n_node_exporter", "scrape", color=C_MON_EDGE, dir="back")
    d.edge("n_prometheus", "n_alertmanager", "alerts", color=C_MON_EDGE)

    # --- edges: the network path --------------------------------------------------------------
    out_of_host = [
        ("n_ratelimit", "Binance", C_NET_EDGE),
        ("n_channels", "Slack, SES, SNS", C_ALERT_EDGE),
        ("n_alertmanager", "Slack, SES, SNS", C_ALERT_EDGE),
        ("n_secret_source", "Secrets Manager", C_KEY_EDGE),
        ("n_anchor", "S3", C_NET_EDGE),
        ("n_prometheus", "remote_write", C_MON_EDGE),
        ("n_heartbeat", "CloudWatch", C_MON_EDGE),
    ]
    for node, label, colour in out_of_host:
        d.edge(node, "n_nftables", label, color=colour)
    sg_id = _id(sg["name"])
    d.edge("n_nftables", sg_id, "allowed only")
    d.edge("n_nftables", "n_dnsfw", "DNS :53", style="dashed")
    d.edge(sg_id, "n_nfw", "tcp/443 to the internet", color=C_NET_EDGE, penwidth="1.6")
    d.edge("n_nfw", "n_nat", "allowed names", color=C_NET_EDGE, penwidth="1.6")
    d.edge("n_nat", "n_igw", "", color=C_NET_EDGE, penwidth="1.6")
    d.edge("n_igw", "n_binance_hosts", "", color=C_NET_EDGE, penwidth="1.6")
    if eg["alert_hosts"]:
        d.edge("n_igw", "n_slack", "", color=C_ALERT_EDGE, penwidth="1.6")
        d.edge("n_slack", "n_oncall", "", color=C_ALERT_EDGE)
    destination = {
        "secretsmanager": "n_secrets",
        "kms": "n_aws_other",
        "sts": "n_aws_other",
        "sns": "n_sns",
        "monitoring": "n_cloudwatch",
        "logs": "n_cloudwatch",
        "email-smtp": "n_ses",
        "aps-workspaces": "n_amp",
        "s3": "n_s3",
        "ssm": "n_ssm",
        "ssmmessages": "n_ssm",
        "ec2messages": "n_ssm",
    }
    d.edge(sg_id, "n_vpce", "tcp/443; tcp/587 (SES)", color=C_NET_EDGE, penwidth="1.6")
    for ep in g["vpc_endpoints"]:
        target = destination.get(_service(ep), "n_aws_other")
        d.edge(f"n_vpce:{_port(ep)}:e", target, "", color="#888888")
    d.edge("n_cloudwatch", "n_sns", "alarms", color=C_ALERT_EDGE)
    d.edge("n_sns", "n_oncall", "e-mail, SMS", color=C_ALERT_EDGE)
    d.edge("n_ses", "n_oncall", "e-mail", color=C_ALERT_EDGE)

    d.lines.append("}")
    return "\n".join(d.lines) + "\n"


# --- rendering ----------------------------------------------------------------------------


def dot_binary() -> str:
    found = shutil.which("dot")
    if found is None:
        raise DiagramError(
            "architecture diagram: Graphviz's `dot` is not installed "
            "(Debian: apt-get install graphviz)"
        )
    return found


def render_dot(dot_text: str, out_dir: Path, name: str = "architecture") -> list[Path]:
    """Write ``<name>.dot`` and render it to SVG and PNG with ``dot``."""
    binary = dot_binary()
    out_dir.mkdir(parents=True, exist_ok=True)
    dot_path = out_dir / f"{name}.dot"
    dot_path.write_text(dot_text, encoding="utf-8")
    written = [dot_path]
    for fmt, extra in (("svg", ()), ("png", ("-Gdpi=96",))):
        target = out_dir / f"{name}.{fmt}"
        proc = subprocess.run(
            [binary, f"-T{fmt}", *extra, "-o", str(target), str(dot_path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0 or not target.is_file():
            raise DiagramError(
                f"architecture diagram: dot -T{fmt} failed ({proc.returncode}): "
                f"{proc.stderr.strip()[-500:]}"
            )
        written.append(target)
    return written


def render_architecture(
    out_dir: Path,
    stack: str | None,
    *,
    settings: Settings | None = None,
    graph: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write ``architecture.dot``, ``.svg`` and ``.png`` into `out_dir`; return the paths.

    `stack`: the Pulumi stack to draw (None: ``prod``, the live-capable one). `settings`:
    the daemon's settings (breaker thresholds, metrics port; default: the shipped
    defaults). `graph`: an `infra_graph` result to draw instead of running the program.
    Raises `DiagramError` when the program, a daemon component or ``dot`` is missing."""
    data = graph if graph is not None else infra_graph(stack or DEFAULT_STACK)
    return render_dot(build_dot(data, daemon_parts(settings)), Path(out_dir))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tradewarden.compliance.diagram OUT_DIR [STACK]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or len(args) > 2:
        print("usage: python -m tradewarden.compliance.diagram OUT_DIR [STACK]", file=sys.stderr)
        return 2
    try:
        for p in render_architecture(Path(args[0]), args[1] if len(args) > 1 else None):
            print(p)
    except DiagramError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
