"""Encrypted credential file: one Fernet token holding every secret, mode 0600.

``BINANCE_CREDENTIAL_KEY`` holds one or more Fernet keys, comma-separated, newest first
(`MultiFernet`): the file is always written under the first; any of them decrypts. To
change the encryption key: put a new key in front, run ``tradewarden secrets rekey``, then
drop the old key.

The file is opened with ``O_NOFOLLOW`` and checked with ``fstat`` on the descriptor it is
then read from: it is refused when it is a symbolic link, not a regular file, a hard link
(a second name keeps the old content after a rewrite), not owned by this user, or readable
or writable by group or others, and a file swapped in after the check is never read. It is
re-read whenever it changes on disk (so a rotation made by the CLI reaches a running daemon
at its next request) and written atomically (temp file
created 0600, fsync, rename).

Decrypted content::

    {"format": "tradewarden-credentials", "version": 1,
     "secrets": {"<id>": {"kind": "binance", "value": {...}, "stored_at": <epoch>,
                          "version": "<hex>"}}}
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import os
import stat
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from tradewarden.core.config import SecretSource
from tradewarden.secrets import scrub
from tradewarden.secrets.bundle import SecretBundle, SecretKind, is_public_metadata, parse_payload
from tradewarden.secrets.errors import (
    SecretAccessError,
    SecretConfigError,
    SecretFormatError,
    SecretNotFoundError,
)
from tradewarden.secrets.value import Secret

FORMAT = "tradewarden-credentials"
FILE_SETTING = "TRADEWARDEN_CREDENTIAL_FILE"
KEY_SETTING = "BINANCE_CREDENTIAL_KEY"


def parse_keys(keys: Secret | str) -> list[Fernet]:
    raw = keys.reveal() if isinstance(keys, Secret) else keys
    parts = [p.strip() for p in (raw or "").split(",")]
    if not any(parts):
        raise SecretConfigError(f"{KEY_SETTING}: not set (needed for the credential file)")
    out = []
    for n, part in enumerate(parts, 1):
        scrub.register(part)
        try:
            out.append(Fernet(part.encode()))
        except (ValueError, binascii.Error):
            raise SecretConfigError(
                f"{KEY_SETTING}: key {n} of {len(parts)} is not a Fernet key (32 url-safe"
                " base64 bytes; make one with `python -c 'from cryptography.fernet import"
                " Fernet; print(Fernet.generate_key().decode())'`)"
            ) from None
    return out


@dataclass(frozen=True)
class RekeyResult:
    secrets: int
    was_key: int  # 1-based position in BINANCE_CREDENTIAL_KEY that decrypted the file
    keys: int


class FernetFileSource:
    kind = SecretSource.FILE

    def __init__(
        self, path: Path | str, keys: Secret | str, *, owner_uid: int | None = None
    ) -> None:
        self.path = Path(path)
        self.owner_uid = os.geteuid() if owner_uid is None and hasattr(os, "geteuid") else owner_uid
        self._fernets = parse_keys(keys)
        self._multi = MultiFernet(self._fernets)
        self._lock = threading.RLock()
        self._cache: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    def describe(self) -> str:
        return f"encrypted file {self.path}"

    # --- the file ---------------------------------------------------------------------------
    def _open(self) -> tuple[int, os.stat_result]:
        """Open the file without following a symbolic link and check the descriptor itself
        (fstat): what is read is the file that passed the checks, even if the path is
        swapped meanwhile. Returns the open descriptor (the caller closes it) and its stat."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            raise SecretConfigError(
                f"{FILE_SETTING}: {self.path} does not exist (create it with"
                " `tradewarden secrets put`)"
            ) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SecretConfigError(
                    f"{FILE_SETTING}: {self.path} is a symbolic link; refusing it (point the"
                    " setting at the file itself)"
                ) from None
            raise SecretConfigError(
                f"{FILE_SETTING}: {self.path} cannot be read ({exc.strerror})"
            ) from None
        try:
            st = os.fstat(fd)
            self._check_stat(st)
        except BaseException:
            os.close(fd)
            raise
        return fd, st

    def _check_stat(self, st: os.stat_result) -> None:
        if not stat.S_ISREG(st.st_mode):
            raise SecretConfigError(f"{FILE_SETTING}: {self.path} is not a regular file")
        if st.st_nlink != 1:
            raise SecretConfigError(
                f"{FILE_SETTING}: {self.path} has {st.st_nlink} names (a hard link): a second"
                " name keeps the old content after every rewrite or rekey; refusing it (remove"
                " the other link: `find / -xdev -samefile <file>`)"
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise SecretConfigError(
                f"{FILE_SETTING}: {self.path} has mode {mode:04o}, readable or writable by"
                f" group/others; refusing it (run `chmod 600 {self.path}` and check who read it)"
            )
        if self.owner_uid is not None and st.st_uid != self.owner_uid:
            raise SecretConfigError(
                f"{FILE_SETTING}: {self.path} is owned by uid {st.st_uid}, not by this user"
                f" (uid {self.owner_uid}); refusing it"
            )

    def check_file(self) -> os.stat_result:
        """Refuse a symbolic link, a non-regular file, or a file others could read or
        replace. Returns its stat."""
        fd, st = self._open()
        os.close(fd)
        return st

    def _read_token(self) -> tuple[os.stat_result, bytes]:
        """The checked file's stat and content, both from the same descriptor."""
        fd, st = self._open()
        with os.fdopen(fd, "rb") as fh:
            return st, fh.read().strip()

    def _load(self) -> dict[str, Any]:
        with self._lock:
            fd, st = self._open()
            with os.fdopen(fd, "rb") as fh:
                sig = (st.st_mtime_ns, st.st_size, st.st_ino)
                if self._cache is not None and self._cache[0] == sig:
                    return self._cache[1]
                token = fh.read().strip()
            store = self._decode(self._decrypt(token))
            self._cache = (sig, store)
            return store

    def _decrypt(self, token: bytes) -> bytes:
        try:
            return self._multi.decrypt(token)
        except InvalidToken:
            pass
        try:
            raw = base64.urlsafe_b64decode(token)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) < 57 or raw[0] != 0x80:
            raise SecretFormatError(
                f"{FILE_SETTING}: {self.path} is not a Fernet token (corrupt, truncated or"
                " not a credential file)"
            )
        raise SecretAccessError(
            f"{FILE_SETTING}: none of the {len(self._fernets)} key(s) in {KEY_SETTING} decrypts"
            f" {self.path} (wrong key, or the file was altered)"
        )

    def _decode(self, plain: bytes) -> dict[str, Any]:
        try:
            data = json.loads(plain)
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None
        if (
            not isinstance(data, dict)
            or data.get("format") != FORMAT
            or not isinstance(data.get("secrets"), dict)
        ):
            raise SecretFormatError(
                f"{FILE_SETTING}: {self.path} decrypts, but is not a tradewarden credential store"
            )
        for entry in data["secrets"].values():
            if isinstance(entry, dict) and isinstance(entry.get("value"), dict):
                for name, v in entry["value"].items():
                    if isinstance(v, str) and not is_public_metadata(name, v):
                        scrub.register(v)
        return data

    def _write(self, store: dict[str, Any], fernet: Fernet | MultiFernet | None = None) -> None:
        token = (fernet or self._fernets[0]).encrypt(
            json.dumps(store, separators=(",", ":"), sort_keys=True).encode()
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, token + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self._cache = None

    # --- Source -----------------------------------------------------------------------------
    def get(self, secret_id: str, kind: SecretKind = SecretKind.BINANCE) -> SecretBundle:
        entry = self._load()["secrets"].get(secret_id)
        if entry is None:
            raise SecretNotFoundError(
                f"secret {secret_id}: not in the credential file {self.path}", secret_id
            )
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), dict):
            raise SecretFormatError(
                f"secret {secret_id}: malformed entry in {self.path}", secret_id
            )
        if entry.get("kind", kind) != kind:
            raise SecretFormatError(
                f"secret {secret_id}: stored as a {entry.get('kind')} secret, not {kind}",
                secret_id,
            )
        stored = entry.get("stored_at")
        return parse_payload(
            secret_id,
            kind,
            entry["value"],
            version=str(entry.get("version") or ""),
            stored_at=float(stored) if isinstance(stored, int | float) else None,
        )

    def invalidate(self, secret_id: str | None = None) -> None:
        with self._lock:
            self._cache = None

    def ids(self) -> list[str]:
        return sorted(self._load()["secrets"])

    def exists(self, secret_id: str) -> bool:
        if not self.path.exists():
            return False
        return secret_id in self._load()["secrets"]

    def put(
        self,
        secret_id: str,
        kind: SecretKind,
        payload: Mapping[str, str],
        *,
        like: str | None = None,  # Secrets Manager only: one file, one key, no policies
    ) -> tuple[str, str | None]:
        parse_payload(secret_id, kind, dict(payload))  # refuse what could not be read back
        with self._lock:
            if self.path.exists():
                store = self._load()
                store = json.loads(json.dumps(store))  # a copy: the cache stays as read
            else:
                store = {"format": FORMAT, "version": 1, "secrets": {}}
            old = store["secrets"].get(secret_id)
            previous = str(old.get("version")) if isinstance(old, dict) else None
            version = uuid.uuid4().hex
            store["secrets"][secret_id] = {
                "kind": str(kind),
                "value": dict(payload),
                "stored_at": time.time(),
                "version": version,
            }
            self._write(store)
        return version, previous

    def rekey(self) -> RekeyResult:
        """Re-encrypt the file under the newest (first) key."""
        with self._lock:
            _st, token = self._read_token()
            was = 0
            for n, f in enumerate(self._fernets, 1):
                try:
                    f.decrypt(token)
                except InvalidToken:
                    continue
                was = n
                break
            plain = self._decrypt(token)  # raises the precise error if no key fits
            store = self._decode(plain)
            self._write(store)
            return RekeyResult(len(store["secrets"]), was, len(self._fernets))
