#!/usr/bin/python3
"""/usr/local/bin/tradewarden: the responder's `sudo tradewarden ...` on the host.

Runs the daemon's CLI as the service user with the service's settings and state dir, so
it sees what the daemon sees and never leaves root-owned files in its state; the human
(SUDO_USER) is the actor in the audit log.
"""

from __future__ import annotations

import os
import pwd
import sys

REAL = "/opt/tradewarden/venv/bin/tradewarden"
STATE_DIR = "/var/lib/tradewarden"


def main(argv: list[str]) -> int:
    svc = pwd.getpwnam("tradewarden")
    human = os.environ.get("SUDO_USER") or pwd.getpwuid(os.getuid()).pw_name
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": STATE_DIR}
    with open("/etc/tradewarden/tradewarden.env", encoding="utf-8") as fh:
        for line in fh:
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                env[key.strip()] = value.strip().strip('"')
    env.update(TRADEWARDEN_STATE_DIR=STATE_DIR, USER=human, SUDO_USER=human)
    env.update(PYTHONDONTWRITEBYTECODE="1", TERM=os.environ.get("TERM", "dumb"))
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(svc.pw_gid)
        os.setuid(svc.pw_uid)
    elif os.getuid() != svc.pw_uid:
        print("error: use sudo: it runs as the service user tradewarden", file=sys.stderr)
        return 1
    os.umask(0o077)
    os.chdir(STATE_DIR if os.path.isdir(STATE_DIR) else "/")
    os.execve(REAL, [REAL, *argv], env)  # noqa: S606 - a fixed path, no shell
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
