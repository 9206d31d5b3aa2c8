"""Review of issue 13 #7: the actor string is parsed again (`approvals.ssm_session`,
`approvals.is_proposer`), so nothing taken from the environment may inject a field."""

from __future__ import annotations

import pytest

import tradewarden.core.actor as control
from tradewarden.wallet.approvals import is_proposer, ssm_session


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


def _named(name: str):  # type: ignore[no-untyped-def]
    import pwd

    return pwd.struct_passwd((name, "x", 4242, 4242, "", "/", "/bin/false"))


def test_the_host_wrapper_s_human_is_the_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the host `sudo tradewarden ...` (ops/cloud-init/tradewarden-cli.py) runs the CLI
    as the service user with SUDO_USER set to the human; believing SUDO_USER only for
    root recorded every halt, reset, promotion and approval as `tradewarden@host`."""
    import pwd

    real = pwd.getpwuid
    monkeypatch.setattr(control.os, "getuid", lambda: 4242)
    monkeypatch.setattr(
        control.pwd,
        "getpwuid",
        lambda uid: _named(control.SERVICE_USER) if uid == 4242 else real(uid),
    )
    monkeypatch.setenv("SUDO_USER", "alice")
    actor = control.current_actor()
    assert actor.startswith("alice@") and "uid=4242" in actor and "sudo" in actor, actor


def test_sudo_user_is_not_believed_for_another_user(monkeypatch: pytest.MonkeyPatch) -> None:
    import pwd

    real = pwd.getpwuid
    monkeypatch.setattr(control.os, "getuid", lambda: 4243)
    monkeypatch.setattr(
        control.pwd,
        "getpwuid",
        lambda uid: _named("mallory") if uid == 4243 else real(uid),
    )
    monkeypatch.setenv("SUDO_USER", "alice")
    actor = control.current_actor()
    assert actor.startswith("mallory@") and "alice" not in actor, actor
