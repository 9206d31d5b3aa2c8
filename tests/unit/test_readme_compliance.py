"""The README's Compliance section cites only what exists: every test path, runbook and
make target it names, and the settings the live gate really reads."""

from __future__ import annotations

import re
from pathlib import Path

from tradewarden.core.config import Mode, Profile, SecretSource, Settings
from tradewarden.live.gate import GateInputs, decide

ROOT = Path(__file__).resolve().parents[2]


def section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Compliance\n")
    return text[start : text.index("\n## ", start + 1)]


def test_every_cited_path_exists() -> None:
    text = section()
    cited = set(re.findall(r"`(tests/[\w/.]*)`", text))
    cited |= set(re.findall(r"\]\(((?:runbooks|infra)/[\w./-]+)\)", text))
    assert len(cited) >= 15
    assert sorted(p for p in cited if not (ROOT / p).exists()) == []


def test_the_named_settings_and_targets_are_real() -> None:
    text = section()
    fields = Settings.model_fields
    assert fields["terms_accepted"].default is False
    # the live gate really refuses live without the terms (everything else in order)
    everything = dict(
        requested=Mode.LIVE,
        profile=Profile.PROD,
        binance_testnet=False,
        final_hammer=True,
        secret_source=SecretSource.AWS,
        permissions_ok=True,
        promotion_ok=True,
        key_scope="live",
    )
    assert decide(GateInputs(terms_accepted=True, **everything)).live
    refused = decide(GateInputs(terms_accepted=False, **everything))
    assert not refused.live and "terms" in refused.failed
    assert fields["final_hammer"].default is False and fields["binance_testnet"].default is True
    for name in ("BINANCE_TERMS_ACCEPTED", "FINAL_HAMMER", "BINANCE_TESTNET", "KYC/AML"):
        assert name in text
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "`make secrets-scan`" in text and "\nsecrets-scan:" in makefile
    assert "python -m tradewarden.compliance.diagram" in text
    assert (ROOT / "daemon/tradewarden/compliance/diagram.py").is_file()
