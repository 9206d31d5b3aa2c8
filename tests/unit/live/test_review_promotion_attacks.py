"""Adversarial review of issue 13 #11 (promotion bound to the strategy package): changes
to what the strategy runs that the package hash did not see."""

from __future__ import annotations

import shutil
from pathlib import Path

import tradewarden
import tradewarden.strategy
from tradewarden.live.promotion import package_hash

SRC = Path(tradewarden.__file__).parent


def _tree(tmp_path: Path) -> Path:
    """A copy of tradewarden/strategy and the project modules it imports."""
    project = tmp_path / "tradewarden"
    shutil.copytree(
        Path(tradewarden.strategy.__file__).parent,
        project / "strategy",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(SRC / "__init__.py", project / "__init__.py")
    (project / "core").mkdir()
    shutil.copy(SRC / "core" / "__init__.py", project / "core" / "__init__.py")
    shutil.copy(SRC / "core" / "models.py", project / "core" / "models.py")
    return project / "strategy"


def test_attack_an_extension_module_shadowing_the_strategy_changes_the_hash(
    tmp_path: Path,
) -> None:
    """A compiled ``ma_cross.<abi>.so`` next to ma_cross.py is imported instead of it (the
    extension loader comes first): the ``*.py``-only hash did not change."""
    pkg = _tree(tmp_path)
    before = package_hash(pkg)
    (pkg / "ma_cross.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF not really")
    assert package_hash(pkg) != before


def test_attack_a_data_file_in_the_package_changes_the_hash(tmp_path: Path) -> None:
    pkg = _tree(tmp_path)
    before = package_hash(pkg)
    (pkg / "zones.json").write_text('{"Z4": 0.9}')
    assert package_hash(pkg) != before


def test_attack_a_project_module_the_strategy_imports_changes_the_hash(tmp_path: Path) -> None:
    """ma_cross.py imports Side and Tick from tradewarden/core/models.py: swapping BUY and SELL
    there inverts every signal of a promoted bot without touching tradewarden/strategy/."""
    pkg = _tree(tmp_path)
    before = package_hash(pkg)
    models = pkg.parent / "core" / "models.py"
    text = models.read_text()
    assert 'BUY = "BUY"' in text
    models.write_text(text.replace('BUY = "BUY"', 'BUY = "SELL"', 1))
    assert package_hash(pkg) != before


def test_bytecode_caches_do_not_change_the_hash(tmp_path: Path) -> None:
    pkg = _tree(tmp_path)
    before = package_hash(pkg)
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "zones.cpython-311.pyc").write_bytes(b"cache")
    assert package_hash(pkg) == before


def test_a_release_version_bump_alone_keeps_the_promotion(tmp_path: Path) -> None:
    pkg = _tree(tmp_path)
    before = package_hash(pkg)
    init = pkg.parent / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "9', 1))
    assert package_hash(pkg) == before
