"""The encrypted credential file on a real filesystem: 0600, refusals, MultiFernet, rekey."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tradewarden.core.config import load_settings
from tradewarden.secrets.bundle import SecretKind
from tradewarden.secrets.errors import (
    SecretAccessError,
    SecretConfigError,
    SecretFormatError,
    SecretNotFoundError,
)
from tradewarden.secrets.factory import build_source
from tradewarden.secrets.fernet_file import FernetFileSource

SID = "tradewarden/test/binance/trade"
KEY, SECRET = "file-canary-KEY-5d2e", "file-canary-SECRET-a9f1"
PAIR = {"api_key": KEY, "api_secret": SECRET}


def fkey() -> str:
    return Fernet.generate_key().decode()


def no_value(exc: BaseException, *extra: str) -> str:
    msg = str(exc)
    for v in (KEY, SECRET, *extra):
        assert v not in msg and v not in repr(exc)
    return msg


def test_put_get_roundtrip_file_is_0600_and_ciphertext(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "creds.enc"
    src = FernetFileSource(path, fkey())
    version, previous = src.put(SID, SecretKind.BINANCE, PAIR | {"scope": "testnet"})
    assert previous is None and version
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    assert KEY.encode() not in raw and SECRET.encode() not in raw
    b = src.get(SID)
    assert (b["api_key"].reveal(), b["api_secret"].reveal(), b.scope) == (KEY, SECRET, "testnet")
    assert b.version == version and b.created_at is not None
    assert [p.name for p in path.parent.iterdir()] == ["creds.enc"]  # no temp file left


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606])
def test_group_or_world_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "creds.enc"
    FernetFileSource(path, k := fkey()).put(SID, SecretKind.BINANCE, PAIR)
    os.chmod(path, mode)
    with pytest.raises(SecretConfigError) as info:
        FernetFileSource(path, k).get(SID)
    msg = no_value(info.value, k)
    assert "TRADEWARDEN_CREDENTIAL_FILE" in msg and f"{mode:04o}" in msg and "chmod 600" in msg


def test_another_owner_and_a_directory_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "creds.enc"
    FernetFileSource(path, k := fkey()).put(SID, SecretKind.BINANCE, PAIR)
    with pytest.raises(SecretConfigError, match="owned by uid"):
        FernetFileSource(path, k, owner_uid=path.stat().st_uid + 1).get(SID)
    d = tmp_path / "dir.enc"
    d.mkdir(mode=0o700)
    with pytest.raises(SecretConfigError, match="not a regular file"):
        FernetFileSource(d, k).get(SID)


def test_wrong_key_names_the_setting_not_the_key(tmp_path: Path) -> None:
    path = tmp_path / "creds.enc"
    FernetFileSource(path, fkey()).put(SID, SecretKind.BINANCE, PAIR)
    other = fkey()
    with pytest.raises(SecretAccessError) as info:
        FernetFileSource(path, other).get(SID)
    assert "BINANCE_CREDENTIAL_KEY" in no_value(info.value, other)


@pytest.mark.parametrize(
    "content", [b"", b"not a token at all", b"gAAAAAB" + b"A" * 20, b"\x00\xff" * 40]
)
def test_invalid_tokens_are_format_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "creds.enc"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(SecretFormatError, match="not a Fernet token"):
        FernetFileSource(path, fkey()).get(SID)


def test_decrypts_but_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "creds.enc"
    k = fkey()
    path.write_bytes(Fernet(k.encode()).encrypt(b'{"hello": "world"}'))
    os.chmod(path, 0o600)
    with pytest.raises(SecretFormatError, match="not a tradewarden credential store"):
        FernetFileSource(path, k).get(SID)


@pytest.mark.parametrize(
    "bad",
    ["", "short", "x" * 44, f"{Fernet.generate_key().decode()},nope"],
    ids=["empty", "short", "not-base64", "good-key-then-garbage"],  # stable: xdist compares ids
)
def test_malformed_credential_key(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SecretConfigError) as info:
        FernetFileSource(tmp_path / "c.enc", bad)
    assert "BINANCE_CREDENTIAL_KEY" in str(info.value)
    if bad:
        assert bad.split(",")[-1] not in str(info.value)


def test_missing_file_and_missing_secret(tmp_path: Path) -> None:
    src = FernetFileSource(tmp_path / "absent.enc", fkey())
    with pytest.raises(SecretConfigError, match="does not exist"):
        src.get(SID)
    src.put("other/id", SecretKind.BINANCE, PAIR)
    with pytest.raises(SecretNotFoundError) as info:
        src.get(SID)
    assert SID in str(info.value)


def test_multifernet_old_key_still_reads_and_rekey_moves_to_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "creds.enc"
    old, new = fkey(), fkey()
    FernetFileSource(path, old).put(SID, SecretKind.BINANCE, PAIR)
    both = FernetFileSource(path, f"{new}, {old}")
    assert both.get(SID)["api_secret"].reveal() == SECRET
    with pytest.raises(SecretAccessError):
        FernetFileSource(path, new).get(SID)
    result = both.rekey()
    assert (result.secrets, result.was_key, result.keys) == (1, 2, 2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert FernetFileSource(path, new).get(SID)["api_key"].reveal() == KEY
    with pytest.raises(SecretAccessError):
        FernetFileSource(path, old).get(SID)


def test_a_change_on_disk_is_seen_by_a_running_reader(tmp_path: Path) -> None:
    path = tmp_path / "creds.enc"
    k = fkey()
    reader = FernetFileSource(path, k)
    reader.put(SID, SecretKind.BINANCE, PAIR)
    assert reader.get(SID)["api_key"].reveal() == KEY
    FernetFileSource(path, k).put(
        SID, SecretKind.BINANCE, {"api_key": "k2-rot", "api_secret": "s2"}
    )
    assert reader.get(SID)["api_key"].reveal() == "k2-rot"


def test_put_refuses_what_could_not_be_read_back(tmp_path: Path) -> None:
    src = FernetFileSource(tmp_path / "c.enc", fkey())
    with pytest.raises(SecretFormatError, match="api_secret"):
        src.put(SID, SecretKind.BINANCE, {"api_key": KEY})
    assert not (tmp_path / "c.enc").exists()


def test_build_source_file_settings(tmp_path: Path, clean_env: None) -> None:
    with pytest.raises(SecretConfigError, match="TRADEWARDEN_CREDENTIAL_FILE"):
        build_source(load_settings(secret_source="file", state_dir=tmp_path))
    with pytest.raises(SecretConfigError, match="BINANCE_CREDENTIAL_KEY"):
        build_source(
            load_settings(secret_source="file", credential_file=tmp_path / "c", state_dir=tmp_path)
        )
    path = tmp_path / "c.enc"
    FernetFileSource(path, k := fkey()).put(SID, SecretKind.BINANCE, PAIR)
    os.chmod(path, 0o644)
    settings = load_settings(
        secret_source="file", credential_file=path, credential_key=k, state_dir=tmp_path
    )
    with pytest.raises(SecretConfigError, match="0644"):
        build_source(settings)  # refused before anything starts
