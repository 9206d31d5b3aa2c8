"""Debian's `prometheus` and `prometheus-alertmanager` on free localhost ports, configured from
the real files in ops/ with only what a test must change:

- Prometheus: the daemon as the `tradewarden` target, 1 s scrape and evaluation, and a copy
  of ops/prometheus/rules/*.yml whose every `for:` is shortened (the real rules stay);
- Alertmanager: ops/alertmanager/alertmanager.yml's routes, inhibitions, receivers and
  templates, with the Slack webhook URL file and the SMTP relay pointing at the local fakes
  and the group timings shortened.

Every process runs in its own temp dir and is killed by `stop()` (use it in `finally`).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import free_port
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.server import _Handler as _SlackHandler
from tests.ops.promql import PROM, REPO, alertmanager_binary, tool

ALERTMANAGER_DIR = REPO / "ops" / "alertmanager"
FOR = re.compile(r"^(\s*)for: \S+\s*$", re.MULTILINE)


def shortened_rules(dst: Path, for_: str = "1s") -> list[Path]:
    """Copies of every rule file with each `for:` set to `for_`."""
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for src in sorted((PROM / "rules").glob("*.yml")):
        text = FOR.sub(lambda m: f"{m.group(1)}for: {for_}", src.read_text())
        path = dst / src.name
        path.write_text(text)
        out.append(path)
    return out


def prometheus_config(
    workdir: Path,
    target: str,
    alertmanager: str,
    *,
    interval: str = "1s",
    for_: str = "1s",
) -> Path:
    rules = shortened_rules(workdir / "rules", for_)
    real = yaml.safe_load((PROM / "prometheus.yml").read_text())
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
            "external_labels": real["global"]["external_labels"],
        },
        "rule_files": [str(p) for p in rules],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {"job_name": "tradewarden", "static_configs": [{"targets": [target]}]},
        ],
    }
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def alertmanager_config(
    workdir: Path,
    *,
    slack_webhook_url: str,
    smtp: tuple[str, int],
    smtp_password: str | None = None,
    smtp_ca_file: Path | None = None,
    email_to: str = "oncall@example.org",
    group_wait: str = "0s",
    group_interval: str = "1s",
    sns: tuple[str, str] | None = None,
) -> Path:
    """ops/alertmanager/alertmanager.yml aimed at the local Slack and SMTP stand-ins.

    With `smtp_ca_file` the relay is STARTTLS (required, as in production) and trusted
    through that CA; Alertmanager sends SMTP AUTH only over TLS, so `smtp_password` needs it.
    `sns` = (endpoint URL, topic ARN): the receivers' `sns_configs` publish there (moto, with
    its throwaway keys, where production signs with the instance role); without it they are
    dropped, so that no test reaches for AWS.
    """
    config: dict[str, Any] = yaml.safe_load((ALERTMANAGER_DIR / "alertmanager.yml").read_text())
    secrets = workdir / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    url_file = secrets / "slack_webhook_url"
    url_file.write_text(slack_webhook_url + "\n")
    pw_file = secrets / "smtp_password"
    pw_file.write_text(smtp_password or "")
    config["global"]["smtp_smarthost"] = f"{smtp[0]}:{smtp[1]}"
    config["global"]["smtp_require_tls"] = smtp_ca_file is not None
    config["templates"] = [str(ALERTMANAGER_DIR / "templates" / "*.tmpl")]

    def retime(route: dict[str, Any]) -> None:
        route["group_wait"] = group_wait
        route["group_interval"] = group_interval
        for sub in route.get("routes", []):
            retime(sub)

    retime(config["route"])
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            assert "api_url" not in slack, "the Slack URL must come from api_url_file"
            slack["api_url_file"] = str(url_file)
        if sns is None:
            receiver.pop("sns_configs", None)
        for topic in receiver.get("sns_configs", []):
            assert sns is not None
            assert "access_key" not in topic["sigv4"], "production signs with the instance role"
            topic["api_url"], topic["topic_arn"] = sns
            topic["sigv4"] = {
                "region": topic["topic_arn"].split(":")[3],
                "access_key": "testing",
                "secret_key": "testing",
            }
        for mail in receiver.get("email_configs", []):
            mail["to"] = email_to
            if smtp_ca_file is not None:
                mail["tls_config"] = {"ca_file": str(smtp_ca_file)}
            if smtp_password is None:
                mail.pop("auth_username", None)
                mail.pop("auth_password_file", None)
            else:
                mail["auth_password_file"] = str(pw_file)
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class _AttachmentWebhookHandler(_SlackHandler):
    def _webhook(self, path: str, payload: dict[str, Any] | None) -> None:
        attachments_only = bool(payload and payload.get("attachments") and not payload.get("text"))
        if attachments_only and path == self.server.state.webhook_path:
            self._record("webhook", path, payload)  # type: ignore[arg-type]
            self._send(200, "ok")
            return
        super()._webhook(path, payload)


class AlertmanagerSlack(FakeSlack):
    """The fake Slack, also accepting an incoming-webhook payload made only of
    ``attachments`` — as real Slack does, and as Alertmanager 0.25 sends (no top-level
    ``text``). tests/fakes/slack answers those with 400 invalid_payload; once it accepts
    them this subclass can go."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._server.RequestHandlerClass = _AttachmentWebhookHandler

    def webhook_messages(self) -> list[Any]:
        return [m for m in self.messages if m.kind == "webhook"]


@contextlib.contextmanager
def relay_login_prompts() -> Iterator[None]:
    """aiosmtpd asks "User Name" / "Password" in AUTH LOGIN; relays (and Alertmanager's
    LOGIN client, which refuses anything else) use "Username:" / "Password:". Set for the
    duration, for every FakeSmtp of this process."""
    from aiosmtpd.smtp import SMTP

    saved = SMTP.AuthLoginUsernameChallenge, SMTP.AuthLoginPasswordChallenge
    SMTP.AuthLoginUsernameChallenge, SMTP.AuthLoginPasswordChallenge = "Username:", "Password:"
    try:
        yield
    finally:
        SMTP.AuthLoginUsernameChallenge, SMTP.AuthLoginPasswordChallenge = saved


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - localhost
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Server:
    """A started Prometheus or Alertmanager; `stop()` kills it."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.output()}")
            if _ready(self.url + "/-/ready"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s: {self.output()}")

    def output(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text()[-4000:]
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def _spawn(name: str, argv: list[str], workdir: Path, port: int) -> Server:
    """Start it, wait until it answers; stopped again if it never does."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server(name, proc, port, log)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def start_alertmanager(workdir: Path, config: Path) -> Server:
    port = free_port()
    data = workdir / "am-data"
    data.mkdir(parents=True, exist_ok=True)
    return _spawn(
        "alertmanager",
        [
            alertmanager_binary(),
            f"--config.file={config}",
            f"--storage.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: one instance
            "--log.level=warn",
        ],
        workdir,
        port,
    )


def start_prometheus(workdir: Path, config: Path, *, resend_delay: str = "1m") -> Server:
    """`resend_delay`: how often a firing alert is sent again (Prometheus' default 1m; an
    alert that fires before Alertmanager is discovered waits that long)."""
    port = free_port()
    data = workdir / "prom-data"
    data.mkdir(parents=True, exist_ok=True)
    return _spawn(
        "prometheus",
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--rules.alert.resend-delay={resend_delay}",
            "--log.level=warn",
        ],
        workdir,
        port,
    )


def start_alerting(
    workdir: Path,
    target: str,
    slack: AlertmanagerSlack,
    smtp: Any,
    smtp_password: str,
    servers: list[Server],
    *,
    for_: str = "1s",
) -> tuple[Server, Server]:
    """Alertmanager (to the fake Slack webhook and the fake SMTP server with its CA), then
    Prometheus scraping `target` with the shipped rules (``for`` shortened to `for_`) and
    sending to it. Each is appended to `servers` as soon as it runs, for the caller's
    cleanup. Returns (alertmanager, prometheus)."""
    am_dir, prom_dir = workdir / "am", workdir / "prom"
    am = start_alertmanager(
        am_dir,
        alertmanager_config(
            am_dir,
            slack_webhook_url=slack.webhook_url,
            smtp=(smtp.host, smtp.port),
            smtp_password=smtp_password,
            smtp_ca_file=smtp.cert_path,
        ),
    )
    servers.append(am)
    prom = start_prometheus(
        prom_dir, prometheus_config(prom_dir, target, f"127.0.0.1:{am.port}", for_=for_)
    )
    servers.append(prom)
    return am, prom


def get_json(url: str) -> Any:
    import json

    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - localhost
        return json.loads(r.read())


def post_alerts(alertmanager: Server, alerts: list[dict[str, Any]]) -> None:
    import json

    req = urllib.request.Request(
        alertmanager.url + "/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - localhost
        assert r.status == 200
