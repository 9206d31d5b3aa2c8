"""Issue 13, defect 11: `recovery-check` compares with the recorded cold address and
supports BIP44 / BIP49 / BIP84 (the standard "abandon ... about" vectors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradewarden.wallet.recovery import check

ABOUT = "abandon " * 11 + "about"
# the published first receive addresses of the BIP39 test mnemonic (no passphrase)
BIP44 = "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"  # m/44'/0'/0'/0/0, P2PKH
BIP49 = "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf"  # m/49'/0'/0'/0/0, P2SH-P2WPKH (BIP49)
BIP84 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"  # m/84'/0'/0'/0/0, P2WPKH (BIP84)


@pytest.mark.parametrize(
    ("path", "address"),
    [
        ("m/44'/0'/0'/0/0", BIP44),
        ("m/49'/0'/0'/0/0", BIP49),
        ("m/84'/0'/0'/0/0", BIP84),
        ("m/44'/1'/0'/0/0", "mkpZhYtJu2r87Js3pDiWJDmPte2NRZ8bJV"),
        ("m/49'/1'/0'/0/0", "2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2"),  # BIP49's own vector
        ("m/84'/1'/0'/0/0", "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl"),
    ],
)
def test_bip44_49_84_first_addresses(path: str, address: str) -> None:
    res = check(ABOUT, address, path)
    assert res.matches and res.derived_address == address
    # without a path: the first receive address of the path the address type implies
    assert check(ABOUT, address).path == path


def test_cli_compares_with_the_recorded_cold_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    from tradewarden.cli.main import app

    monkeypatch.setenv("TRADEWARDEN_STATE_DIR", str(tmp_path))
    runner = CliRunner()
    declared = runner.invoke(
        app, ["wallet", "declare-cold", "--amount", "10000", "--address", BIP44]
    )
    assert declared.exit_code == 0, declared.output
    # the backup restores BIP84's address, not the recorded cold wallet: that is no match,
    # whatever --address says
    res = runner.invoke(app, ["recovery-check", "--address", BIP84], input=ABOUT + "\n")
    assert res.exit_code != 0 and "MATCH:" not in res.output
    # without --address the recorded one is used, with the path its type implies (BIP44)
    ok = runner.invoke(app, ["recovery-check"], input=ABOUT + "\n")
    assert ok.exit_code == 0, ok.output
    assert "MATCH" in ok.output and BIP44 in ok.output and "abandon" not in ok.output
