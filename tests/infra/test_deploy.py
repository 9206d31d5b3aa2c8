"""Releases through SSM: the stack's `tradewarden-<stack>-deploy` document, and its script run
with bash in a sandbox (install-host.sh, /readyz and host.env replaced by local stand-ins,
as SSM Run Command runs it after substituting the parameters)."""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.offline import OfflineRun
from tests.conftest import free_port

SHA = "ab" * 32


def document(run: OfflineRun) -> dict:
    (doc,) = [r for r in run.resources if r.type == "aws:ssm/document:Document"]
    assert doc.inputs["name"] == f"tradewarden-{run.stack}-deploy"
    assert doc.inputs["documentType"] == "Command"
    assert doc.inputs["documentFormat"] == "JSON"
    assert run.outputs["deployDocument"] == doc.inputs["name"]
    return json.loads(doc.inputs["content"])


def test_document_defaults_come_from_the_stack(run: OfflineRun) -> None:
    content = document(run)
    assert content["schemaVersion"] == "2.2"
    params = content["parameters"]
    assert params["version"]["default"] == "0.1.0"  # tradewarden:wheelVersion
    assert params["egressIp"]["default"] == run.outputs["natPublicIp"]
    assert "default" not in params["sha256"]  # the operator must give the release's hash
    assert params["sha256"]["allowedPattern"] == "^[0-9a-f]{64}$"
    for name, spec in params.items():
        default = spec.get("default")
        if default is not None:
            assert re.match(spec["allowedPattern"], default), name
    (step,) = content["mainSteps"]
    assert step["action"] == "aws:runShellScript"


def script(run: OfflineRun, **params: str) -> str:
    """The step's script with the parameters substituted, as SSM does."""
    content = document(run)
    values = {k: v.get("default") for k, v in content["parameters"].items()}
    values.update(params)
    for name, spec in content["parameters"].items():
        assert re.match(spec["allowedPattern"], values[name]), name
    (text,) = content["mainSteps"][0]["inputs"]["runCommand"]
    return re.sub(r"\{\{ (\w+) \}\}", lambda m: values[m.group(1)], text)


class Readyz:
    def __init__(self) -> None:
        self.status = 503
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = json.dumps({"ready": owner.status == 200, "reasons": []}).encode()
                self.send_response(owner.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/readyz"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def readyz() -> Iterator[Readyz]:
    server = Readyz()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture()
def host(tmp_path: Path) -> Path:
    """/etc/tradewarden/host.env, the install script (records its calls), release 0.0.9
    active."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "host.env").write_text(
        "TRADEWARDEN_STACK=dev\nTRADEWARDEN_WHEEL_VERSION=0.0.9\nTRADEWARDEN_BACKUP_TO=/x\n"
    )
    (tmp_path / "venvs" / "0.0.9").mkdir(parents=True)
    (tmp_path / "venv").symlink_to(tmp_path / "venvs" / "0.0.9")
    install = tmp_path / "install-host.sh"
    install.write_text(
        f'#!/bin/bash\necho "$* sha=${{TRADEWARDEN_RELEASE_SHA256:-}}" >> {tmp_path}/calls\n'
    )
    install.chmod(0o755)
    return tmp_path


def deploy(
    run: OfflineRun, host: Path, readyz: Readyz, alertmanager: str | None = None, **params: str
) -> subprocess.CompletedProcess:
    """The document's script; Alertmanager at `alertmanager` (default: a closed port)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "TRADEWARDEN_ETC": str(host / "etc"),
        "TRADEWARDEN_INSTALL_HOST": str(host / "install-host.sh"),
        "TRADEWARDEN_VENV_LINK": str(host / "venv"),
        "TRADEWARDEN_READYZ_URL": readyz.url,
        "TRADEWARDEN_ALERTMANAGER_URL": alertmanager or f"http://127.0.0.1:{free_port()}",
    }
    return subprocess.run(
        ["bash", "-c", script(run, **params)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def host_env(host: Path) -> dict[str, str]:
    lines = (host / "etc" / "host.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_deploy_installs_verifies_and_waits_for_readyz(
    stack_runs: dict[str, OfflineRun], host: Path, readyz: Readyz
) -> None:
    readyz.status = 200
    run = stack_runs["dev"]
    proc = deploy(run, host, readyz, version="0.2.0", sha256=SHA)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (host / "calls").read_text() == f"0.2.0 sha={SHA}\n"
    env = host_env(host)
    assert env["TRADEWARDEN_EGRESS_IP"] == run.outputs["natPublicIp"]
    assert env["TRADEWARDEN_WHEEL_VERSION"] == "0.2.0"
    assert env["TRADEWARDEN_STACK"] == "dev" and env["TRADEWARDEN_BACKUP_TO"] == "/x"
    assert "release 0.2.0 installed and ready" in proc.stdout


def test_a_release_that_never_gets_ready_is_rolled_back(
    stack_runs: dict[str, OfflineRun], host: Path, readyz: Readyz
) -> None:
    readyz.status = 503
    proc = deploy(
        stack_runs["dev"], host, readyz, version="0.2.0", sha256=SHA, readyTimeoutSeconds="0"
    )
    assert proc.returncode == 1
    assert (host / "calls").read_text() == f"0.2.0 sha={SHA}\n--switch 0.0.9 sha=\n"
    assert host_env(host)["TRADEWARDEN_WHEEL_VERSION"] == "0.0.9"
    assert "rolled back to 0.0.9" in proc.stdout


def hash_check(tmp_path: Path, expected: str | None) -> subprocess.CompletedProcess:
    """install-host.sh's tarball check, run as it is in the script, on a local tarball."""
    text = (Path(__file__).parents[2] / "ops" / "cloud-init" / "install-host.sh").read_text()
    fetch = text.index('aws s3 cp --only-show-errors "s3://')
    start = text.index('if [ -n "${TRADEWARDEN_RELEASE_SHA256:-}" ]', fetch)
    unpack = text.index('tar -xzf "$house.tar.gz"', start)
    snippet = text[start:unpack]
    (tmp_path / "house.tar.gz").write_bytes(b"the release")
    prelude = (
        'log() { echo "tradewarden-install: $*"; }\n'
        'die() { log "$*" >&2; exit 1; }\n'
        f"house={tmp_path}/house\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    if expected is not None:
        env["TRADEWARDEN_RELEASE_SHA256"] = expected
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", prelude + snippet + "echo unpacking\n"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_install_host_refuses_a_tarball_with_another_hash(tmp_path: Path) -> None:
    """Right after the fetch, before anything from the tarball is unpacked or trusted."""
    import hashlib

    good = hashlib.sha256(b"the release").hexdigest()
    assert hash_check(tmp_path, good).stdout == "unpacking\n"
    refused = hash_check(tmp_path, SHA)
    assert refused.returncode == 1 and "unpacking" not in refused.stdout
    assert f"the release tarball's SHA-256 is not {SHA}: refusing" in refused.stderr
    # cloud-init's first install (no expected hash) goes on to SHA256SUMS and the lock
    assert hash_check(tmp_path, None).stdout == "unpacking\n"


def test_attack_a_refused_release_is_not_recorded_as_the_stack_version(
    stack_runs: dict[str, OfflineRun], host: Path, readyz: Readyz
) -> None:
    """install-host.sh refuses the tarball (its hash differs): host.env must still name the
    release that runs, or `install-host.sh` without arguments (the runbook's repair, and what
    `tradewarden diagnose` reports) would fetch the refused one, with no hash to check."""
    (host / "install-host.sh").write_text(
        f'#!/bin/bash\necho "$* sha=${{TRADEWARDEN_RELEASE_SHA256:-}}" >> {host}/calls\nexit 1\n'
    )
    readyz.status = 200
    proc = deploy(stack_runs["dev"], host, readyz, version="0.2.0", sha256=SHA)
    assert proc.returncode != 0
    assert host_env(host)["TRADEWARDEN_WHEEL_VERSION"] == "0.0.9"


def test_the_deploy_window_is_silenced_in_alertmanager_and_unmuted_after(
    stack_runs: dict[str, OfflineRun], host: Path, readyz: Readyz, tmp_path: Path
) -> None:
    """A real Alertmanager (Debian's) and amtool: during the install the restart's alerts are
    silenced (never the Watchdog); after a good deploy and after a rolled-back one the
    silence is expired; with Alertmanager down the deploy still goes on."""
    from tests.integration.e2e_alerting.stack import get_json, start_alertmanager

    config = tmp_path / "am.yml"
    config.write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    am = start_alertmanager(tmp_path / "am", config)
    try:
        # the install stand-in records the silences active while it runs
        (host / "install-host.sh").write_text(
            "#!/bin/bash\n"
            f'echo "$* sha=${{TRADEWARDEN_RELEASE_SHA256:-}}" >> {host}/calls\n'
            f"curl -fsS {am.url}/api/v2/silences >> {host}/silences-during\n"
        )

        def silences() -> list[dict]:
            return get_json(am.url + "/api/v2/silences")

        readyz.status = 200
        ok = deploy(stack_runs["dev"], host, readyz, am.url, version="0.2.0", sha256=SHA)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        (during,) = json.loads((host / "silences-during").read_text())
        assert during["status"]["state"] == "active"
        assert during["createdBy"] == "tradewarden-deploy" and "deploy 0.2.0" in during["comment"]
        matcher = {m["name"]: m for m in during["matchers"]}["alertname"]
        assert matcher["isRegex"] is True
        assert set(matcher["value"].split("|")) == {
            "DaemonDown",
            "DaemonNotReady",
            "HeartbeatStale",
            "ReconciliationStale",
        }
        assert [s["status"]["state"] for s in silences()] == ["expired"]
        assert f"silence {during['id']} expired" in ok.stdout

        readyz.status = 503  # never ready: rolled back, the command fails, unmuted anyway
        (host / "silences-during").unlink()
        bad = deploy(
            stack_runs["dev"],
            host,
            readyz,
            am.url,
            version="0.3.0",
            sha256=SHA,
            readyTimeoutSeconds="0",
        )
        assert bad.returncode == 1 and "rolled back" in bad.stdout
        assert {s["status"]["state"] for s in silences()} == {"expired"}
        assert len(silences()) == 2
    finally:
        am.stop()

    (host / "install-host.sh").write_text(
        f'#!/bin/bash\necho "$* sha=${{TRADEWARDEN_RELEASE_SHA256:-}}" >> {host}/calls\n'
    )
    readyz.status = 200
    down = deploy(stack_runs["dev"], host, readyz, version="0.4.0", sha256=SHA)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "no Alertmanager silence" in down.stdout


def test_attack_a_mode_or_alert_change_never_reaches_the_running_host(
    stack_runs: dict[str, OfflineRun], host: Path, readyz: Readyz
) -> None:
    """User data is ignored after the host is created: `mode: paper` written into a live
    stack, or a new on-call address, passed `pulumi up` (the outputs said so) while the
    host kept trading and mailing as before; with the SMTP user pinned to the new
    recipients, every alert email was refused from then on. The deploy document (the
    controlled restart) brings the stack's mode, network, profile and alert settings into
    the host's env files, and they cannot be overridden when it is run."""
    readyz.status = 200
    (host / "etc" / "tradewarden.env").write_text(
        "TRADEWARDEN_PROFILE=dev\nTRADEWARDEN_MODE=paper\nBINANCE_TESTNET=false\n"
        "TRADEWARDEN_EMAIL_TO=old-oncall@example.com\nTRADEWARDEN_SLACK_CHANNEL=\n"
        "TRADEWARDEN_SMTP_PORT=587\n"
    )
    run = stack_runs["dev"]
    proc = deploy(run, host, readyz, version="0.2.0", sha256=SHA)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = (host / "etc" / "tradewarden.env").read_text().splitlines()
    daemon = dict(line.split("=", 1) for line in lines)
    from infra.offline import read_stack_file

    raw = read_stack_file("dev")
    assert daemon["TRADEWARDEN_MODE"] == raw["tradewarden:mode"] == "testnet"
    assert (daemon["BINANCE_TESTNET"], daemon["TRADEWARDEN_PROFILE"]) == ("true", "dev")
    assert daemon["TRADEWARDEN_EMAIL_TO"] == ",".join(raw["tradewarden:alertEmails"])
    assert daemon["TRADEWARDEN_EMAIL_FROM"] == raw["tradewarden:alertEmailFrom"]
    assert daemon["TRADEWARDEN_SLACK_CHANNEL"] == raw["tradewarden:slackChannel"]
    assert daemon["TRADEWARDEN_SMTP_PORT"] == "587"  # the rest is left alone
    assert host_env(host)["TRADEWARDEN_EGRESS_ALERT_HOSTS"] == "hooks.slack.com,slack.com"
    # The stack's values are the only ones the document accepts.
    params = document(run)["parameters"]
    assert not re.match(params["mode"]["allowedPattern"], "live")
    assert not re.match(params["emailTo"]["allowedPattern"], "attacker@example.net")
    assert not re.match(params["alertHosts"]["allowedPattern"], "pastebin.com")
