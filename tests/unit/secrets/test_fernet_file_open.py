"""Issue 13, defect 11: the credential file is opened with O_NOFOLLOW and checked with
fstat on the descriptor it is read from: a symlink or a file swapped after the check is
never read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import tradewarden.secrets.fernet_file as fernet_file
from tradewarden.secrets.bundle import SecretKind
from tradewarden.secrets.errors import SecretConfigError
from tradewarden.secrets.fernet_file import FernetFileSource

SID = "tradewarden/test/binance/trade"
GOOD = {"api_key": "good-key-1", "api_secret": "good-secret-1"}
OLD = {"api_key": "old-key-0", "api_secret": "old-secret-0"}


def test_a_symlink_to_a_good_file_is_refused(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    real = tmp_path / "elsewhere" / "creds.enc"
    FernetFileSource(real, key).put(SID, SecretKind.BINANCE, GOOD)
    link = tmp_path / "creds.enc"
    link.symlink_to(real)
    with pytest.raises(SecretConfigError, match="symbolic link"):
        FernetFileSource(link, key).get(SID)
    with pytest.raises(SecretConfigError, match="symbolic link"):
        FernetFileSource(link, key).check_file()


def test_a_file_swapped_after_the_check_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the look at the path and the read, an attacker who can write the directory
    puts back an old, world-readable copy (a rollback). Only the file that passed the
    checks may be read."""
    key = Fernet.generate_key().decode()
    path = tmp_path / "creds.enc"
    stale = tmp_path / "stale.enc"
    FernetFileSource(stale, key).put(SID, SecretKind.BINANCE, OLD)
    os.chmod(stale, 0o644)
    src = FernetFileSource(path, key)
    src.put(SID, SecretKind.BINANCE, GOOD)
    real_stat, real_lstat = os.stat, os.lstat

    def swap_after(fn):  # type: ignore[no-untyped-def]
        def inner(p, *a, **k):  # type: ignore[no-untyped-def]
            st = fn(p, *a, **k)
            if Path(p) == path and stale.exists():
                os.replace(stale, path)
            return st

        return inner

    monkeypatch.setattr(fernet_file.os, "stat", swap_after(real_stat))
    monkeypatch.setattr(fernet_file.os, "lstat", swap_after(real_lstat))
    src.invalidate()
    try:
        got = src.get(SID)["api_key"].reveal()
    except SecretConfigError:
        return  # refused: fine
    finally:
        monkeypatch.undo()
    assert got == "good-key-1", "a file swapped in after the check was read"
