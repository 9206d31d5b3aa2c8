"""Mnemonic recovery check against the official BIP39 vectors and the BIP84 example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mnemonic import Mnemonic

from tradewarden.wallet.recovery import (
    DerivationError,
    MnemonicInvalidError,
    check,
    parse_path,
    validate,
)

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "bip39_vectors.json").read_text())
ABOUT = "abandon " * 11 + "about"


@pytest.mark.parametrize(("entropy", "words", "seed"), VECTORS["english"])
def test_official_vectors(entropy: str, words: str, seed: str) -> None:
    assert validate(words) == words
    assert Mnemonic("english").to_mnemonic(bytes.fromhex(entropy)) == words
    assert Mnemonic.to_seed(words, "TREZOR").hex() == seed


def test_bip84_first_receive_address() -> None:
    # BIP84's published test vector for this mnemonic, m/84'/0'/0'/0/0
    res = check(ABOUT, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu")
    assert res.matches and res.derived_address == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    # BIP84 m/84'/0'/0'/0/1 and the first change address
    assert check(ABOUT, "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g", "m/84'/0'/0'/0/1").matches
    assert check(ABOUT, "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el", "m/84'/0'/0'/1/0").matches


def test_wrong_wallet_does_not_match() -> None:
    legal = "legal winner thank year wave sausage worth useful legal winner thank yellow"
    res = check(legal, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu")
    assert not res.matches
    # a passphrase makes it a different wallet too
    assert not check(ABOUT, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", passphrase="x").matches


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("abandon " * 10 + "about", "got 11"),
        ("abandon " * 11 + "abandon", "checksum"),
        ("abandon " * 11 + "bitcoinz", "position 12"),
        ("about " + "abandon " * 11, "checksum"),  # reordered
        ("", "got 0"),
    ],
)
def test_invalid_mnemonics_are_refused_without_echo(words: str, message: str) -> None:
    with pytest.raises(MnemonicInvalidError) as err:
        validate(words)
    assert message in str(err.value)
    assert "abandon" not in str(err.value) and "bitcoinz" not in str(err.value)


def test_bad_paths() -> None:
    for bad in (
        "84'/0'",
        "m/x",
        "m/4294967296",
        "m/84'/0'/0'/0",  # too short
        "m/84/0'/0'/0/0",  # purpose not hardened
        "m/84'/0'/0'/0'/0",  # change hardened
        "m/86'/0'/0'/0/0",  # taproot: not supported
        "m/84'/2'/0'/0/0",  # not bitcoin
        "m/84'/0'/0'/2/0",
    ):
        with pytest.raises(DerivationError):
            parse_path(bad)


def test_cli_never_echoes_the_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    from typer.testing import CliRunner

    from tradewarden.cli.main import app

    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path))  # no cold wallet recorded

    runner = CliRunner()
    ok = runner.invoke(
        app,
        ["recovery-check", "--address", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"],
        input=ABOUT + "\n",
    )
    assert ok.exit_code == 0 and "MATCH" in ok.output
    assert "abandon" not in ok.output
    bad = runner.invoke(app, ["recovery-check", "--address", "bc1qxyz"], input=ABOUT + "\n")
    assert bad.exit_code == 1 and "MISMATCH" in bad.output and "abandon" not in bad.output
    invalid = runner.invoke(
        app, ["recovery-check", "--address", "bc1qxyz"], input="abandon abandon\n"
    )
    assert invalid.exit_code == 2 and "abandon" not in invalid.output
