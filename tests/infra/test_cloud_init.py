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
