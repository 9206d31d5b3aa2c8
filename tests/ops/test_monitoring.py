"""The host's monitoring: the pinned binaries (ops/monitoring/binaries.toml) are the Debian
files installed here and run on Amazon Linux 2023's glibc; the release build refuses any
other file; the configurations rendered for the host (ops/monitoring/monitoring_config.py)
pass `promtool check config` / `amtool check-config` and route as the issue asks."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PINS = REPO / "ops/monitoring/binaries.toml"
AL2023_GLIBC = (2, 34)


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


render = load("monitoring_config", REPO / "ops/monitoring/monitoring_config.py")
sys.path.insert(0, str(REPO / "ops/cloud-init"))
build_release = load("build_release", REPO / "ops/cloud-init/build_release.py")


def glibc_needed(binary: Path) -> tuple[int, ...]:
    out = subprocess.run(["objdump", "-T", str(binary)], capture_output=True, text=True).stdout
    versions = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([0-9.]+)", out)}
    return max(versions)


def test_pins_are_the_installed_debian_binaries_and_run_on_al2023() -> None:
    pins = tomllib.loads(PINS.read_text())
    assert set(pins["binaries"]) == {
        "prometheus",
        "promtool",
        "alertmanager",
        "amtool",
        "node_exporter",
    }
    for name, pin in pins["binaries"].items():
        src = Path("/usr/bin") / pin["source"]
        installed = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", pin["package"]], capture_output=True, text=True
        ).stdout
        assert installed == pins["packages"][pin["package"]], name
        assert build_release.sha256_file(src) == pin["sha256"], name
        need = glibc_needed(src)
        assert need <= AL2023_GLIBC, f"{name} needs GLIBC_{'.'.join(map(str, need))}"
        assert pin["max_glibc"] == ".".join(map(str, need)), name


def test_a_binary_that_is_not_the_pinned_file_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "bin"
    src.mkdir()
    pins = tmp_path / "pins.toml"
    lines = []
    for name in ("alpha", "beta"):
        (src / name).write_bytes(f"{name} 1.0".encode())
        digest = build_release.sha256_file(src / name)
        lines.append(f'[binaries.{name}]\npackage = "p"\nsource = "{name}"\nsha256 = "{digest}"\n')
    pins.write_text("\n".join(lines))
    copied = build_release.copy_monitoring(src, tmp_path / "ok", pins)
    assert [p.name for p in copied] == ["alpha", "beta"]
    (src / "beta").write_bytes(b"beta 1.0 with a backdoor")
    with pytest.raises(build_release.PinMismatch, match="beta.*is not the pinned"):
        build_release.copy_monitoring(src, tmp_path / "bad", pins)
    (src / "alpha").unlink()
    with pytest.raises(build_release.PinMismatch, match="alpha is missing"):
        build_release.copy_monitoring(src, tmp_path / "gone", pins)


ENV = {
    "TRADEWARDEN_STACK": "prod",
    "AWS_REGION": "eu-west-1",
    "TRADEWARDEN_SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:111111111111:tradewarden-prod-alerts",
    "TRADEWARDEN_SMTP_HOST": "email-smtp.eu-west-1.amazonaws.com",
    "TRADEWARDEN_SMTP_PORT": "587",
    "TRADEWARDEN_EMAIL_TO": "oncall@example.com,desk@example.com",
    "TRADEWARDEN_AMP_REMOTE_WRITE_URL": (
        "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
    ),
}


def test_host_prometheus_config_scrapes_rules_alerts_and_remote_writes(tmp_path: Path) -> None:
    config = render.prometheus_config(ENV, REPO / "ops/prometheus")
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert targets["tradewarden"] == ["127.0.0.1:9108"] and targets["node"] == ["127.0.0.1:9100"]
    assert {Path(r).name for r in config["rule_files"]} == {
        p.name for p in (REPO / "ops/prometheus/rules").glob("*.yml")
    }
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9093"
    ]
    assert config["remote_write"] == [
        {"url": ENV["TRADEWARDEN_AMP_REMOTE_WRITE_URL"], "sigv4": {"region": "eu-west-1"}}
    ]
    assert config["global"]["external_labels"]["stack"] == "prod"
    path = tmp_path / "prometheus.yml"
    path.write_text(render.dump(config))
    proc = subprocess.run(
        ["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    no_amp = {k: v for k, v in ENV.items() if k != "TRADEWARDEN_AMP_REMOTE_WRITE_URL"}
    assert "remote_write" not in render.prometheus_config(no_amp, REPO / "ops/prometheus")


def receivers(config: dict[str, Any]) -> dict[str, set[str]]:
    by_severity = {
        m.split('"')[1]: r["receiver"]
        for r in config["route"]["routes"]
        for m in r["matchers"]
        if m.startswith("severity=")
    }
    named = {r["name"]: r for r in config["receivers"]}
    return {
        sev: {k for k in named[rcv] if k.endswith("_configs")} for sev, rcv in by_severity.items()
    }


def test_host_alertmanager_config_routes_critical_to_slack_email_and_sns(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    config = render.alertmanager_config(ENV, secrets, "AKIAEXAMPLE", REPO / "ops/alertmanager")
    assert receivers(config) == {
        "critical": {"slack_configs", "email_configs", "sns_configs"},
        "warning": {"slack_configs", "email_configs"},
        "info": {"slack_configs"},
    }
    assert config["global"]["smtp_smarthost"] == "email-smtp.eu-west-1.amazonaws.com:587"
    assert config["global"]["smtp_require_tls"] is True
    critical = next(r for r in config["receivers"] if r["name"] == "critical")
    (sns,) = critical["sns_configs"]
    assert sns["topic_arn"] == ENV["TRADEWARDEN_SNS_TOPIC_ARN"]
    assert sns["sigv4"] == {"region": "eu-west-1"}  # the instance role: no keys in the file
    assert "tradewarden.sns.message" in sns["message"]  # the SMS-sized text of the repo's file
    # the Watchdog goes to the dead-man's switch only (the heartbeat reads it), never a page
    watchdog = next(r for r in config["route"]["routes"] if 'alertname="Watchdog"' in r["matchers"])
    dead = next(r for r in config["receivers"] if r["name"] == watchdog["receiver"])
    assert not [k for k in dead if k.endswith("_configs")]
    (mail,) = critical["email_configs"]
    assert mail["to"] == "oncall@example.com, desk@example.com"
    assert mail["auth_password_file"] == str(secrets / "smtp_password")
    text = render.dump(config)
    assert not re.search(r"^\s*(auth_password|api_url|auth_secret):", text, re.M), text
    secrets.mkdir()
    (secrets / "slack_webhook_url").write_text("https://hooks.slack.com/services/T/B/x")
    (secrets / "smtp_password").write_text("pw")
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    proc = subprocess.run(
        ["amtool", "check-config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert yaml.safe_load(path.read_text())["templates"] == [
        str(REPO / "ops/alertmanager/templates/*.tmpl")
    ]


def test_a_missing_destination_setting_is_named() -> None:
    env = {k: v for k, v in ENV.items() if k != "TRADEWARDEN_SNS_TOPIC_ARN"}
    with pytest.raises(render.ConfigError, match="TRADEWARDEN_SNS_TOPIC_ARN"):
        render.alertmanager_config(env, Path("/s"), "u", REPO / "ops/alertmanager")
    env = {k: v for k, v in ENV.items() if k != "TRADEWARDEN_EMAIL_TO"}
    with pytest.raises(render.ConfigError, match="TRADEWARDEN_EMAIL_TO"):
        render.alertmanager_config(env, Path("/s"), "u", REPO / "ops/alertmanager")


def test_install_script_starts_monitoring_before_the_daemon_and_keeps_the_host_path() -> None:
    """The scratch-root switches (tests/hostbox) change nothing on a host: with
    TRADEWARDEN_NO_SYSTEMD unset every systemctl step runs, the monitoring units before the
    daemon; every file path is under $R (empty on a host)."""
    script = (REPO / "ops/cloud-init/install-host.sh").read_text()
    steps = [ln.strip() for ln in script.splitlines() if ln.strip().startswith("systemctl ")]
    monitoring = steps.index(
        "systemctl restart node_exporter.service alertmanager.service prometheus.service"
    )
    assert monitoring < steps.index("systemctl restart --no-block tradewarden.service")
    assert steps.index("systemctl start tradewarden-egress.service") < monitoring
    assert 'NO_SYSTEMD="${TRADEWARDEN_NO_SYSTEMD:-0}"' in script
    assert re.search(
        r"^if ! on_host; then\n.*\n  exit 0\nfi\nsystemctl daemon-reload$", script, re.M
    )
    for b in ("prometheus", "promtool", "alertmanager", "amtool", "node_exporter"):
        assert b in script.split("MONITORING_BINARIES=", 1)[1].splitlines()[0]
    unprefixed = re.findall(r'(?<![R}\w])"?/(?:opt|etc|var|usr)/\S*', script.split("set -euo")[1])
    assert all("amazon-cloudwatch-agent" in p for p in unprefixed), unprefixed
