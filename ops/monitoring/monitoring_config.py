#!/usr/bin/env python3
"""The host's Prometheus and Alertmanager configuration, rendered at each service start.

Installed as /usr/local/libexec/tradewarden/monitoring-config.py and run by the release's
venv python (PyYAML and boto3 come from the locked wheels) in the units' ExecStartPre=:

    monitoring-config.py prometheus   --out $RUNTIME_DIRECTORY/prometheus.yml
    monitoring-config.py alertmanager --out $RUNTIME_DIRECTORY/alertmanager.yml \
        --secrets-dir $RUNTIME_DIRECTORY/secrets --owner alertmanager

Inputs: the repository's files as shipped in host-files.tar.gz (/etc/tradewarden/prometheus
= ops/prometheus, /etc/tradewarden/alertmanager = ops/alertmanager) and the host settings
(/etc/tradewarden/tradewarden.env and host.env, rendered by infra/cloud_init.py):

* Prometheus: ops/prometheus/prometheus.yml's scrapes (daemon 127.0.0.1:9108, node_exporter
  127.0.0.1:9100, Alertmanager, itself), every rule file of ops/prometheus/rules, alerts to
  the local Alertmanager, the stack as an external label, and ``remote_write`` with
  ``sigv4`` (the instance role; region AWS_REGION) to TRADEWARDEN_AMP_REMOTE_WRITE_URL when
  host.env sets it.
* Alertmanager: ops/alertmanager/alertmanager.yml's routes, inhibitions and templates with
  the host's destinations: SMTP to TRADEWARDEN_SMTP_HOST:TRADEWARDEN_SMTP_PORT (SES SMTP
  through its VPC endpoint, STARTTLS required), from TRADEWARDEN_EMAIL_FROM to
  TRADEWARDEN_EMAIL_TO, and on every receiver routing severity="critical" an ``sns_configs``
  entry to TRADEWARDEN_SNS_TOPIC_ARN signed with ``sigv4`` (instance role). The Slack
  webhook URL and the SMTP password are fetched from Secrets Manager (the stack's slack and
  smtp secrets, TRADEWARDEN_SECRET_SLACK_ID / _SMTP_ID) into files readable only by the
  alertmanager user (``api_url_file``, ``auth_password_file``); the SMTP user name (SES's
  access key id) is in the rendered file, which lives in the unit's RuntimeDirectory
  (mode 0700, the alertmanager user).

A setting that is needed and missing stops the start with exit 2 naming it: a monitoring
stack that cannot deliver must fail loudly (AlertmanagerDown / the unit's OnFailure), not
run quietly. ``AWS_ENDPOINT_URL`` (tests only: moto) aims SNS at it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(os.environ.get("TRADEWARDEN_ROOT", "/"))
ETC = ROOT / "etc/tradewarden"
ENV_FILES = (ETC / "tradewarden.env", ETC / "host.env")
PROM_DIR = ETC / "prometheus"
AM_DIR = ETC / "alertmanager"
CRITICAL = 'severity="critical"'


class ConfigError(Exception):
    """A setting the host needs is missing or wrong (exit 2)."""


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments, blank lines,
    optional quotes)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def host_env(files: tuple[Path, ...] = ENV_FILES) -> dict[str, str]:
    """The env files (missing ones skipped), then the process environment on top."""
    env: dict[str, str] = {}
    for f in files:
        if f.is_file():
            env.update(read_env_file(f))
    env.update({k: v for k, v in os.environ.items() if k.startswith(("TRADEWARDEN_", "AWS_"))})
    return env


def _need(env: Mapping[str, str], key: str) -> str:
    value = env.get(key, "").strip()
    if not value:
        raise ConfigError(f"{key} is not set (/etc/tradewarden/*.env)")
    return value


def prometheus_config(env: Mapping[str, str], prom_dir: Path = PROM_DIR) -> dict[str, Any]:
    base: dict[str, Any] = yaml.safe_load((prom_dir / "prometheus.yml").read_text())
    rules = sorted(str(p) for p in (prom_dir / "rules").glob("*.yml"))
    if not rules:
        raise ConfigError(f"no rule files in {prom_dir / 'rules'}")
    config = dict(base)
    config["rule_files"] = rules
    labels = dict(base.get("global", {}).get("external_labels") or {})
    if env.get("TRADEWARDEN_STACK"):
        labels["stack"] = env["TRADEWARDEN_STACK"]
    config["global"] = {**base.get("global", {}), "external_labels": labels}
    url = env.get("TRADEWARDEN_AMP_REMOTE_WRITE_URL", "").strip()
    if url:
        region = _need(env, "AWS_REGION")
        config["remote_write"] = [{"url": url, "sigv4": {"region": region}}]
    else:
        config.pop("remote_write", None)
    return config


def alertmanager_config(
    env: Mapping[str, str],
    secrets_dir: Path,
    smtp_username: str | None,
    am_dir: Path = AM_DIR,
) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((am_dir / "alertmanager.yml").read_text())
    config["templates"] = [str(am_dir / "templates" / "*.tmpl")]
    glob = config.setdefault("global", {})
    smtp_host = env.get("TRADEWARDEN_SMTP_HOST", "").strip()
    email_to = [a.strip() for a in env.get("TRADEWARDEN_EMAIL_TO", "").split(",") if a.strip()]
    if smtp_host:
        if not email_to:
            raise ConfigError("TRADEWARDEN_EMAIL_TO is not set but TRADEWARDEN_SMTP_HOST is")
        if smtp_username is None:
            raise ConfigError("the smtp secret (TRADEWARDEN_SECRET_SMTP_ID) is not set")
        glob["smtp_smarthost"] = f"{smtp_host}:{env.get('TRADEWARDEN_SMTP_PORT') or 587}"
        glob["smtp_require_tls"] = True  # STARTTLS on 587 (SES)
        if env.get("TRADEWARDEN_EMAIL_FROM"):
            glob["smtp_from"] = env["TRADEWARDEN_EMAIL_FROM"]
    topic = _need(env, "TRADEWARDEN_SNS_TOPIC_ARN")
    region = _need(env, "AWS_REGION")
    critical = {
        r.get("receiver")
        for r in config["route"].get("routes", [])
        if CRITICAL in r.get("matchers", [])
    }
    if not critical:
        raise ConfigError("alertmanager.yml has no route for severity=critical")
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            slack.pop("api_url", None)
            slack["api_url_file"] = str(secrets_dir / "slack_webhook_url")
        if smtp_host:
            for mail in receiver.get("email_configs", []):
                mail["to"] = ", ".join(email_to)
                mail["auth_username"] = smtp_username
                mail["auth_password_file"] = str(secrets_dir / "smtp_password")
        else:
            receiver.pop("email_configs", None)
        if receiver["name"] in critical:
            # ops/alertmanager/alertmanager.yml carries the SNS entries (its SMS-sized
            # message template); the host fills in the topic, the region and, in tests, the
            # endpoint. A critical receiver without one would never page.
            entries = receiver.get("sns_configs") or []
            if not entries:
                raise ConfigError(
                    f"alertmanager.yml: the critical receiver {receiver['name']!r} has no "
                    "sns_configs (critical alerts must page)"
                )
            for sns in entries:
                sns["topic_arn"] = topic
                sns["sigv4"] = {"region": region}
                sns.setdefault("send_resolved", True)
                if env.get("AWS_ENDPOINT_URL"):
                    sns["api_url"] = env["AWS_ENDPOINT_URL"]
    left = re.findall(r"\$\{\w+\}", yaml.safe_dump(config))
    if left:  # a placeholder the host did not fill would be sent as is (or fail to parse)
        raise ConfigError(f"alertmanager.yml: placeholders left unfilled: {sorted(set(left))}")
    return config


def fetch_secrets(env: Mapping[str, str]) -> tuple[str, str | None, str | None]:
    """(slack webhook URL, SMTP user, SMTP password) from Secrets Manager."""
    import boto3

    client = boto3.client("secretsmanager", region_name=_need(env, "AWS_REGION"))

    def read(key: str) -> dict[str, Any]:
        secret_id = _need(env, key)
        try:
            value = client.get_secret_value(SecretId=secret_id)["SecretString"]
        except Exception as exc:  # noqa: BLE001 - named without the value, then fail
            raise ConfigError(f"secret {secret_id} ({key}): {type(exc).__name__}") from None
        data = json.loads(value)
        if not isinstance(data, dict):
            raise ConfigError(f"secret {secret_id} ({key}) is not a JSON object")
        return data

    webhook = str(read("TRADEWARDEN_SECRET_SLACK_ID").get("webhook_url") or "")
    if not webhook:
        raise ConfigError(
            "the slack secret (TRADEWARDEN_SECRET_SLACK_ID) has no webhook_url:"
            " Alertmanager posts to an incoming webhook"
        )
    if not env.get("TRADEWARDEN_SMTP_HOST"):
        return webhook, None, None
    smtp = read("TRADEWARDEN_SECRET_SMTP_ID")
    user, password = str(smtp.get("username") or ""), str(smtp.get("password") or "")
    if not user or not password:
        raise ConfigError("the smtp secret (TRADEWARDEN_SECRET_SMTP_ID) needs username/password")
    return webhook, user, password


def _write(path: Path, text: str, owner: str | None, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)  # no trailing newline: Alertmanager 0.25 sends the bytes as they are
    os.chmod(tmp, mode)
    if owner:
        shutil.chown(tmp, owner, owner)
    os.replace(tmp, path)


def dump(config: dict[str, Any]) -> str:
    return "# rendered by monitoring-config.py; do not edit\n" + yaml.safe_dump(
        config, sort_keys=False
    )


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["prometheus", "alertmanager"])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--secrets-dir", type=Path, help="alertmanager: where the secret files go")
    p.add_argument("--owner", help="user that owns the written files (the service's user)")
    a = p.parse_args(argv)
    if os.environ.get("TRADEWARDEN_NO_SYSTEMD") == "1":
        a.owner = None  # tests/hostbox: no service users on the test machine
    env = host_env()
    try:
        if a.what == "prometheus":
            _write(a.out, dump(prometheus_config(env)), a.owner, 0o640)
        else:
            secrets_dir = a.secrets_dir or a.out.parent / "secrets"
            webhook, user, password = fetch_secrets(env)
            secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if a.owner:
                shutil.chown(secrets_dir, a.owner, a.owner)
            _write(secrets_dir / "slack_webhook_url", webhook, a.owner, 0o400)
            if password is not None:
                _write(secrets_dir / "smtp_password", password, a.owner, 0o400)
            config = alertmanager_config(env, secrets_dir, user)
            _write(a.out, dump(config), a.owner, 0o600)
    except ConfigError as exc:
        print(f"monitoring-config: {a.what}: {exc}", file=sys.stderr)
        return 2
    print(f"monitoring-config: wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
