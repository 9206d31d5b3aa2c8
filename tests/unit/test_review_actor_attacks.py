"""Review of issue 13 #7: the actor string is parsed again (`approvals.ssm_session`,
`approvals.is_proposer`), so nothing taken from the environment may inject a field."""

from __future__ import annotations

import pytest

import tradewarden.control as control
from tradewarden.approvals import is_proposer, ssm_session


def test_attack_sudo_user_cannot_inject_an_ssm_session_or_a_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(control.os, "getuid", lambda: 0)
    for v in control.SSM_SESSION_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("SUDO_USER", "bob ssm=forged-session")
    monkeypatch.setenv("SUDO_UID", "1001")
    actor = control.current_actor()
    assert ssm_session(actor) is None, actor
    assert " " not in actor.split("@", 1)[0]


def test_attack_ssm_variable_cannot_inject_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSM_SESSION_ID", "s1 uid=0 sudo ssm=other")
    actor = control.current_actor()
    assert ssm_session(actor) == "s1uid0sudossmother"
    assert not is_proposer("other", actor)
