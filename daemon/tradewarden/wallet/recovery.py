"""`tradewarden recovery-check`: prove a cold-wallet backup restores the recorded wallet.

The operator types the BIP39 words (no echo); they are validated against the English word
list and checksum, the seed is derived (optional passphrase), and the receive address at a
standard path is derived with `bip-utils` and compared with the recorded cold-wallet
address. Supported: BIP44 (P2PKH, ``1...``/``m...``), BIP49 (P2SH-P2WPKH, ``3...``/``2...``)
and BIP84 (P2WPKH, ``bc1q...``/``tb1q...``), Bitcoin main net (coin 0') or test net (1').
Without a path, the first receive address of the path the address type implies is used.
The words, seed and keys are never stored, logged or printed.
"""

from __future__ import annotations

from dataclasses import dataclass

from bip_utils import (
    Bip44,
    Bip44Changes,
    Bip44Coins,
    Bip49,
    Bip49Coins,
    Bip84,
    Bip84Coins,
)
from mnemonic import Mnemonic

VALID_LENGTHS = (12, 15, 18, 21, 24)
HARDENED = 0x80000000
PURPOSES = {
    44: (Bip44, Bip44Coins.BITCOIN, Bip44Coins.BITCOIN_TESTNET),
    49: (Bip49, Bip49Coins.BITCOIN, Bip49Coins.BITCOIN_TESTNET),
    84: (Bip84, Bip84Coins.BITCOIN, Bip84Coins.BITCOIN_TESTNET),
}


class MnemonicInvalidError(ValueError):
    """Wrong length, unknown word or bad checksum (the message never repeats the words)."""


class DerivationError(ValueError):
    """A path or an address this check does not support."""


@dataclass(frozen=True)
class Path:
    purpose: int
    coin: int
    account: int
    change: int
    index: int

    def __str__(self) -> str:
        return f"m/{self.purpose}'/{self.coin}'/{self.account}'/{self.change}/{self.index}"


@dataclass(frozen=True)
class RecoveryResult:
    matches: bool
    derived_address: str
    expected_address: str
    path: str


def validate(words: str) -> str:
    m = Mnemonic("english")
    normalized = " ".join(words.lower().split())
    parts = normalized.split(" ") if normalized else []
    if len(parts) not in VALID_LENGTHS:
        raise MnemonicInvalidError(
            f"a BIP39 mnemonic has 12, 15, 18, 21 or 24 words; got {len(parts)}"
        )
    unknown = [i + 1 for i, w in enumerate(parts) if w not in m.wordlist]
    if unknown:
        raise MnemonicInvalidError(
            f"word(s) at position {', '.join(map(str, unknown))} are not in the BIP39 English list"
        )
    if not m.check(normalized):
        raise MnemonicInvalidError("the checksum does not match: a word is wrong or out of order")
    return normalized


def parse_path(path: str) -> Path:
    """``m/purpose'/coin'/account'/change/index`` with purpose 44, 49 or 84, coin 0 or 1,
    change 0 (receive) or 1 (change); ``'`` or ``h`` marks a hardened level."""
    parts = path.strip().split("/")
    if len(parts) != 6 or parts[0] != "m":
        raise DerivationError(
            f"derivation path {path!r} must look like m/84'/0'/0'/0/0"
            " (m/purpose'/coin'/account'/change/index)"
        )
    values = []
    for level, p in enumerate(parts[1:]):
        hard = p.endswith(("'", "h"))
        digits = p[:-1] if hard else p
        if not digits.isdigit() or int(digits) >= HARDENED:
            raise DerivationError(f"bad derivation path element {p!r}")
        if hard != (level < 3):
            raise DerivationError(
                f"path element {p!r}: purpose, coin and account are hardened, change and"
                " index are not"
            )
        values.append(int(digits))
    out = Path(*values)
    if out.purpose not in PURPOSES:
        raise DerivationError(f"purpose {out.purpose}' is not BIP44, BIP49 or BIP84")
    if out.coin not in (0, 1):
        raise DerivationError(f"coin {out.coin}' is not Bitcoin (0') or its test net (1')")
    if out.change not in (0, 1):
        raise DerivationError(f"change {out.change} must be 0 (receive) or 1 (change)")
    return out


def default_path(address: str) -> str:
    """The first receive address's path for this kind of address."""
    a = address.strip()
    if a.lower().startswith("bc1q"):
        return "m/84'/0'/0'/0/0"
    if a.lower().startswith("tb1q"):
        return "m/84'/1'/0'/0/0"
    if a.startswith("3"):
        return "m/49'/0'/0'/0/0"
    if a.startswith("2"):
        return "m/49'/1'/0'/0/0"
    if a.startswith("1"):
        return "m/44'/0'/0'/0/0"
    if a.startswith(("m", "n")):
        return "m/44'/1'/0'/0/0"
    raise DerivationError(
        "the address is not a BIP44 (1.../m...), BIP49 (3.../2...) or BIP84 (bc1q.../tb1q...)"
        " address; give --path"
    )


def derive_address(seed: bytes, path: str) -> str:
    p = parse_path(path)
    cls, main, test = PURPOSES[p.purpose]
    change = Bip44Changes.CHAIN_EXT if p.change == 0 else Bip44Changes.CHAIN_INT
    ctx = (
        cls.FromSeed(seed, main if p.coin == 0 else test)
        .Purpose()
        .Coin()
        .Account(p.account)
        .Change(change)
        .AddressIndex(p.index)
    )
    return str(ctx.PublicKey().ToAddress())


def check(
    words: str, expected_address: str, path: str | None = None, passphrase: str = ""
) -> RecoveryResult:
    phrase = validate(words)
    path = str(parse_path(path or default_path(expected_address)))
    seed = Mnemonic.to_seed(phrase, passphrase)
    address = derive_address(seed, path)
    want = expected_address.strip()
    if want.lower().startswith(("bc1", "tb1")):  # bech32 is case-insensitive
        address, want = address.lower(), want.lower()
    return RecoveryResult(address == want, address, expected_address, path)
