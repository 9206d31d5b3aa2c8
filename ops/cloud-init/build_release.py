#!/usr/bin/env python3
"""Build the release tarball the host installs (s3://<releaseBucket>/<releaseKey>).

    python ops/cloud-init/build_release.py --out dist/        # needs PyPI for the wheels
    python ops/cloud-init/build_release.py --lock-only --out dist/

The tarball holds, at its top level:

* ``requirements.lock`` — every runtime dependency pinned to the version in ``uv.lock``
  with its SHA-256 hashes (``uv export --frozen --no-dev --no-emit-project``);
* a wheel for each of them (manylinux x86_64, CPython 3.11: the host's python3.11);
* ``tradewarden-<version>-py3-none-any.whl``;
* ``host-files.tar.gz`` — the units, egress filter and probes (embed.HOST_FILES), which
  do not fit in the 16 KB of EC2 user data;
* ``SHA256SUMS`` — the hashes of the tradewarden wheel and host-files.tar.gz.

install-host.sh installs with ``pip --no-index --require-hashes``: nothing but these exact
files can be installed, and a wheel whose hash differs from the lock stops the install.
Upload with ``aws s3 cp dist/tradewarden-<v>-wheelhouse.tar.gz s3://<bucket>/<releaseKey>``
(infra/naming.py: ``release_object_key``).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import embed  # noqa: E402 - beside this script

PLATFORM = ["--platform", "manylinux2014_x86_64", "--python-version", "3.11"]


def uv() -> list[str]:
    exe = shutil.which("uv")
    return [exe] if exe else [sys.executable, "-m", "uv"]


def version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def export_lock(out: Path) -> Path:
    """The runtime lock with hashes, from uv.lock alone (no network)."""
    lock = out / "requirements.lock"
    subprocess.run(
        [
            *uv(),
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--format",
            "requirements-txt",
            "--output-file",
            str(lock),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return lock


def build(out: Path) -> Path:
    v = version()
    with tempfile.TemporaryDirectory(prefix="tradewarden-release-") as tmp:
        house = Path(tmp)
        lock = export_lock(house)
        subprocess.run([*uv(), "build", "--wheel", "--out-dir", str(house)], cwd=REPO, check=True)
        wheel = house / f"tradewarden-{v}-py3-none-any.whl"
        host_files = house / "host-files.tar.gz"
        host_files.write_bytes(embed.bundle_bytes(embed.HOST_FILES))
        sums = [
            f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}" for f in (wheel, host_files)
        ]
        (house / "SHA256SUMS").write_text("\n".join(sums) + "\n")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
            + PLATFORM
            + ["--require-hashes", "-r", str(lock), "-d", str(house)],
            check=True,
        )
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"tradewarden-{v}-wheelhouse.tar.gz"
        with tarfile.open(target, "w:gz") as tar:
            for f in sorted(house.iterdir()):
                tar.add(f, arcname=f.name)
    return target


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="build the host's release tarball")
    p.add_argument("--out", type=Path, default=REPO / "dist")
    p.add_argument("--lock-only", action="store_true", help="only write requirements.lock")
    a = p.parse_args(argv)
    if a.lock_only:
        a.out.mkdir(parents=True, exist_ok=True)
        print(export_lock(a.out))
        return 0
    print(build(a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
