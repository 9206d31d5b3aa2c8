#!/usr/bin/env python3
"""Copy repository files into the cloud-init template (EC2 user data is capped at 16 KB).

* An entry marked ``# source: <repository path>`` gets that file verbatim as its
  ``content: |`` block (the systemd unit, the CloudWatch agent config). Such a source may
  hold ``${name}`` placeholders (infra/cloud_init.py renders with string.Template) and no
  other dollar sign.
* The entry marked ``# bundle`` gets BUNDLE below as a gzipped tar, base64-encoded
  (``encoding: b64``); runcmd unpacks it into ``/``. The archive is deterministic (fixed
  mtime, owner and order), so an unchanged source gives an unchanged template.
* HOST_FILES (the other units, the egress filter, the probes) do not fit in the 16 KB:
  build_release.py puts them in the release tarball as host-files.tar.gz.

    python ops/cloud-init/embed.py          # rewrite the template
    python ops/cloud-init/embed.py --check  # exit 1 if the template is out of date
"""

from __future__ import annotations

import base64
import gzip
import io
import re
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "ops" / "cloud-init" / "user-data.yaml.tmpl"
SOURCE = re.compile(r"^    # source: (\S+)\s*$")
BUNDLE_MARK = "    # bundle"
INDENT = " " * 6
PLACEHOLDER = re.compile(r"\$\{[a-z_]+\}")

# What the user data carries itself (# bundle): the bootstrap, and what must hold even if
# the release cannot be fetched (unattended security upgrades). host path -> (repo path, mode)
BUNDLE: dict[str, tuple[str, int]] = {
    "usr/local/libexec/tradewarden/install-host.sh": ("ops/cloud-init/install-host.sh", 0o755),
    "usr/local/bin/tradewarden": ("ops/cloud-init/tradewarden-cli.py", 0o755),
    "etc/dnf/automatic.conf": ("ops/cloud-init/dnf-automatic.conf", 0o644),
    "etc/logrotate.d/journal-export": ("ops/cloud-init/logrotate-journal-export", 0o644),
}

# What the release tarball carries as host-files.tar.gz (build_release.py), unpacked into /
# by install-host.sh: EC2 user data is capped at 16 KB, and these change with the release.
HOST_FILES: dict[str, tuple[str, int]] = {
    **{
        f"etc/systemd/system/{unit}": (f"ops/systemd/{unit}", 0o644)
        for unit in (
            "tradewarden-heartbeat.service",
            "tradewarden-heartbeat.timer",
            "tradewarden-backup.service",
            "tradewarden-backup.timer",
            "tradewarden-egress.service",
            "tradewarden-egress.timer",
            "tradewarden-journal-export.service",
            "tradewarden-unit-failed@.service",
            "node_exporter.service",
            "prometheus.service",
            "alertmanager.service",
        )
    },
    # the host's Prometheus and Alertmanager inputs (rendered at start by monitoring-config.py)
    "usr/local/libexec/tradewarden/monitoring-config.py": (
        "ops/monitoring/monitoring_config.py",
        0o755,
    ),
    "etc/tradewarden/prometheus/prometheus.yml": ("ops/prometheus/prometheus.yml", 0o644),
    **{
        f"etc/tradewarden/prometheus/rules/{p.name}": (f"ops/prometheus/rules/{p.name}", 0o644)
        for p in sorted((REPO / "ops/prometheus/rules").glob("*.yml"))
    },
    "etc/tradewarden/alertmanager/alertmanager.yml": ("ops/alertmanager/alertmanager.yml", 0o644),
    **{
        f"etc/tradewarden/alertmanager/templates/{p.name}": (
            f"ops/alertmanager/templates/{p.name}",
            0o644,
        )
        for p in sorted((REPO / "ops/alertmanager/templates").glob("*.tmpl"))
    },
    "etc/nftables/tradewarden.nft": ("ops/nftables/tradewarden.nft", 0o644),
    "usr/local/libexec/tradewarden/refresh-allowlist.py": (
        "ops/nftables/refresh-allowlist.py",
        0o755,
    ),
    "usr/local/libexec/tradewarden/heartbeat.py": ("ops/probe/heartbeat.py", 0o755),
    "usr/local/libexec/tradewarden/uptime_probe.py": ("ops/probe/uptime_probe.py", 0o755),
    "usr/local/libexec/tradewarden/job_stamp.py": ("ops/probe/job_stamp.py", 0o755),
    "etc/systemd/system/dnf-automatic.service.d/tradewarden-reboot-required.conf": (
        "ops/systemd/dnf-automatic-reboot-required.conf",
        0o644,
    ),
    "usr/local/libexec/tradewarden/unit_failed.py": ("ops/probe/unit_failed.py", 0o755),
}


def bundle_bytes(files: dict[str, tuple[str, int]] | None = None) -> bytes:
    """A deterministic tar.gz of `files` (default: BUNDLE)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for host_path, (rel, mode) in sorted((BUNDLE if files is None else files).items()):
            data = (REPO / rel).read_bytes()
            info = tarfile.TarInfo(host_path)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), compresslevel=9, mtime=0)


def unbundle(b64: str | bytes) -> dict[str, tuple[bytes, int]]:
    """host path -> (content, mode): what tar would unpack (base64 text or raw tar.gz)."""
    raw = gzip.decompress(base64.b64decode(b64) if isinstance(b64, str) else b64)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m)
            out[m.name] = (f.read() if f else b"", m.mode)
    return out


def check_source(rel: str, body: str) -> None:
    if "$" in PLACEHOLDER.sub("", body):
        raise SystemExit(f"{rel}: contains '$' (string.Template would substitute it)")


def embed(text: str) -> str:
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    pending: str | None = None
    while i < len(lines):
        line = lines[i]
        i += 1
        if pending == "bundle" and line.startswith("    content:"):
            out.append("    content: " + base64.b64encode(bundle_bytes()).decode())
            pending = None
            continue
        out.append(line)
        if m := SOURCE.match(line):
            pending = m.group(1)
        elif line.rstrip() == BUNDLE_MARK:
            pending = "bundle"
        elif pending is not None and line == "    content: |":
            body = (REPO / pending).read_text(encoding="utf-8")
            check_source(pending, body)
            out.extend(INDENT + ln if ln.strip() else "" for ln in body.splitlines())
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(INDENT)):
                i += 1  # the previous copy
            pending = None
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    current = TEMPLATE.read_text(encoding="utf-8")
    wanted = embed(current)
    if "--check" in argv:
        if wanted != current:
            print(f"{TEMPLATE} is out of date: run python ops/cloud-init/embed.py")
            return 1
        print(f"{TEMPLATE}: up to date")
        return 0
    TEMPLATE.write_text(wanted, encoding="utf-8")
    print(f"{TEMPLATE}: embedded; {len(wanted.encode())} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
