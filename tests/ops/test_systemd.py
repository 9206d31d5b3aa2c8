"""The systemd units pass `systemd-analyze verify`, the daemon's unit scores <= 2.0 in
`systemd-analyze security --offline=yes`, and the cloud-init user data infra renders
carries them verbatim; the other ops files ship in the release tarball (embed.HOST_FILES)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.cloud_init import MAX_USER_DATA_BYTES, TEMPLATE, render_user_data
from infra.config import load_stack_config
from infra.offline import read_stack_file

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "ops" / "systemd"
DAEMON_UNIT = UNITS / "tradewarden.service"
MAX_EXPOSURE = 2.0
sys.path.insert(0, str(REPO / "ops" / "cloud-init"))
import embed  # noqa: E402 - ops/cloud-init is not a package


def unit_files() -> list[Path]:
    return sorted(p for p in UNITS.iterdir() if p.suffix in (".service", ".timer"))


def exec_paths(unit: Path) -> set[str]:
    out = set()
    for line in unit.read_text().splitlines():
        if re.match(r"^Exec\w+=", line):
            out.add(line.split("=", 1)[1].lstrip("-+!@:").split()[0])
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file-system root with the distribution's units, ours, and stand-ins for the
    executables our units start (verify checks that ExecStart= is executable)."""
    r = tmp_path_factory.mktemp("root")
    system = Path("/usr/lib/systemd/system")
    if not system.is_dir():
        system = Path("/lib/systemd/system")
    shutil.copytree(system, r / "usr/lib/systemd/system", symlinks=True)
    etc = r / "etc/systemd/system"
    etc.mkdir(parents=True)
    for unit in unit_files():
        shutil.copy(unit, etc / unit.name)
        for exe in exec_paths(unit):
            stub = r / exe.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\n")
            stub.chmod(0o755)
    return r


@pytest.mark.parametrize("unit", unit_files(), ids=lambda p: p.name)
def test_systemd_analyze_verify_is_clean(root: Path, unit: Path) -> None:
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}", unit.name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stdout + proc.stderr


def test_verify_catches_a_misspelled_directive(root: Path, tmp_path: Path) -> None:
    """The check above can fail: an unknown key is reported on stderr."""
    bad = root / "etc/systemd/system/tw-bad.service"
    bad.write_text(DAEMON_UNIT.read_text().replace("ProtectSystem=", "ProtectSytem="))
    try:
        proc = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", f"--root={root}", bad.name],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        bad.unlink()
    assert "Unknown key" in proc.stderr and "ProtectSytem" in proc.stderr


def exposure(root: Path, unit: str) -> float:
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", f"--root={root}", "--no-pager", unit],
        capture_output=True,
        text=True,
        timeout=60,
    )
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert m, proc.stdout[-2000:] + proc.stderr
    return float(m.group(1))


def test_daemon_unit_exposure_at_most_2(
    root: Path, capsys: pytest.CaptureFixture[str], record_property: Any
) -> None:
    score = exposure(root, DAEMON_UNIT.name)
    record_property("systemd_exposure", score)
    with capsys.disabled():  # shown in every run, not only with -s
        print(f"\nsystemd-analyze security --offline=yes tradewarden.service: exposure {score}")
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}"


def test_daemon_unit_settings_the_daemon_relies_on() -> None:
    text = DAEMON_UNIT.read_text()
    settings = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#"
    )
    assert settings["Type"] == "notify" and settings["WatchdogSec"]
    assert settings["StateDirectory"] == "tradewarden"  # the daemon reads STATE_DIRECTORY
    assert settings["ExecStart"].endswith("tradewarden run --follow --no-console")
    assert settings["Restart"] == "on-failure"
    assert settings["CapabilityBoundingSet"] == "" and settings["NoNewPrivileges"] == "yes"
    assert "MemoryDenyWriteExecute" not in settings  # breaks cffi
    assert "IPAddressDeny" not in settings  # Binance has no fixed addresses
    assert settings["RestartPreventExitStatus"] == "2"  # bad config: a restart cannot help
    assert settings["StartLimitBurst"] and settings["StartLimitIntervalSec"]
    assert settings["TimeoutStopSec"] and settings["NotifyAccess"] == "main"


def test_no_secret_is_set_in_any_unit() -> None:
    secretish = re.compile(r"(SECRET|PASSWORD|TOKEN|API_?KEY|PRIVATE)[A-Z_]*=", re.I)
    for unit in unit_files():
        for line in unit.read_text().splitlines():
            if line.startswith(("Environment=", "SetCredential", "LoadCredential")):
                assert not secretish.search(line.split("=", 1)[1]), f"{unit.name}: {line}"


def test_exposure_parser_sees_a_weak_unit_as_weak(root: Path) -> None:
    weak = root / "etc/systemd/system/tw-weak.service"
    weak.write_text("[Service]\nExecStart=/opt/tradewarden/venv/bin/tradewarden run\n")
    try:
        assert exposure(root, weak.name) > MAX_EXPOSURE
    finally:
        weak.unlink()


# --- cloud-init -----------------------------------------------------------------------------
WRITE_FILE_KEYS = {"path", "content", "owner", "permissions", "encoding", "append", "defer"}
ENCODINGS = {"b64", "base64", "gz", "gzip", "gz+b64", "gzip+base64", "gz+base64", "gzip+b64"}


def rendered(stack: str = "prod") -> str:
    cfg = load_stack_config(read_stack_file(stack), stack)
    return render_user_data(
        cfg,
        region="ap-northeast-1",
        alert_topic_arn="arn:aws:sns:ap-northeast-1:123456789012:tradewarden-prod-alerts",
    )


def check_cloud_config(doc: dict) -> list[str]:
    """The parts of cloud-init's schema this user data uses (cloud-init is not installed)."""
    problems = []
    known = {"users", "package_update", "package_upgrade", "packages", "write_files", "runcmd"}
    known |= {"ssh_pwauth", "disable_root"}
    problems += [f"unknown top-level key {k!r}" for k in doc if k not in known]
    for u in doc.get("users", []):
        if not isinstance(u, dict) or not isinstance(u.get("name"), str):
            problems.append(f"user entry {u!r} has no name")
    if not all(isinstance(p, str) for p in doc.get("packages", [])):
        problems.append("packages must be names")
    for f in doc.get("write_files", []):
        if set(f) - WRITE_FILE_KEYS or not str(f.get("path", "")).startswith("/"):
            problems.append(f"write_files entry {f.get('path')!r}: bad keys or path")
        if "permissions" in f and not re.fullmatch(r"0[0-7]{3}", str(f["permissions"])):
            problems.append(f"{f['path']}: permissions must be a quoted octal string")
        if "encoding" in f and f["encoding"] not in ENCODINGS:
            problems.append(f"{f['path']}: unknown encoding {f['encoding']!r}")
    for cmd in doc.get("runcmd", []):
        if not (isinstance(cmd, str) or all(isinstance(c, str) for c in cmd)):
            problems.append(f"runcmd entry {cmd!r}")
    return problems


def test_the_schema_check_finds_mistakes() -> None:
    bad = {
        "user": [],
        "users": [{"nam": "x"}],
        "write_files": [{"path": "etc/x", "permissions": 644, "encoding": "zip"}],
    }
    assert len(check_cloud_config(bad)) == 5


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_user_data_is_cloud_config_with_the_unit_verbatim(stack: str) -> None:
    text = rendered(stack)
    assert text.startswith("#cloud-config\n")
    assert len(text.encode()) <= MAX_USER_DATA_BYTES
    doc = yaml.safe_load(text)
    assert check_cloud_config(doc) == []
    files = {f["path"]: f for f in doc["write_files"]}
    unit = files["/etc/systemd/system/tradewarden.service"]["content"]
    assert unit == DAEMON_UNIT.read_text()
    (user,) = doc["users"]
    assert user["name"] == "tradewarden" and user["system"] and user["lock_passwd"]
    assert user["shell"] == "/sbin/nologin" and "ssh_authorized_keys" not in user
    assert {"python3.11", "nftables", "amazon-cloudwatch-agent", "dnf-automatic"} <= set(
        doc["packages"]
    )
    cw = json.loads(files["/opt/aws/amazon-cloudwatch-agent/etc/tradewarden.json"]["content"])
    (shipped,) = cw["logs"]["logs_collected"]["files"]["collect_list"]
    assert shipped["log_group_name"] == f"/tradewarden/{stack}/host"
    assert shipped["file_path"] == "/var/log/journal-export/host.log"  # the journal export
    assert {"cpu", "mem", "disk"} <= set(cw["metrics"]["metrics_collected"])
    env = files["/etc/tradewarden/tradewarden.env"]["content"]
    assert "SECRET" not in env.replace("TRADEWARDEN_SECRET_", "")  # ids only, no values
    host_env = files["/etc/tradewarden/host.env"]["content"]
    assert "TRADEWARDEN_BACKUP_TO=/var/backups/tradewarden" in host_env
    assert doc["runcmd"][-1] == ["/usr/local/libexec/tradewarden/install-host.sh"]
    # no SSH at all (SSM only): no keys, no passwords, sshd off before anything is installed
    assert doc["ssh_pwauth"] is False and "ssh_authorized_keys" not in doc
    assert ["systemctl", "disable", "--now", "sshd.service"] in doc["runcmd"]


def test_user_data_bundle_unpacks_to_the_repository_files() -> None:
    doc = yaml.safe_load(rendered("dev"))
    bundle = next(f for f in doc["write_files"] if f["path"].endswith("bootstrap.tar.gz"))
    assert bundle["encoding"] == "b64"
    unpack = doc["runcmd"][0]
    assert unpack[:2] == ["tar", "-xzf"] and unpack[2] == bundle["path"]
    files = embed.unbundle(bundle["content"])
    assert set(files) == set(embed.BUNDLE)
    for host_path, (rel, mode) in embed.BUNDLE.items():
        content, got_mode = files[host_path]
        assert content == (REPO / rel).read_bytes(), host_path
        assert got_mode == mode, host_path
    assert "etc/dnf/automatic.conf" in files  # unattended security upgrades


def test_release_host_files_carry_every_other_ops_file() -> None:
    files = embed.unbundle(embed.bundle_bytes(embed.HOST_FILES))
    for host_path, (rel, mode) in embed.HOST_FILES.items():
        assert files[host_path] == ((REPO / rel).read_bytes(), mode), host_path
    shipped = {rel for rel, _ in [*embed.BUNDLE.values(), *embed.HOST_FILES.values()]}
    shipped.add("ops/systemd/tradewarden.service")  # verbatim in the user data
    ops_files = {
        str(p.relative_to(REPO))
        for d in ("ops/systemd", "ops/nftables", "ops/probe")
        for p in (REPO / d).iterdir()
        if p.is_file()
    }
    assert ops_files - shipped == set(), "an ops file no host receives"
    install = (REPO / "ops/cloud-init/install-host.sh").read_text()
    assert "host-files.tar.gz" in install and "--require-hashes" in install
    assert "--no-index" in install and "SHA256SUMS" in install


def test_automatic_updates_are_security_only_and_applied() -> None:
    conf = (REPO / "ops/cloud-init/dnf-automatic.conf").read_text()
    assert "upgrade_type = security" in conf and "apply_updates = yes" in conf
    assert (
        "systemctl enable --now dnf-automatic.timer"
        in (REPO / "ops/cloud-init/install-host.sh").read_text()
    )


def test_release_lock_pins_every_runtime_dependency_with_hashes(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "ops/cloud-init/build_release.py"), "--lock-only", "--out",
         str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lock = (tmp_path / "requirements.lock").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock, re.M))
    assert {"boto3", "pydantic", "sdnotify", "python-binance", "cryptography"} <= set(pins)
    assert not {"pytest", "moto", "hypothesis", "ruff"} & set(pins), "dev tools in the lock"
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock.split("\n", 2)[-1].strip())
    assert all("--hash=sha256:" in b for b in blocks if "==" in b)


def test_template_is_in_sync_with_its_sources() -> None:
    current = TEMPLATE.read_text()
    assert embed.embed(current) == current, "run: python ops/cloud-init/embed.py"


def test_embed_notices_a_changed_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "repo"
    shutil.copytree(REPO / "ops", fake / "ops")
    monkeypatch.setattr(embed, "REPO", fake)
    assert embed.embed(TEMPLATE.read_text()) == TEMPLATE.read_text()
    # a verbatim source and a bundled one
    for rel in ("ops/systemd/tradewarden.service", "ops/cloud-init/install-host.sh"):
        f = fake / rel
        original = f.read_text()
        f.write_text(original + "# changed\n")
        assert embed.embed(TEMPLATE.read_text()) != TEMPLATE.read_text(), rel
        f.write_text(original)


def test_install_script_is_valid_bash() -> None:
    proc = subprocess.run(
        ["bash", "-n", str(REPO / "ops/cloud-init/install-host.sh")], capture_output=True
    )
    assert proc.returncode == 0, proc.stderr


def test_install_script_fetches_the_object_infra_grants() -> None:
    """The host role may read exactly naming.release_object_key(version) (infra/iam.py)."""
    from infra import naming

    script = (REPO / "ops/cloud-init/install-host.sh").read_text()
    (pattern,) = re.findall(r'^key="([^"]+)"', script, re.M)
    assert pattern.replace("$version", "9.9.9") == naming.release_object_key("9.9.9")
    assert "--switch" in script and "mv -T" in script  # rollback = an atomic symlink switch


# --- the host's monitoring units (issue 15) -------------------------------------------------
MONITORING_UNITS = ("prometheus.service", "alertmanager.service", "node_exporter.service")
MAX_MONITORING_EXPOSURE = MAX_EXPOSURE  # as for the daemon


# --- start-up ordering, restart limits, the on-failure alert (issue 15, item 4) ---------------
def unit_settings(unit: Path | str) -> dict[str, list[str]]:
    """KEY -> values of a unit file (a name means a file in ops/systemd)."""
    path = unit if isinstance(unit, Path) else UNITS / unit
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(s|min)?", value)
    assert m, value
    return float(m.group(1)) * (60 if m.group(2) == "min" else 1)


def test_daemon_starts_after_the_egress_refresh_and_pages_on_failure() -> None:
    daemon = unit_settings(DAEMON_UNIT)
    assert "tradewarden-egress.service" in daemon["After"][0].split()
    assert "tradewarden-egress.service" in daemon["Wants"][0].split()
    assert daemon["OnFailure"] == ["tradewarden-unit-failed@%n.service"]
    egress = unit_settings(UNITS / "tradewarden-egress.service")
    # a oneshot whose start job ends when the sets are filled; RemainAfterExit would stop
    # the timer from running it again
    assert egress["Type"] == ["oneshot"] and "RemainAfterExit" not in egress
    assert egress["OnFailure"] == ["tradewarden-unit-failed@%n.service"]
    assert "nftables.service" in egress["After"][0].split()
    alert = unit_settings(UNITS / "tradewarden-unit-failed@.service")
    assert alert["ExecStart"][0].endswith("/unit_failed.py %i")
    assert alert["Restart"] == ["on-failure"] and alert["StartLimitIntervalSec"] == ["0"]
    # the alert must not need the daemon; nothing that runs while it waits NOT READY may be
    # ordered after it (its start job lasts as long as the outage)
    for unit in unit_files():
        if unit.name != DAEMON_UNIT.name:
            text = unit.read_text()
            assert not re.search(r"^(After|Requires|BindsTo)=.*tradewarden\.service", text, re.M), (
                unit.name
            )


def test_restart_limits_survive_a_30_minute_outage_and_catch_a_crash_loop() -> None:
    """The arithmetic in the unit's comments. An outage causes no restart (the daemon waits
    NOT READY); a crash every 3 minutes during it must not reach the start limit, a crash
    loop (exit within seconds) must, within a few minutes. systemd 252 (Amazon Linux 2023)
    has no RestartSteps=/RestartMaxDelaySec= (254)."""
    s = unit_settings(DAEMON_UNIT)
    interval = seconds(s["StartLimitIntervalSec"][0])
    burst = int(s["StartLimitBurst"][0])
    restart = seconds(s["RestartSec"][0])
    crash_every = 180.0
    assert interval // crash_every + 1 < burst, "a crash every 3 minutes would fail the unit"
    loop = burst * (restart + 5.0)  # exits ~5 s after each start
    assert loop < interval and loop <= 5 * 60, "a crash loop would not fail the unit soon"
    assert "RestartSteps" not in s and "RestartMaxDelaySec" not in s
    assert seconds(s["TimeoutStartSec"][0]) >= 60  # extended by the daemon while it waits


def test_new_units_exposure(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alert = exposure(root, "tradewarden-unit-failed@tradewarden.service.service")
    with capsys.disabled():
        print(f"\nsystemd-analyze security tradewarden-unit-failed@.service: exposure {alert}")
    assert alert <= MAX_EXPOSURE


def test_monitoring_units_exposure_is_bounded(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = {unit: exposure(root, unit) for unit in MONITORING_UNITS}
    with capsys.disabled():
        for unit, score in scores.items():
            print(f"\nsystemd-analyze security --offline=yes {unit}: exposure {score}")
    assert all(s <= MAX_MONITORING_EXPOSURE for s in scores.values()), scores


def test_monitoring_units_listen_on_localhost_and_start_before_the_daemon() -> None:
    for unit, port in zip(MONITORING_UNITS, (9090, 9093, 9100), strict=True):
        s = unit_settings(unit)
        (start,) = s["ExecStart"]
        assert f"--web.listen-address=127.0.0.1:{port}" in start, unit
        assert start.startswith("/usr/local/bin/"), unit  # installed from the bundle
        assert "tradewarden.service" in " ".join(s["Before"]), unit
        assert s["ProtectSystem"] == ["strict"] and s["NoNewPrivileges"] == ["yes"], unit
        assert s["CapabilityBoundingSet"] == [""], unit
        assert s.get("DynamicUser") == ["yes"] or s["User"] != ["root"], unit
    am = unit_settings("alertmanager.service")
    assert "--cluster.listen-address=" in am["ExecStart"][0]  # no gossip port
    # only the secret-fetching step runs as root; it writes into the RuntimeDirectory
    assert am["ExecStartPre"][0].startswith("+") and "--owner alertmanager" in am["ExecStartPre"][0]
    assert not any(p.startswith("+") for p in unit_settings("prometheus.service")["ExecStartPre"])
