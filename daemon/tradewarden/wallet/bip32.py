"""Minimal BIP32 private derivation on secp256k1 and BIP84 (P2WPKH, bech32) addresses.

Only what the recovery check needs: seed -> m/84'/coin'/account'/change/index -> address.
Keys live in local variables for the duration of one call and are never logged.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HARDENED = 0x80000000
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


class DerivationError(ValueError):
    pass


def _pub(k: int) -> bytes:
    key = ec.derive_private_key(k, ec.SECP256K1())
    return key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)


def parse_path(path: str) -> list[int]:
    parts = path.strip().split("/")
    if not parts or parts[0] != "m":
        raise DerivationError(f"derivation path {path!r} must start with m/")
    out = []
    for p in parts[1:]:
        hard = p.endswith(("'", "h"))
        digits = p.rstrip("'h")
        if not digits.isdigit() or int(digits) >= HARDENED:
            raise DerivationError(f"bad derivation path element {p!r}")
        out.append(int(digits) + (HARDENED if hard else 0))
    return out


def derive(seed: bytes, path: str) -> bytes:
    """Compressed public key at `path`."""
    i = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    k, chain = int.from_bytes(i[:32], "big"), i[32:]
    for index in parse_path(path):
        data = (b"\x00" + k.to_bytes(32, "big")) if index >= HARDENED else _pub(k)
        i = hmac.new(chain, data + index.to_bytes(4, "big"), hashlib.sha512).digest()
        il = int.from_bytes(i[:32], "big")
        k, chain = (il + k) % N, i[32:]
        if il >= N or k == 0:
            raise DerivationError("invalid child key (probability 2^-127); use the next index")
    return _pub(k)


def _polymod(values: list[int]) -> int:
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (b >> i) & 1 else 0
    return chk


def _convertbits(data: bytes, frombits: int, tobits: int) -> list[int]:
    acc = bits = 0
    ret = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if bits:
        ret.append((acc << (tobits - bits)) & maxv)
    return ret


def p2wpkh_address(pubkey: bytes, hrp: str = "bc") -> str:
    # OpenSSL 3 keeps RIPEMD-160 in its default provider (3.0.7+); hashlib exposes it
    prog = hashlib.new("ripemd160", hashlib.sha256(pubkey).digest()).digest()
    data = [0] + _convertbits(prog, 8, 5)
    hrp_exp = [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]
    pm = _polymod(hrp_exp + data + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)
