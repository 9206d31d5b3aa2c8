"""The host egress ruleset, loaded for real in a network namespace: after the allow-list
refresh, HTTPS reaches the resolved Binance address and the VPC range; any other
address or port is dropped and counted."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RULESET = REPO / "ops/nftables/tradewarden.nft"
REFRESH = REPO / "ops/nftables/refresh-allowlist.py"
NFT = shutil.which("nft") or "/usr/sbin/nft"
PREFIX = "tradewarden-egress-drop: "

BINANCE = "10.201.0.2"  # api.binance.com inside the test namespace
OTHER = "10.201.0.3"  # anything else
SLACK = "10.201.0.4"  # hooks.slack.com inside the test namespace
VPC_ADDR = "10.201.5.5"  # an "interface endpoint" in the VPC range (SES email-smtp too)
VPC_CIDR = "10.201.5.0/24"

SERVER = """
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    while True:
        c, _ = s.accept(); c.close()
for p in (25, 80, 443, 465, 587):
    threading.Thread(target=serve, args=(p,), daemon=True).start()
print("listening", flush=True)
sys.stdin.read()
"""

CLIENT = """
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=0.7).close()
        out[target] = "connected"
    except OSError as exc:
        out[target] = type(exc).__name__
print(json.dumps(out))
"""


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {proc.stdout}{proc.stderr}")
    return proc


@dataclass
class Net:
    client: str
    server: str

    def run(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        extra = ["env", *(f"{k}={v}" for k, v in (env or {}).items())] if env else []
        return sh("ip", "netns", "exec", self.client, *extra, *args, check=check)

    def connect(self, *targets: str) -> dict[str, str]:
        out = self.run(sys.executable, "-c", CLIENT, *targets).stdout
        return json.loads(out)

    def counter(self, name: str) -> int:
        out = self.run(NFT, "-j", "list", "counter", "inet", "tradewarden", name)
        for item in json.loads(out.stdout)["nftables"]:
            if "counter" in item:
                return int(item["counter"]["packets"])
        raise AssertionError(out.stdout)

    def dropped(self) -> int:
        return self.counter("egress_dropped")


LOG_ALL_NETNS = Path("/proc/sys/net/netfilter/nf_log_all_netns")


@contextlib.contextmanager
def kernel_log() -> Iterator[list[str] | None]:
    """The kernel log lines written inside the block, or None (with the reason printed)
    where they cannot be read. The kernel drops netfilter log lines from network
    namespaces other than the first unless nf_log_all_netns=1: set for the block only."""
    try:
        old = LOG_ALL_NETNS.read_text().strip()
        LOG_ALL_NETNS.write_text("1")
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        print(f"kernel log not readable here, only the log rule's counter is checked: {exc}")
        yield None
        return
    lines: list[str] = []
    try:
        os.lseek(fd, 0, os.SEEK_END)
        yield lines
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                lines.append(os.read(fd, 8192).decode(errors="replace"))
            except BlockingIOError:
                if any(PREFIX in ln for ln in lines):
                    break
                time.sleep(0.05)
            except BrokenPipeError:  # records overwritten while we read: go on
                continue
    finally:
        os.close(fd)
        LOG_ALL_NETNS.write_text(old)


@pytest.fixture()
def net() -> Iterator[Net]:
    tag = uuid.uuid4().hex[:6]
    n = Net(f"twc-{tag}", f"tws-{tag}")
    probe = subprocess.run(["ip", "netns", "add", n.client], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"network namespaces are not permitted here: {probe.stderr.strip()}")
    hosts_dir = Path("/etc/netns") / n.client
    server = None
    try:
        sh("ip", "netns", "add", n.server)
        va, vb = f"twa{tag}", f"twb{tag}"
        sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        sh("ip", "link", "set", va, "netns", n.client)
        sh("ip", "link", "set", vb, "netns", n.server)
        sh("ip", "-n", n.client, "addr", "add", "10.201.0.1/16", "dev", va)
        for addr in (BINANCE, OTHER, SLACK, VPC_ADDR):
            sh("ip", "-n", n.server, "addr", "add", f"{addr}/16", "dev", vb)
        for ns, dev in ((n.client, va), (n.server, vb)):
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        # `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts: real name lookup
        hosts_dir.mkdir(parents=True)
        (hosts_dir / "hosts").write_text(
            f"127.0.0.1 localhost\n{BINANCE} api.binance.com\n{SLACK} hooks.slack.com\n"
        )
        server = subprocess.Popen(
            ["ip", "netns", "exec", n.server, sys.executable, "-c", SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None and server.stdout.readline().strip() == "listening"
        yield n
    finally:
        if server is not None:
            server.kill()
            server.wait(timeout=10)
        shutil.rmtree(hosts_dir, ignore_errors=True)
        for ns in (n.client, n.server):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_egress_allows_only_binance_and_the_vpc(net: Net, tmp_path: Path) -> None:
    net.run(NFT, "-f", str(RULESET))
    assert net.connect(f"{BINANCE}:443") == {f"{BINANCE}:443": "TimeoutError"}, (
        "the sets start empty: nothing is allowed before the refresh"
    )
    started = time.monotonic()
    refresh = net.run(
        sys.executable,
        str(REFRESH),
        "--no-defaults",
        "--host",
        "api.binance.com",
        "--vpc-cidr",
        VPC_CIDR,
        "--state-file",
        str(tmp_path / "seen.json"),
        "--nft",
        NFT,
    )
    assert "binance_v4=1" in refresh.stdout, refresh.stdout + refresh.stderr
    assert time.monotonic() - started < 20
    listed = net.run(NFT, "list", "set", "inet", "tradewarden", "binance_v4").stdout
    assert BINANCE in listed and OTHER not in listed

    before, logged = net.dropped(), net.counter("egress_logged")
    with kernel_log() as klog:
        got = net.connect(f"{BINANCE}:443", f"{VPC_ADDR}:443", f"{OTHER}:443", f"{BINANCE}:80")
    assert got[f"{BINANCE}:443"] == "connected"
    assert got[f"{VPC_ADDR}:443"] == "connected"
    assert got[f"{OTHER}:443"] != "connected"
    assert got[f"{BINANCE}:80"] != "connected"
    assert net.dropped() > before
    assert net.counter("egress_logged") > logged  # the log statement fired
    if klog is not None:
        drops = [ln for ln in klog if PREFIX in ln]
        assert any(f"DST={OTHER} " in ln and "DPT=443 " in ln for ln in drops), klog[-5:]
        assert any(f"DST={BINANCE} " in ln and "DPT=80 " in ln for ln in drops), drops
        assert not any(f"DST={BINANCE} " in ln and "DPT=443 " in ln for ln in drops), drops

    # Reloading the ruleset is idempotent (the timer and nftables.service both load it).
    net.run(NFT, "-f", str(RULESET))
    net.run(
        sys.executable, str(REFRESH), "--no-defaults", "--vpc-cidr", VPC_CIDR,
        "--state-file", str(tmp_path / "seen.json"), "--nft", NFT,
    )  # fmt: skip
    got = net.connect(f"{BINANCE}:443")
    assert got[f"{BINANCE}:443"] == "connected", "a recently seen address stays allowed"


def test_refresh_fails_when_no_binance_address_resolves(net: Net, tmp_path: Path) -> None:
    net.run(NFT, "-f", str(RULESET))
    proc = net.run(
        sys.executable, str(REFRESH), "--no-defaults", "--host", "nowhere.invalid",
        "--vpc-cidr", VPC_CIDR, "--state-file", str(tmp_path / "s.json"), "--nft", NFT,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 1 and "no Binance address" in proc.stderr


def test_ruleset_parses() -> None:
    proc = subprocess.run([NFT, "-c", "-f", str(RULESET)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert os.access(REFRESH, os.R_OK)


def test_the_release_and_backup_buckets_are_allowed_through_the_gateway_endpoint() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("refresh_allowlist", REFRESH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    names = mod.aws_hosts("eu-west-1", "tw-releases", mod.s3_bucket("s3://tw-backups/prod/a"))
    assert "tw-releases.s3.eu-west-1.amazonaws.com" in names
    assert "tw-backups.s3.eu-west-1.amazonaws.com" in names
    assert mod.s3_bucket("/var/backups/tradewarden") == ""
    assert mod.aws_hosts("", "x") == []  # no region, no AWS names


def refresh(net: Net, state: Path, alert_hosts: str) -> subprocess.CompletedProcess[str]:
    """The refresh as tradewarden-egress.service runs it: the host list from host.env."""
    return net.run(
        sys.executable, str(REFRESH), "--no-defaults", "--host", "api.binance.com",
        "--vpc-cidr", VPC_CIDR, "--state-file", str(state), "--nft", NFT,
        env={"TRADEWARDEN_EGRESS_ALERT_HOSTS": alert_hosts},
    )  # fmt: skip


def test_alert_egress_slack_from_the_host_list_and_smtp_only_to_the_vpc_endpoint(
    net: Net, tmp_path: Path
) -> None:
    net.run(NFT, "-f", str(RULESET))
    done = refresh(net, tmp_path / "seen.json", "hooks.slack.com,slack.com")
    assert "alert_v4=1" in done.stdout, done.stdout + done.stderr  # slack.com: not resolvable
    listed = net.run(NFT, "list", "set", "inet", "tradewarden", "alert_v4").stdout
    assert SLACK in listed and BINANCE not in listed

    smtp_before, dropped_before = net.counter("smtp_refused"), net.dropped()
    targets = [
        f"{SLACK}:443",  # Slack, from the config's host list
        f"{VPC_ADDR}:587",  # SES SMTP through the VPC endpoint
        f"{OTHER}:587",  # submission anywhere else
        f"{OTHER}:25",
        f"{OTHER}:465",
        f"{BINANCE}:587",  # an allowed host, but not for SMTP
        f"{SLACK}:587",
        f"{VPC_ADDR}:25",  # the endpoint, but not on 25
    ]
    got = net.connect(*targets)
    assert got[f"{SLACK}:443"] == "connected"
    assert got[f"{VPC_ADDR}:587"] == "connected"
    refused = [t for t in targets[2:] if got[t] != "connected"]
    assert refused == targets[2:], got
    assert net.counter("smtp_refused") >= smtp_before + len(refused)
    assert net.dropped() > dropped_before

    # Slack off in the stack: the host list is empty, the set empties, Slack is dropped.
    net.run(NFT, "-f", str(RULESET))
    done = refresh(net, tmp_path / "seen.json", "")
    assert "alert_v4=0" in done.stdout, done.stdout
    assert net.connect(f"{SLACK}:443")[f"{SLACK}:443"] != "connected"


def test_refresh_takes_the_alert_hosts_from_host_env() -> None:
    """TRADEWARDEN_EGRESS_ALERT_HOSTS (host.env, from the stack config) fills alert_v4;
    empty, the set is flushed and stays empty (no namespace needed: --dry-run)."""
    import tempfile

    def dry(hosts: str) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, str(REFRESH), "--no-defaults", "--host", "localhost",
                 "--vpc-cidr", VPC_CIDR, "--state-file", f"{tmp}/s.json", "--dry-run"],
                capture_output=True, text=True, timeout=30, check=False,
                env={**os.environ, "TRADEWARDEN_EGRESS_ALERT_HOSTS": hosts},
            )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    filled = dry("localhost, ")
    assert "flush set inet tradewarden alert_v4\n" in filled
    assert "add element inet tradewarden alert_v4 { 127.0.0.1 }" in filled
    assert "alert_v4=1" in filled
    empty = dry("")
    assert "flush set inet tradewarden alert_v4\n" in empty
    assert "add element inet tradewarden alert_v4" not in empty and "alert_v4=0" in empty
