#!/usr/bin/env python3
"""Build the release tarball the host installs (s3://<releaseBucket>/<releaseKey>).

    python ops/cloud-init/build_release.py --out dist/        # needs PyPI for the wheels
    python ops/cloud-init/build_release.py --wheels-from var/wheelhouse --out dist/  # offline
    python ops/cloud-init/build_release.py --lock-only --out dist/

(`make wheelhouse` downloads the locked wheels into var/wheelhouse once.)

The tarball holds, at its top level:

* ``requirements.lock`` — every runtime dependency pinned to the version in ``uv.lock``
  with its SHA-256 hashes (``uv export --frozen --no-dev --no-emit-project``);
* a wheel for each of them (manylinux <= glibc 2.34 x86_64, CPython 3.11: the host's python3.11);
* ``tradewarden-<version>-py3-none-any.whl``;
* ``host-files.tar.gz`` — the units, egress filter and probes (embed.HOST_FILES), which
  do not fit in the 16 KB of EC2 user data;
* ``monitoring/`` — Prometheus, promtool, Alertmanager, amtool and node_exporter: Debian 12's
  binaries at the versions pinned in ops/monitoring/binaries.toml, copied from /usr/bin (or
  ``--monitoring-from DIR``); a file whose SHA-256 is not the pinned one is refused;
* ``SHA256SUMS`` — the hashes of the tradewarden wheel, host-files.tar.gz and the
  monitoring binaries.

install-host.sh installs with ``pip --no-index --require-hashes``: nothing but these exact
files can be installed, and a wheel whose hash differs from the lock stops the install.
Upload with ``aws s3 cp dist/tradewarden-<v>-wheelhouse.tar.gz s3://<bucket>/<releaseKey>``
(infra/naming.py: ``release_object_key``).
"""

from __future__ import annotations

import argparse
import hashlib
import re
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

# The host: x86_64, glibc 2.34 (AL2023), CPython 3.11. Some locked wheels exist only as
# manylinux_2_28 (cbor2 6.3), so every manylinux tag up to glibc 2.34 is accepted.
PLATFORM = [
    *("--platform", "manylinux_2_34_x86_64"),
    *("--platform", "manylinux_2_28_x86_64"),
    *("--platform", "manylinux2014_x86_64"),
    *("--python-version", "3.11"),
]
BINARIES_PIN = REPO / "ops" / "monitoring" / "binaries.toml"


class PinMismatch(SystemExit):
    """A monitoring binary that is not the pinned file (exit 1 with its name)."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def monitoring_pins(pin_file: Path = BINARIES_PIN) -> dict[str, dict[str, str]]:
    """host name -> {package, source, sha256, max_glibc} (ops/monitoring/binaries.toml)."""
    return dict(tomllib.loads(pin_file.read_text())["binaries"])


def copy_monitoring(src_dir: Path, dst: Path, pin_file: Path = BINARIES_PIN) -> list[Path]:
    """Copy each pinned binary from `src_dir` into `dst`/monitoring/<host name>; refuse
    (PinMismatch) a missing file or one whose SHA-256 is not the pinned one."""
    out_dir = dst / "monitoring"
    out_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, pin in sorted(monitoring_pins(pin_file).items()):
        src = src_dir / pin["source"]
        if not src.is_file():
            raise PinMismatch(f"monitoring binary {src} is missing ({pin['package']})")
        got = sha256_file(src)
        if got != pin["sha256"]:
            raise PinMismatch(
                f"monitoring binary {src}: SHA-256 {got} is not the pinned {pin['sha256']}"
                f" ({pin['package']} {pin_file.name}): refusing"
            )
        target = out_dir / name
        shutil.copyfile(src, target)
        target.chmod(0o755)
        copied.append(target)
    return copied


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


def pip() -> list[str]:
    """A python with pip: this one, or the interpreter its venv was made from (uv's venvs
    have no pip)."""
    for exe in dict.fromkeys([sys.executable, getattr(sys, "_base_executable", ""), "python3"]):
        if not exe:
            continue
        probe = subprocess.run([exe, "-m", "pip", "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [exe, "-m", "pip"]
    raise SystemExit("no python with pip found for `pip download`")


# Pins published as an sdist only (no wheel on PyPI): the sdist is downloaded (its hash
# checked against the lock), built into a pure-Python wheel here with uv (offline: the
# locked setuptools wheel is the build backend), and the wheel's SHA-256 is added to that
# pin in the bundle's requirements.lock, so the host still installs wheels only, by hash.
SDIST_ONLY = ("sdnotify",)


def lock_pins(lock: Path) -> dict[str, tuple[str, set[str]]]:
    """name -> (version, SHA-256 hashes) of a `uv export` requirements file."""
    pins: dict[str, tuple[str, set[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()):
        if m := re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block):
            pins[m.group(1).lower()] = (
                m.group(2),
                set(re.findall(r"sha256:([0-9a-f]{64})", block)),
            )
    return pins


def without(lock: Path, names: tuple[str, ...], out: Path) -> Path:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text())
    keep = [b for b in blocks if not re.match(rf"({'|'.join(names)})==", b)]
    out.write_text("\n".join(keep))
    return out


def fetch_sdist(
    name: str, ver: str, hashes: set[str], dest: Path, wheels_from: Path | None
) -> Path:
    """The pin's sdist from `wheels_from` or PyPI, refused unless its hash is locked."""
    if wheels_from is None:
        subprocess.run(
            [*pip(), "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
            + [f"{name}=={ver}", "-d", str(dest)],
            check=True,
        )
        src = dest / f"{name}-{ver}.tar.gz"
    else:
        src = wheels_from / f"{name}-{ver}.tar.gz"
    if not src.is_file() or sha256_file(src) not in hashes:
        raise SystemExit(f"{src}: missing, or its SHA-256 is not in the lock: refusing")
    if src.parent != dest:
        shutil.copyfile(src, dest / src.name)
    return dest / src.name


def download_wheels(lock: Path, dest: Path, wheels_from: Path | None = None) -> list[Path]:
    """The locked wheels (hash-checked by pip) from PyPI, or from `wheels_from` only, and
    a wheel built from each SDIST_ONLY pin's sdist (kept beside it). Returns the built
    wheels."""
    source = ["--no-index", "--find-links", str(wheels_from)] if wheels_from else []
    binaries = without(lock, SDIST_ONLY, dest / "wheels-only.lock")
    subprocess.run(
        [*pip(), "download", "--quiet", "--no-deps"]
        + source
        + ["--only-binary", ":all:"]
        + PLATFORM
        + ["--require-hashes", "-r", str(binaries), "-d", str(dest)],
        check=True,
    )
    binaries.unlink()
    pins = lock_pins(lock)
    built = []
    for name in SDIST_ONLY:
        ver, hashes = pins[name]
        sdist = fetch_sdist(name, ver, hashes, dest, wheels_from)
        subprocess.run(
            [*uv(), "build", "--quiet", "--wheel", "--no-index", "--find-links", str(dest)]
            + ["--out-dir", str(dest), str(sdist)],
            check=True,
        )
        built.append(dest / f"{name}-{ver}-py3-none-any.whl")
    return built


def add_wheel_hashes(lock: Path, wheels: list[Path]) -> None:
    """Accept the wheels built from sdists by their SHA-256 in `lock`."""
    text = lock.read_text()
    for wheel in wheels:
        name, ver = wheel.name.split("-")[:2]
        pin = f"{name.replace('_', '-')}=={ver} \\\n"
        if pin not in text:
            raise SystemExit(f"{wheel.name}: no pin {pin.strip()} in {lock}")
        text = text.replace(pin, f"{pin}    --hash=sha256:{sha256_file(wheel)} \\\n", 1)
    lock.write_text(text)


def build(
    out: Path,
    *,
    wheels_from: Path | None = None,
    monitoring_from: Path = Path("/usr/bin"),
) -> Path:
    v = version()
    with tempfile.TemporaryDirectory(prefix="tradewarden-release-") as tmp:
        house = Path(tmp)
        binaries = copy_monitoring(monitoring_from, house)  # refuses before the slow part
        lock = export_lock(house)
        subprocess.run(
            [*uv(), "build", "--quiet", "--wheel", "--out-dir", str(house)],
            cwd=REPO,
            check=True,
        )
        wheel = house / f"tradewarden-{v}-py3-none-any.whl"
        host_files = house / "host-files.tar.gz"
        host_files.write_bytes(embed.bundle_bytes(embed.HOST_FILES))
        sums = [f"{sha256_file(f)}  {f.relative_to(house)}" for f in (wheel, host_files, *binaries)]
        (house / "SHA256SUMS").write_text("\n".join(sums) + "\n")
        built = download_wheels(lock, house, wheels_from)
        add_wheel_hashes(lock, built)
        for sdist in house.glob("*.tar.gz"):
            if sdist != host_files:
                sdist.unlink()  # built into a wheel above; the host installs wheels only
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"tradewarden-{v}-wheelhouse.tar.gz"
        with tarfile.open(target, "w:gz", compresslevel=6) as tar:
            for f in sorted(house.iterdir()):
                if not f.name.startswith("."):  # uv build's .gitignore
                    tar.add(f, arcname=f.name)
    return target


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="build the host's release tarball")
    p.add_argument("--out", type=Path, default=REPO / "dist")
    p.add_argument("--lock-only", action="store_true", help="only write requirements.lock")
    p.add_argument("--wheels", action="store_true", help="only download the locked wheels")
    p.add_argument(
        "--wheels-from", type=Path, help="take the locked wheels from DIR only (no index)"
    )
    p.add_argument(
        "--monitoring-from",
        type=Path,
        default=Path("/usr/bin"),
        help="where the pinned monitoring binaries are (default /usr/bin: Debian's packages)",
    )
    a = p.parse_args(argv)
    if a.lock_only:
        a.out.mkdir(parents=True, exist_ok=True)
        print(export_lock(a.out))
        return 0
    if a.wheels:
        a.out.mkdir(parents=True, exist_ok=True)
        download_wheels(export_lock(a.out), a.out, a.wheels_from)
        print(a.out)
        return 0
    print(build(a.out, wheels_from=a.wheels_from, monitoring_from=a.monitoring_from))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
