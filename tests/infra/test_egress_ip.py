"""The address Binance sees, from the stack to `tradewarden diagnose` on the host: the NAT's
Elastic IP (stack output natPublicIp) is written to /etc/tradewarden/host.env by the user
data (and by the SSM deploy document), and diagnose shows it for comparison with the API
keys' IP whitelist."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra.offline import OfflineRun
from infra.policy import checks as t


def host_env_of(run: OfflineRun) -> str:
    files = yaml.safe_load(run.one(t.INSTANCE).inputs["userData"])["write_files"]
    (content,) = [f["content"] for f in files if f["path"] == "/etc/tradewarden/host.env"]
    return content


@pytest.mark.usefixtures("clean_env")
def test_diagnose_shows_the_stack_egress_ip(tmp_path: Path, run: OfflineRun) -> None:
    from tradewarden.core.config import load_settings
    from tradewarden.operations.diagnose import PASS, check_egress_ip, render, run_checks

    host_env = tmp_path / "host.env"
    host_env.write_text(host_env_of(run), encoding="utf-8")
    ip = run.outputs["natPublicIp"]
    check = check_egress_ip(host_env)
    assert check is not None and check.status == PASS
    assert check.data == {"egress_ip": ip} and ip in check.detail

    settings = load_settings(None, state_dir=tmp_path / "state")
    lines = render(run_checks(settings, host_env=host_env)).splitlines()
    (line,) = [line for line in lines if "egress IP" in line]
    assert line.startswith("PASS  egress IP ") and line.endswith(check.detail)


@pytest.mark.usefixtures("clean_env")
def test_diagnose_off_the_host_or_on_an_older_host(tmp_path: Path) -> None:
    from tradewarden.operations.diagnose import SKIP, check_egress_ip

    assert check_egress_ip(tmp_path / "absent.env") is None  # not a tradewarden host
    old = tmp_path / "host.env"
    old.write_text("TRADEWARDEN_STACK=dev\n", encoding="utf-8")
    check = check_egress_ip(old)
    assert check is not None and check.status == SKIP and "natPublicIp" in check.detail
