"""The cloud-init template and its rendering."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra.cloud_init import TEMPLATE, render_user_data
from infra.config import load_stack_config
from infra.offline import read_stack_file


def test_template_is_rendered_with_every_placeholder() -> None:
    cfg = load_stack_config(read_stack_file("prod"), "prod")
    text = render_user_data(cfg, region="eu-west-1", alert_topic_arn="arn:aws:sns:eu-west-1:1:t")
    assert "$" not in text.replace("$$", "")
    doc = yaml.safe_load(text)
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    env = files["/etc/tradewarden/tradewarden.env"]
    assert "TRADEWARDEN_PROFILE=prod" in env and "BINANCE_TESTNET=false" in env
    assert "TRADEWARDEN_SECRET_SMTP_ID=tradewarden/prod/smtp" in env
    assert "TRADEWARDEN_SNS_TOPIC_ARN=arn:aws:sns:eu-west-1:1:t" in env
    assert "TRADEWARDEN_WHEEL_VERSION=0.1.0" in files["/etc/tradewarden/host.env"]


def test_a_placeholder_without_a_value_stops_rendering(tmp_path: Path) -> None:
    template = tmp_path / "user-data.yaml.tmpl"
    template.write_text(TEMPLATE.read_text() + "# ${not_provided}\n")
    cfg = load_stack_config(read_stack_file("dev"), "dev")
    with pytest.raises(KeyError, match="not_provided"):
        render_user_data(cfg, region="eu-west-1", alert_topic_arn="x", template=template)


def host_env(text: str) -> str:
    files = {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}
    return files["/etc/tradewarden/host.env"]


def test_backup_target_is_rendered_into_host_env() -> None:
    cfg = load_stack_config(read_stack_file("dev"), "dev")
    url = "s3://tradewarden-dev-backups-111111111111/dev/"
    text = render_user_data(cfg, region="eu-west-1", alert_topic_arn="x", backup_to=url)
    lines = host_env(text).splitlines()
    assert [line for line in lines if line.startswith("TRADEWARDEN_BACKUP_TO=")] == [
        f"TRADEWARDEN_BACKUP_TO={url}"
    ]
    # Without a bucket (the ops checks render this way) the host's local directory.
    local = host_env(render_user_data(cfg, region="eu-west-1", alert_topic_arn="x"))
    assert "TRADEWARDEN_BACKUP_TO=/var/backups/tradewarden\n" in local


@pytest.mark.parametrize(
    "bad",
    [
        "backups",
        "",
        "s3://b/dev/\nTRADEWARDEN_PROFILE=prod",
        "/var/backups/trade warden",
        "gs://b/",
    ],
)
def test_a_bad_backup_target_is_refused(bad: str) -> None:
    cfg = load_stack_config(read_stack_file("dev"), "dev")
    with pytest.raises(ValueError, match="backup_to must be s3://bucket/prefix/ or an absolute"):
        render_user_data(cfg, region="eu-west-1", alert_topic_arn="x", backup_to=bad)


@pytest.mark.parametrize("futures", ["false", "true"])
def test_the_futures_key_reaches_the_daemon_and_the_egress_refresh(futures: str) -> None:
    """tradewarden:futures sets TRADEWARDEN_FUTURES_ENABLED in the env file the daemon and
    tradewarden-egress.service both read (the refresh resolves the futures testnet hosts
    only with it): a futures stack's host trades futures and may reach their hosts."""
    raw = dict(read_stack_file("dev"))
    raw["tradewarden:futures"] = futures
    cfg = load_stack_config(raw, "dev")
    text = render_user_data(cfg, region="eu-west-1", alert_topic_arn="arn:aws:sns:eu-west-1:1:t")
    files = {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}
    assert f"TRADEWARDEN_FUTURES_ENABLED={futures}\n" in files["/etc/tradewarden/tradewarden.env"]
