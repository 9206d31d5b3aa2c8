#!/usr/bin/python3
"""Fill the nftables sets of tradewarden.nft (tradewarden-egress.timer, every minute).

binance_v4: Binance API hosts (+ testnet hosts if BINANCE_TESTNET=true, + --host and
--hosts-file); alert_v4: the alert hosts of the stack's config, TRADEWARDEN_EGRESS_ALERT_HOSTS
(host.env, rendered by infra/cloud_init.py from infra.domains.alert_egress_hosts: the same
list the Network Firewall and the DNS Firewall get) + --alert-host; aws_v4: S3 names of the
gateway endpoint for AWS_REGION (the release and backup buckets included); vpc_v4 and
resolver_v4: the VPC CIDRs (IMDSv2 or --vpc-cidr) and base+2. DNS answers rotate: an
address stays --grace seconds after last seen (--state-file). One atomic nft transaction.
Python 3.9 stdlib (system python). Exit 1 if no Binance address is known.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

LIVE = "api api1 api2 api3 api4 stream ws-api fapi fstream"
LIVE_HOSTS = [h + ".binance.com" for h in LIVE.split()]
# Spot's: the stack's DNS Firewall answers for binancefuture.com only with
# tradewarden:futures, and each blocked lookup would raise its DNS-blocks alarm.
TESTNET_HOSTS = [
    "testnet.binance.vision",
    "stream.testnet.binance.vision",
    "ws-api.testnet.binance.vision",
]
# The futures testnet (issue 20): resolved only when TRADEWARDEN_FUTURES_ENABLED=true (a
# futures stack, whose DNS Firewall answers for binancefuture.com), REST and user stream.
FUTURES_TESTNET_HOSTS = ["testnet.binancefuture.com", "fstream.binancefuture.com"]
IMDS = "http://169.254.169.254/latest/"
TABLE = "inet tradewarden"


def aws_hosts(region: str, *buckets: str) -> list[str]:
    """S3 names reached through the gateway endpoint: the regional endpoint, the AL2023
    package repositories, and the release and backup buckets (virtual-hosted names)."""
    if not region:
        return []
    s3 = ".s3." + region + ".amazonaws.com"
    names = ["s3." + region + ".amazonaws.com", "s3.dualstack." + region + ".amazonaws.com"]
    names.append("al2023-repos-" + region + "-de612dc2.s3.dualstack." + region + ".amazonaws.com")
    return names + [b + s3 for b in buckets if b]


def s3_bucket(location: str) -> str:
    """The bucket of an s3://bucket/prefix location (TRADEWARDEN_BACKUP_TO), else ""."""
    return location[len("s3://") :].split("/", 1)[0] if location.startswith("s3://") else ""


def resolve(hosts: list[str]) -> set[str]:
    found: set[str] = set()
    for host in hosts:
        try:
            infos = socket.getaddrinfo(host, 443, socket.AF_INET, socket.SOCK_STREAM)
            found.update(str(i[4][0]) for i in infos)
        except OSError as exc:
            print("warning: cannot resolve " + host + ": " + str(exc), file=sys.stderr)
    return found


def imds_vpc_cidrs() -> list[str]:
    def call(path: str, headers: dict[str, str], method: str = "GET") -> str:
        req = urllib.request.Request(IMDS + path, headers=headers, method=method)  # noqa: S310
        with urllib.request.urlopen(req, timeout=2) as resp:  # noqa: S310 - link-local IMDS
            return resp.read().decode().strip()

    tok = {
        "X-aws-ec2-metadata-token": call(
            "api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, "PUT"
        )
    }
    mac = call("meta-data/mac", tok)
    return call("meta-data/network/interfaces/macs/" + mac + "/vpc-ipv4-cidr-blocks", tok).split()


def merge(old: dict[str, float], fresh: set[str], now: float, grace: float) -> dict[str, float]:
    out = {ip: t for ip, t in old.items() if now - t <= grace}
    out.update({ip: now for ip in fresh})
    return out


def nft_script(sets: dict[str, list[str]]) -> str:
    """Each given set flushed and refilled, in one transaction."""
    lines = []
    for name, items in sets.items():
        lines.append("flush set " + TABLE + " " + name)
        if items:
            lines.append("add element " + TABLE + " " + name + " { " + ", ".join(items) + " }")
    return "\n".join(lines) + "\n"


def alert_hosts(value: str) -> list[str]:
    """TRADEWARDEN_EGRESS_ALERT_HOSTS: host names separated by commas or spaces."""
    return [h for h in value.replace(",", " ").split() if h]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="refresh the tradewarden egress allow-list")
    p.add_argument("--host", action="append", default=[], help="extra Binance host name")
    p.add_argument("--hosts-file", type=Path, help="extra host names, one per line")
    p.add_argument("--no-defaults", action="store_true", help="only --host/--hosts-file")
    p.add_argument("--alert-host", action="append", default=[], help="extra alert host name")
    p.add_argument("--vpc-cidr", action="append", default=[], help="instead of IMDS")
    # the unit's StateDirectory= (systemd sets STATE_DIRECTORY)
    state_dir = os.environ.get("STATE_DIRECTORY", "/var/lib/tradewarden-egress")
    p.add_argument("--state-file", type=Path, default=Path(state_dir) / "seen.json")
    p.add_argument("--grace", type=float, default=1800.0)
    p.add_argument("--nft", default="/usr/sbin/nft")
    p.add_argument("--dry-run", action="store_true", help="print the nft script only")
    a = p.parse_args(argv)
    env = os.environ
    testnet = env.get("BINANCE_TESTNET", "true").lower() in ("1", "true", "yes")
    futures = env.get("TRADEWARDEN_FUTURES_ENABLED", "false").lower() in ("1", "true", "yes")
    hosts = [] if a.no_defaults else LIVE_HOSTS + (TESTNET_HOSTS if testnet else [])
    if testnet and futures and not a.no_defaults:
        hosts += FUTURES_TESTNET_HOSTS
    hosts += a.host
    if a.hosts_file and a.hosts_file.is_file():
        hosts += [ln.split("#")[0].strip() for ln in a.hosts_file.read_text().splitlines()]
    hosts = [h for h in hosts if h]
    aws = (
        []
        if a.no_defaults
        else aws_hosts(
            env.get("AWS_REGION", ""),
            env.get("TRADEWARDEN_RELEASE_BUCKET", ""),
            s3_bucket(env.get("TRADEWARDEN_BACKUP_TO", "")),
        )
    )
    try:
        seen = json.loads(a.state_file.read_text())
    except (OSError, ValueError):
        seen = {}
    now = time.time()
    seen["binance_v4"] = merge(seen.get("binance_v4", {}), resolve(hosts), now, a.grace)
    seen["aws_v4"] = merge(seen.get("aws_v4", {}), resolve(aws), now, a.grace)
    alerts = alert_hosts(env.get("TRADEWARDEN_EGRESS_ALERT_HOSTS", "")) + a.alert_host
    # No alert host configured (Slack off): the set is emptied at once, no grace.
    seen["alert_v4"] = merge(
        seen.get("alert_v4", {}) if alerts else {}, resolve(alerts), now, a.grace
    )
    sets = {name: sorted(seen[name]) for name in ("binance_v4", "alert_v4", "aws_v4")}
    cidrs = a.vpc_cidr
    if not cidrs:
        try:
            cidrs = imds_vpc_cidrs()
        except OSError as exc:
            print("warning: no VPC CIDR from IMDS (" + str(exc) + "); vpc_v4 kept", file=sys.stderr)
    if cidrs:
        nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        sets["vpc_v4"] = [str(n) for n in nets]
        sets["resolver_v4"] = sorted(
            {"169.254.169.253"} | {str(n.network_address + 2) for n in nets}
        )
    script = nft_script(sets)
    if a.dry_run:
        sys.stdout.write(script)
    else:
        proc = subprocess.run([a.nft, "-f", "-"], input=script, text=True, capture_output=True)  # noqa: S603
        if proc.returncode != 0:
            print("error: nft refused the update: " + proc.stderr.strip(), file=sys.stderr)
            return 2
        a.state_file.parent.mkdir(parents=True, exist_ok=True)
        a.state_file.write_text(json.dumps(seen))
    print("egress allow-list: " + ", ".join(k + "=" + str(len(v)) for k, v in sets.items()))
    if alerts and not sets["alert_v4"]:
        # Not fatal: alerts wait in the daemon's outbox (SNS still reaches people).
        print("warning: no alert host resolved: Slack deliveries will be retried", file=sys.stderr)
    if not sets["binance_v4"]:
        print("error: no Binance address resolved: the daemon cannot trade", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
