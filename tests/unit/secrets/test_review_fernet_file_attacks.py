"""Adversarial review of issue 13 #11 (credential file opened O_NOFOLLOW + fstat): what
else could be put at TRADEWARDEN_CREDENTIAL_FILE."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tradewarden.secrets.bundle import SecretKind
from tradewarden.secrets.errors import SecretConfigError
from tradewarden.secrets.fernet_file import FernetFileSource

SID = "tradewarden/test/binance/trade"
GOOD = {"api_key": "good-key-1", "api_secret": "good-secret-1"}


def _good(tmp_path: Path) -> tuple[Path, str]:
    key = Fernet.generate_key().decode()
    path = tmp_path / "creds.enc"
    FernetFileSource(path, key).put(SID, SecretKind.BINANCE, GOOD)
    return path, key


def test_attack_a_hard_link_to_the_credential_file_is_refused(tmp_path: Path) -> None:
    """A second name for the file survives every atomic rewrite (the rename replaces one
    name): after `secrets rekey` under a new key because the old one leaked, the copy
    under the old key stays readable with the leaked key."""
    path, key = _good(tmp_path)
    os.link(path, tmp_path / "copy.enc")
    with pytest.raises(SecretConfigError, match="hard link"):
        FernetFileSource(path, key).get(SID)
    with pytest.raises(SecretConfigError, match="hard link"):
        FernetFileSource(tmp_path / "copy.enc", key).get(SID)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "creds.enc"
    os.mkfifo(fifo, 0o600)
    result: list[BaseException] = []
    key = Fernet.generate_key().decode()

    def read() -> None:
        try:
            FernetFileSource(fifo, key).get(SID)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            result.append(exc)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the reader so the test process can exit
        with open(fifo, "wb"):
            pass
        pytest.fail("opening a FIFO blocked")
    assert isinstance(result[0], SecretConfigError) and "not a regular file" in str(result[0])


def test_a_directory_and_a_foreign_owner_are_refused(tmp_path: Path) -> None:
    d = tmp_path / "dir.enc"
    d.mkdir(mode=0o700)
    key = Fernet.generate_key().decode()
    with pytest.raises(SecretConfigError, match="not a regular file"):
        FernetFileSource(d, key).get(SID)
    path, key = _good(tmp_path)
    with pytest.raises(SecretConfigError, match="owned by uid"):
        FernetFileSource(path, key, owner_uid=os.geteuid() + 1).get(SID)
