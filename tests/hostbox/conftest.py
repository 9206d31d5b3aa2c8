"""The host in a box (issue 15): one module-scoped fixture builds what `pulumi up` would
put on an EC2 host and boots it in a network namespace.

1. The release bundle (ops/cloud-init/build_release.py, offline from var/wheelhouse: `make
   wheelhouse`) and the cloud-init user data (infra/cloud_init.render_user_data with the
   dev stack's config) — the bundle is uploaded to the release bucket on moto.
2. cloud-init, by hand into a scratch root: write_files, the bootstrap tarball, then
   install-host.sh (TRADEWARDEN_ROOT=<root>, TRADEWARDEN_NO_SYSTEMD=1), which fetches the
   bundle from moto's S3 inside the host's namespace, checks it and installs the venv, the
   units, the monitoring binaries and their inputs.
3. The host's namespace gets the generated nftables ruleset, then the units run from the
   installed unit files (tests/hostbox/units.py): the egress refresh, node_exporter,
   Alertmanager, Prometheus, the daemon.

Around it, in the "world" namespace: moto (Secrets Manager, SNS -> an SQS queue we read,
S3) as the VPC interface endpoints, SES SMTP (aiosmtpd, STARTTLS + AUTH) on the VPC's 587,
the fake Binance behind TLS as testnet.binance.vision / api.binance.com, the fake Slack
behind TLS as hooks.slack.com, a fake IMDS (the VPC CIDR for the refresh), and one address
nothing allows. What the box adds to the host, as a systemd drop-in per unit
(``hostbox.conf``): AWS_ENDPOINT_URL and test credentials (no instance role here) and the
box CA (SSL_CERT_FILE, REQUESTS_CA_BUNDLE); for the daemon also 1 s klines (DAEMON_DROPIN)
— nothing else.

The daemon runs event-driven as deployed (TRADEWARDEN_STREAMS on by default): its stream
hosts (ws-api.testnet.binance.vision, stream.testnet.binance.vision: the refresh's
TESTNET_HOSTS) are in the host's name service and the box certificate like the REST host,
and the TLS forwarder passes the WebSocket upgrade to the fake's /ws-api/v3 and /stream on
its REST port.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import importlib.util
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import naming
from infra.cloud_init import render_user_data
from infra.config import load_stack_config
from infra.offline import read_stack_file
from tests.hostbox import net
from tests.hostbox.net import Listener, Namespace, TlsForwarder, sh
from tests.hostbox.units import Unit, wait_until

REPO = Path(__file__).resolve().parents[2]
WHEELHOUSE = REPO / "var" / "wheelhouse"
TRANSCRIPT = REPO / "var" / "hostbox-transcript.txt"
STACK, REGION, ACCOUNT = "dev", "eu-west-1", "123456789012"
RELEASE_BUCKET = "tradewarden-dev-releases-box"
KEY = "tw-box-key-CANARY-51c0" + "k" * 42
SECRET = "tw-box-secret-CANARY-7e2a" + "s" * 39
SMTP_USER, SMTP_PASSWORD = "AKIABOXSMTPUSER", "box-smtp-CANARY-pw"  # noqa: S105 - fixture
PROMOTION_KEY = "box-promotion-key-CANARY-3a9"
AWS_URL = f"http://{net.AWS_ADDR}:443"
SMTP_HOST = f"email-smtp.{REGION}.amazonaws.com"
UNITS_IN_ORDER = ("node_exporter.service", "alertmanager.service", "prometheus.service")


def _refresh_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "refresh_allowlist_box", REPO / "ops/nftables/refresh-allowlist.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def make_ca(directory: Path, names: list[str], ips: list[str]) -> tuple[Path, Path, Path]:
    """A box CA and one leaf for every name/address the host reaches over TLS."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def build(subject: str, key: Any, issuer: x509.Name, signer: Any, ca: bool) -> Any:
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            sans = [x509.DNSName(n) for n in names]
            sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return b.sign(signer, hashes.SHA256())

    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostbox CA")])
    ca = build("hostbox CA", ca_key, ca_name, ca_key, True)
    leaf = build("hostbox", leaf_key, ca_name, ca_key, False)
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "leaf.pem",
        directory / "key.pem",
    )
    ca_path.write_bytes(ca.public_bytes(pem))
    cert_path.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


class _Imds(BaseHTTPRequestHandler):
    """IMDSv2, only what the egress refresh asks: a token, the MAC, the VPC CIDR."""

    MAC = "0a:1b:2c:3d:4e:5f"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, body: str, status: int = 200) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:  # noqa: N802 - http.server's name
        self._send("box-imds-token" if self.path == "/latest/api/token" else "", 200)

    def do_GET(self) -> None:  # noqa: N802
        if self.headers.get("X-aws-ec2-metadata-token") != "box-imds-token":
            self._send("", 401)
        elif self.path == "/latest/meta-data/mac":
            self._send(self.MAC)
        elif (
            self.path
            == f"/latest/meta-data/network/interfaces/macs/{self.MAC}/vpc-ipv4-cidr-blocks"
        ):
            self._send(net.VPC_CIDR)
        else:
            self._send("", 404)


@dataclasses.dataclass
class Box:
    root: Path
    host: Namespace
    world: Namespace
    units: dict[str, Unit]
    binance: Any
    binance_tls: TlsForwarder
    slack: Any
    smtp: Any
    other: Listener
    queue_url: str
    topic_arn: str
    ca: Path
    transcript: list[str]

    def say(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.transcript.append(f"[{stamp}] {line}")

    def aws(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=AWS_URL,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto
        )

    def local_json(self, url: str) -> Any:
        """GET a URL on the host's localhost (inside its namespace)."""

        def get() -> Any:
            with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - box-local
                return json.loads(r.read())

        return self.host.call(get)

    def local_status(self, url: str) -> tuple[int, str]:
        def get() -> tuple[int, str]:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - box-local
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()
            except OSError as exc:
                return 0, repr(exc)

        return self.host.call(get)

    def sns_messages(self) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            sqs = self.aws("sqs")
            out = []
            while True:
                got = sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not got:
                    return out
                for m in got:
                    out.append(json.loads(m["Body"]))
                    sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])

        return self.world.call(read)

    def write_transcript(self) -> None:
        TRANSCRIPT.parent.mkdir(parents=True, exist_ok=True)
        TRANSCRIPT.write_text("\n".join(self.transcript) + "\n")


def build_bundle(out: Path) -> Path:
    if not any(WHEELHOUSE.glob("*.whl")):
        pytest.fail("var/wheelhouse is empty: run `make wheelhouse` (make pytest does)")
    proc = subprocess.run(
        [sys.executable, str(REPO / "ops/cloud-init/build_release.py"), "--out", str(out)]
        + ["--wheels-from", str(WHEELHOUSE)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1])


def user_data(topic_arn: str) -> str:
    cfg = load_stack_config(read_stack_file(STACK), STACK)
    if not cfg.release_bucket:  # issue 15 item 5 makes it required; the box needs one
        cfg = dataclasses.replace(cfg, release_bucket=RELEASE_BUCKET)
    return render_user_data(
        cfg,
        region=REGION,
        alert_topic_arn=topic_arn,
        backup_to=naming.backup_url(naming.backup_bucket_name(STACK, ACCOUNT), STACK),
    )


def cloud_init(root: Path, doc: dict[str, Any]) -> list[str]:
    """write_files and the runcmd steps that do not need systemd, into `root`."""
    done = []
    for f in doc["write_files"]:
        path = root / f["path"].lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        content = f["content"]
        data = base64.b64decode(content) if f.get("encoding") == "b64" else content.encode()
        path.write_bytes(data)
        path.chmod(int(str(f.get("permissions", "0644")), 8))
        done.append(f"write_files {f['path']} ({len(data)} bytes)")
    for cmd in doc["runcmd"]:
        if cmd[0] == "tar":
            argv = [str(root / a.lstrip("/")) if a.startswith("/opt/") else a for a in cmd]
            argv[argv.index("-C") + 1] = str(root)
            sh(*argv)
            done.append("runcmd " + " ".join(cmd) + f"  (into {root})")
        elif cmd[0] == "systemctl":
            done.append("runcmd " + " ".join(cmd) + "  (skipped: no systemd)")
    return done


DROPIN = """[Service]
Environment=AWS_ENDPOINT_URL={aws} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
Environment=SSL_CERT_FILE={ca} REQUESTS_CA_BUNDLE={ca}
"""
# The box's price path is a 10 s wave (LOSING_WAVE, a step every 500 ms): 1 m klines would
# close at the same phase every minute and the strategy would never trade; on 1 s closes
# every round trip loses and the breaker trips within a minute or so.
DAEMON_DROPIN = "Environment=TRADEWARDEN_KLINE_INTERVAL=1s\n"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    from tests.fakes.binance import FakeBinance
    from tests.fakes.smtp import FakeSmtp
    from tests.integration.e2e_alerting.stack import AlertmanagerSlack, relay_login_prompts
    from tests.integration.testnet.conftest import LOSING_WAVE

    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        pytest.fail("network namespaces are needed (run as root)")
    work = tmp_path_factory.mktemp("hostbox")
    root = work / "root"
    root.mkdir()
    transcript: list[str] = []

    def say(line: str) -> None:
        transcript.append(f"[{time.strftime('%H:%M:%S')}] {line}")

    refresh = _refresh_module()
    binance_names = refresh.LIVE_HOSTS + refresh.TESTNET_HOSTS
    s3_names = refresh.aws_hosts(REGION, RELEASE_BUCKET, naming.backup_bucket_name(STACK, ACCOUNT))
    hosts = {
        net.BINANCE_ADDR: binance_names,
        net.SLACK_ADDR: ["hooks.slack.com", "slack.com"],
        net.SMTP_ADDR: [SMTP_HOST],
        net.AWS_ADDR: s3_names,
        net.OTHER_ADDR: ["pastebin.example.net"],
    }
    ca, leaf, key = make_ca(
        work, [*binance_names, "hooks.slack.com", "slack.com", SMTP_HOST], list(net.WORLD_ADDRS)
    )
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(leaf, key)
    started_units: list[Unit] = []
    units: dict[str, Unit] = {}  # the Box's: tests may put a restarted unit in here
    closers: list[Any] = []
    moto: subprocess.Popen[bytes] | None = None
    with contextlib.ExitStack() as stack:
        host, world = stack.enter_context(net.network(hosts))
        stack.enter_context(relay_login_prompts())
        try:
            say(f"namespaces: host {host.name} ({net.HOST_ADDR}), world {world.name}")
            # --- the world ---------------------------------------------------------------
            moto_exe = shutil.which("moto_server") or str(
                Path(sys.executable).parent / "moto_server"
            )
            moto = subprocess.Popen(
                world.argv(moto_exe, "-H", net.AWS_ADDR, "-p", "443"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

            def start_world() -> tuple[Any, ...]:
                fx = FakeBinance(
                    api_key=KEY,
                    api_secret=SECRET,
                    balances={"USDT": 10_000.0, "BTC": 0.0, "ETH": 0.0},
                )
                fx.start()
                # every ma_cross round trip loses (tests/integration/testnet): a testnet
                # daemon polling each second trips consecutive_losses within a minute or so
                fx.set_price_path("BTCUSDT", LOSING_WAVE, loop=True)
                fx.auto_step(500)
                fx_tls = TlsForwarder((net.BINANCE_ADDR, 443), ("127.0.0.1", fx.port), tls).start()
                slack = AlertmanagerSlack().start()
                slack_tls = TlsForwarder((net.SLACK_ADDR, 443), ("127.0.0.1", slack.port), tls)
                slack_tls.start()
                smtp = FakeSmtp(
                    tls="starttls", auth=(SMTP_USER, SMTP_PASSWORD), host=net.SMTP_ADDR, port=587
                )
                shutil.copyfile(leaf, smtp.cert_path)
                shutil.copyfile(key, smtp.key_path)
                smtp.start()
                imds = ThreadingHTTPServer((net.IMDS_ADDR, 80), _Imds)
                threading.Thread(target=imds.serve_forever, daemon=True).start()
                other = Listener((net.OTHER_ADDR, 443))
                return fx, fx_tls, slack, slack_tls, smtp, imds, other

            fx, fx_tls, slack, slack_tls, smtp, imds, other = world.call(start_world)
            closers += [
                fx.stop,
                fx_tls.close,
                slack.stop,
                slack_tls.close,
                smtp.stop,
                imds.shutdown,
                other.close,
            ]
            say(
                f"world: moto {AWS_URL} (VPC endpoint: Secrets Manager, SNS, SQS, S3); SES SMTP "
                f"{SMTP_HOST} = {net.SMTP_ADDR}:587 (STARTTLS+AUTH); fake Binance "
                f"https://testnet.binance.vision = {net.BINANCE_ADDR}:443; fake Slack "
                f"https://hooks.slack.com = {net.SLACK_ADDR}:443; IMDS {net.IMDS_ADDR}; "
                f"not allowed: {net.OTHER_ADDR}:443"
            )
            b = Box(
                root, host, world, units, fx, fx_tls, slack, smtp, other, "", "", ca, transcript
            )

            def wait_moto() -> None:
                wait_until(lambda: _moto_up(), "moto", 30, 0.2)

            def _moto_up() -> bool:
                try:
                    urllib.request.urlopen(AWS_URL + "/moto-api/", timeout=1).close()  # noqa: S310
                    return True
                except OSError:
                    return False

            world.call(wait_moto)

            # --- what `pulumi up` and the release pipeline make -------------------------
            t0 = time.monotonic()
            bundle = build_bundle(work / "dist")
            say(
                f"built {bundle.name} ({bundle.stat().st_size // 1_000_000} MB) offline from "
                f"var/wheelhouse in {time.monotonic() - t0:.0f} s"
            )
            topic_name = naming.alert_topic_name(STACK)
            text = user_data(f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic_name}")
            doc = yaml.safe_load(text)
            say(f"rendered cloud-init user data for stack {STACK} ({len(text.encode())} bytes)")
            tw_env = next(
                f for f in doc["write_files"] if f["path"] == "/etc/tradewarden/tradewarden.env"
            )
            env_vals = dict(ln.split("=", 1) for ln in tw_env["content"].splitlines() if "=" in ln)
            host_env = next(
                f for f in doc["write_files"] if f["path"] == "/etc/tradewarden/host.env"
            )
            hv = dict(ln.split("=", 1) for ln in host_env["content"].splitlines() if "=" in ln)

            def setup_aws() -> tuple[str, str]:
                s3, sm, sns, sqs = b.aws("s3"), b.aws("secretsmanager"), b.aws("sns"), b.aws("sqs")
                where = {"LocationConstraint": REGION}
                s3.create_bucket(
                    Bucket=hv["TRADEWARDEN_RELEASE_BUCKET"], CreateBucketConfiguration=where
                )
                s3.upload_file(
                    str(bundle), hv["TRADEWARDEN_RELEASE_BUCKET"], hv["TRADEWARDEN_RELEASE_KEY"]
                )
                s3.create_bucket(
                    Bucket=env_vals["TRADEWARDEN_AUDIT_ANCHOR_BUCKET"],
                    CreateBucketConfiguration=where,
                    ObjectLockEnabledForBucket=True,
                )
                # a dev stack trades the testnet: its keys are stored with scope testnet
                binance = json.dumps({"api_key": KEY, "api_secret": SECRET, "scope": "testnet"})
                secrets = {
                    "TRADEWARDEN_SECRET_TRADE_KEY_ID": binance,
                    "TRADEWARDEN_SECRET_READ_KEY_ID": binance,
                    "TRADEWARDEN_SECRET_SLACK_ID": json.dumps(
                        {"webhook_url": "https://hooks.slack.com" + slack.state.webhook_path}
                    ),
                    "TRADEWARDEN_SECRET_SMTP_ID": json.dumps(
                        {"username": SMTP_USER, "password": SMTP_PASSWORD}
                    ),
                    "TRADEWARDEN_SECRET_ADMIN_ID": json.dumps({"promotion_key": PROMOTION_KEY}),
                }
                for setting, value in secrets.items():
                    sm.create_secret(Name=env_vals[setting], SecretString=value)
                arn = sns.create_topic(Name=topic_name)["TopicArn"]
                assert arn == env_vals["TRADEWARDEN_SNS_TOPIC_ARN"], (arn, env_vals)
                q = sqs.create_queue(QueueName="box-sms")["QueueUrl"]
                q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])[
                    "Attributes"
                ]["QueueArn"]
                sns.subscribe(
                    TopicArn=arn,
                    Protocol="sqs",
                    Endpoint=q_arn,
                    Attributes={"RawMessageDelivery": "false"},
                )
                return q, arn

            b.queue_url, b.topic_arn = world.call(setup_aws)
            say(
                f"moto: release s3://{hv['TRADEWARDEN_RELEASE_BUCKET']}/"
                f"{hv['TRADEWARDEN_RELEASE_KEY']}, 5 secrets, topic {b.topic_arn} -> SQS"
            )

            # --- cloud-init ---------------------------------------------------------------
            for line in cloud_init(root, doc):
                say("cloud-init: " + line)
            install_env = {
                "PATH": os.environ["PATH"],
                "HOME": str(work),
                "TRADEWARDEN_ROOT": str(root),
                "TRADEWARDEN_NO_SYSTEMD": "1",
                "AWS_ENDPOINT_URL": AWS_URL,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
            }
            t0 = time.monotonic()
            proc = subprocess.run(
                host.argv("bash", str(root / "usr/local/libexec/tradewarden/install-host.sh")),
                env=install_env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
            for line in proc.stdout.strip().splitlines():
                say("install-host.sh: " + line)
            say(f"install-host.sh done in {time.monotonic() - t0:.0f} s")

            # --- boot -----------------------------------------------------------------------
            unit_dir = root / "etc/systemd/system"
            for name in (*UNITS_IN_ORDER, "tradewarden.service", "tradewarden-egress.service"):
                d = unit_dir / f"{name}.d"
                d.mkdir(exist_ok=True)
                extra = DAEMON_DROPIN if name == "tradewarden.service" else ""
                (d / "hostbox.conf").write_text(DROPIN.format(aws=AWS_URL, ca=ca) + extra)
            ruleset = root / "etc/nftables/tradewarden.nft"
            sh(*host.argv("nft", "-f", str(ruleset)))
            say(f"nftables: loaded {ruleset.relative_to(root)} (nftables.service)")
            egress = Unit("tradewarden-egress.service", root, host).start()
            started_units.append(egress)
            say("tradewarden-egress.service: " + egress.output().strip().splitlines()[-1])
            for name in UNITS_IN_ORDER:
                u = Unit(name, root, host).start()
                started_units.append(u)
                b.units[name] = u
            for name, port in zip(UNITS_IN_ORDER, (9100, 9093, 9090), strict=True):
                unit = b.units[name]

                def up(unit: Unit = unit, port: int = port) -> bool:
                    code = b.local_status(f"http://127.0.0.1:{port}/")[0]
                    return unit.running() and code in (200, 302, 404)

                wait_until(up, f"{name} on 127.0.0.1:{port}", 60)
                say(f"{name}: running (pid {unit.pid}), listening on 127.0.0.1:{port} only")
            daemon = Unit("tradewarden.service", root, host).start()
            started_units.append(daemon)
            b.units["tradewarden.service"] = daemon
            say(f"tradewarden.service: started (pid {daemon.pid})")
            yield b
        finally:
            # the units the fixture started and any a test started in their place (the
            # outage check restarts the daemon): none may outlive the box
            for u in {id(u): u for u in [*reversed(started_units), *units.values()]}.values():
                u.stop()
            logs = root / "var/log/hostbox"
            if logs.is_dir():  # the units' output, kept for a failed run's reader
                shutil.rmtree(REPO / "var/hostbox-logs", ignore_errors=True)
                shutil.copytree(logs, REPO / "var/hostbox-logs")
                daemon_logs = root / "var/log/tradewarden"
                if daemon_logs.is_dir():
                    shutil.copytree(daemon_logs, REPO / "var/hostbox-logs/tradewarden")
            for close in reversed(closers):
                with contextlib.suppress(Exception):
                    world.call(close)
            if moto is not None:
                moto.terminate()
                moto.wait(timeout=15)
            if transcript:
                TRANSCRIPT.parent.mkdir(parents=True, exist_ok=True)
                TRANSCRIPT.write_text("\n".join(transcript) + "\n")
                # shown with -s; the lead copies it into the issue note
                print(f"\n--- host-in-a-box transcript ({TRANSCRIPT.relative_to(REPO)}) ---")
                print("\n".join(transcript))
