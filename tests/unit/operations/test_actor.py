"""Issue 13, defect 7: halt/reset/promote record who acted from the OS, not from $USER."""

from __future__ import annotations

import os
import pwd

import pytest

from tradewarden.core.actor import current_actor


def test_actor_is_the_os_uid_not_the_user_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "mallory-spoofed")
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.delenv("SUDO_UID", raising=False)
    actor = current_actor()
    assert "mallory-spoofed" not in actor
    assert f"uid={os.getuid()}" in actor
    assert actor.startswith(pwd.getpwuid(os.getuid()).pw_name + "@")


@pytest.mark.parametrize("var", ["SSM_SESSION_ID", "AWS_SSM_SESSION_ID"])
def test_actor_records_the_ssm_session(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    for v in ("SSM_SESSION_ID", "AWS_SSM_SESSION_ID"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv(var, "alice-0a1b2c3d4e5f67890")
    assert "ssm=alice-0a1b2c3d4e5f67890" in current_actor()


def test_sudo_user_is_only_believed_for_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUDO_USER", "alice")
    monkeypatch.setenv("SUDO_UID", "1000")
    actor = current_actor()
    if os.getuid() == 0:
        assert actor.startswith("alice@") and "sudo_uid=1000" in actor and "uid=0" in actor
    else:
        assert not actor.startswith("alice@") and f"uid={os.getuid()}" in actor
