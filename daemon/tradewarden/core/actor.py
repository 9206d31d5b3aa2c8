"""Who is acting, for the audit log: the OS identity behind a command (never ``$USER``)."""

from __future__ import annotations

import os
import pwd

SSM_SESSION_VARS = ("SSM_SESSION_ID", "AWS_SSM_SESSION_ID")
# the host's `sudo tradewarden` wrapper (ops/cloud-init/tradewarden-cli.py) runs the CLI as
# this service user with SUDO_USER set to the human who ran sudo
SERVICE_USER = "tradewarden"


def current_actor() -> str:
    """Who is acting, for the audit log: ``name@host uid=N`` from the process's real uid
    (``$USER`` is not believed: anyone can set it), the sudo caller when root runs through
    sudo or the host's ``sudo tradewarden`` wrapper runs the CLI as the service user, and
    the AWS SSM Session Manager session id when one is set (``SSM_SESSION_ID`` or
    ``AWS_SSM_SESSION_ID``; sudo's environment reset normally drops it)."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = f"uid{uid}"
    parts = []
    sudo_user = os.environ.get("SUDO_USER", "")
    # sudo (root) or the host wrapper (the service user) set SUDO_USER; anyone else may not
    if (uid == 0 or name == SERVICE_USER) and sudo_user and sudo_user not in ("root", name):
        name = _printable(sudo_user).replace("@", "").replace(":", "") or f"uid{uid}"
        parts.append("sudo")
        sudo_uid = os.environ.get("SUDO_UID", "")
        if sudo_uid.isdigit():
            parts.append(f"sudo_uid={sudo_uid}")
    parts.insert(0, f"uid={uid}")
    for var in SSM_SESSION_VARS:
        session = os.environ.get(var, "").strip()
        if session:
            parts.append(f"ssm={_printable(session)}")
            break
    return f"{name}@{os.uname().nodename} {' '.join(parts)}"


def _printable(value: str) -> str:
    return "".join(c for c in value if c.isalnum() or c in "-_.@:")[:128]
