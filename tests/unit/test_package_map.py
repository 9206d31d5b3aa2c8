"""daemon/tradewarden/README.md (the package map) and the import-linter layers contract name
every package that exists, and no package that does not."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "daemon" / "tradewarden"


def _packages_on_disk() -> set[str]:
    return {p.parent.name for p in PKG.glob("*/__init__.py")}


def _packages_in_map() -> set[str]:
    text = (PKG / "README.md").read_text()
    table = text.split("## Packages", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.M))


def _packages_in_layers() -> set[str]:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c for c in conf["contracts"] if c["type"] == "layers"]
    names = {n.strip() for layer in layers["layers"] for n in layer.split("|")}
    return names | set(layers.get("exhaustive_ignores", []))


def test_the_package_map_lists_every_package_and_only_those() -> None:
    on_disk = _packages_on_disk()
    in_map = _packages_in_map()
    assert on_disk, PKG
    assert in_map - on_disk == set(), "the README maps packages that do not exist"
    assert on_disk - in_map == set(), "packages missing from daemon/tradewarden/README.md"


def test_every_package_has_its_layer() -> None:
    assert _packages_in_layers() == _packages_on_disk()


def test_the_module_counts_name_the_packages_that_exist() -> None:
    text = (PKG / "README.md").read_text()
    counts = text.split("## Modules per package", 1)[1]
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", counts, flags=re.M))
    assert listed == _packages_on_disk()
