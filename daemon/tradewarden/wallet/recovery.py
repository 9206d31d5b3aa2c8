"""`tradewarden recovery-check`: prove a cold-wallet backup restores the recorded wallet.

The operator types the BIP39 words (no echo); they are validated against the English word
list and checksum, the seed is derived (optional passphrase), the first receive address of
the stated BIP84 path is derived and compared with the recorded cold-wallet address. The
words, seed and keys are never stored, logged or printed.
"""

from __future__ import annotations

from dataclasses import dataclass

from mnemonic import Mnemonic

from tradewarden.wallet.bip32 import derive, p2wpkh_address

DEFAULT_PATH = "m/84'/0'/0'/0/0"
VALID_LENGTHS = (12, 15, 18, 21, 24)


class MnemonicInvalidError(ValueError):
    """Wrong length, unknown word or bad checksum (the message never repeats the words)."""


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


def check(
    words: str, expected_address: str, path: str = DEFAULT_PATH, passphrase: str = ""
) -> RecoveryResult:
    phrase = validate(words)
    seed = Mnemonic.to_seed(phrase, passphrase)
    hrp = "tb" if expected_address.startswith("tb1") else "bc"
    address = p2wpkh_address(derive(seed, path), hrp)
    return RecoveryResult(address == expected_address.strip(), address, expected_address, path)
