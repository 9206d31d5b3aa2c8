"""Every command a runbook tells a responder to type works where the runbook says to type it.

* `tradewarden ...`: the command and its flags exist in the real CLI parser; on the host it
  is `sudo tradewarden ...` (the host's wrapper, ops/cloud-init/tradewarden-cli.py, refuses
  anyone but root and the service user).
* every other command in a ```sh block (and an inline `sudo ...`/known command) exists on
  the host as deployed: derived from what cloud-init installs (user-data.yaml.tmpl
  `packages:`, mapped to commands in PACKAGE_COMMANDS), the AL2023 base image (BASE_IMAGE,
  listed package by package), the release bundle (install-host.sh: the venv, node_exporter
  and the monitoring binaries) and bash's builtins. Lines under a `# from a workstation`
  comment are checked against WORKSTATION instead, `# offline` lines against OFFLINE.
  Commands inside others are checked too: the script of `sh -c '...'`, the command after
  env/xargs/timeout/nice/exec, and `$(...)` substitutions.
* commands that need root on the host (journalctl: the SSM login is not in systemd-journal;
  systemctl verbs that change state; nft) are run with sudo.
* `systemctl`/`journalctl -u` name units the host has.
* every local URL (localhost:PORT) is a port a unit on the host listens on (its flags, or
  the env file cloud-init writes for the daemon).
* every runbook is reachable from runbooks/README.md, has the sections a responder needs
  and a "Done when" line.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import typer

from tradewarden.cli.main import app

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "runbooks"
USER_DATA = REPO / "ops" / "cloud-init" / "user-data.yaml.tmpl"
INSTALL_HOST = REPO / "ops" / "cloud-init" / "install-host.sh"
UNITS = REPO / "ops" / "systemd"

# cloud-init `packages:` (AL2023 package names) -> the commands each puts on PATH. A package
# added to the user data without an entry here fails test_every_package_is_mapped.
PACKAGE_COMMANDS: dict[str, set[str]] = {
    "python3.11": {"python3.11"},
    "python3.11-pip": {"pip3.11"},
    "nftables": {"nft"},
    # the agent's control script is not on PATH; runbooks name it by its full path
    "amazon-cloudwatch-agent": {"/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"},
    "dnf-automatic": {"dnf-automatic"},
    "logrotate": {"logrotate"},
}

# The Amazon Linux 2023 standard AMI (al2023-ami-*, the instance's image), package by package:
# only packages that are in that image (not the minimal AMI or the container image). jq,
# psmisc (fuser, killall), wget, net-tools (netstat) and bind-utils (dig) are not listed:
# they are not in the image, so runbooks must not need them.
BASE_IMAGE: dict[str, set[str]] = {
    "bash": {"bash", "sh"},
    "coreutils": {
        "basename",
        "cat",
        "chmod",
        "chown",
        "cp",
        "cut",
        "date",
        "df",
        "dirname",
        "du",
        "echo",
        "env",
        "false",
        "head",
        "id",
        "install",
        "ln",
        "ls",
        "mkdir",
        "mktemp",
        "mv",
        "printf",
        "readlink",
        "rm",
        "sha256sum",
        "sleep",
        "sort",
        "stat",
        "tail",
        "tee",
        "test",
        "touch",
        "tr",
        "true",
        "uniq",
        "wc",
        "whoami",
    },  # fmt: skip
    "grep": {"grep"},
    "sed": {"sed"},
    "gawk": {"awk", "gawk"},
    "findutils": {"find", "xargs"},
    "procps-ng": {"ps", "top", "free", "uptime", "pgrep", "vmstat"},
    "util-linux": {"dmesg", "findmnt", "lsblk", "mount"},
    # the root filesystem is XFS on a partition; cloud-init's growpart/resizefs use these
    "xfsprogs": {"xfs_growfs"},
    "cloud-utils-growpart": {"growpart"},
    "systemd": {"systemctl", "journalctl", "systemd-analyze", "timedatectl", "hostnamectl"},
    "curl-minimal": {"curl"},  # AL2023's default curl (http/https only: all we need)
    "awscli-2": {"aws"},  # AWS CLI v2 is part of the AL2023 AMI
    "chrony": {"chronyc"},
    "rpm": {"rpm"},
    "dnf": {"dnf"},
    "sudo": {"sudo"},
    "iproute": {"ip", "ss"},
    "tar": {"tar"},
    "gzip": {"gzip", "gunzip"},
    "python3": {"python3"},  # the system Python (3.9); refresh-allowlist.py runs on it
    "amazon-ssm-agent": {"amazon-ssm-agent"},
}
# bash builtins and keywords a runbook line may use. trap: deploy-rollback.md re-enables the
# muted alarms on the shell's EXIT however the deploy ends (a POSIX special builtin, in every sh)
BUILTINS = {"cd", "export", "read", "set", "unset", "umask", "exec", ".", "source", "for", "do",
            "done", "if", "then", "fi", "kill", "wait", "trap"}  # fmt: skip

# What install-host.sh installs from the release bundle. The monitoring binaries are pinned
# in the bundle and installed to /usr/local/bin (issue 15: promtool, amtool, prometheus,
# alertmanager, node_exporter).
RELEASE_BUNDLE = {
    "tradewarden",  # /usr/local/bin/tradewarden, the sudo wrapper (bootstrap bundle)
    "/opt/tradewarden/venv/bin/tradewarden",
    "/usr/local/libexec/tradewarden/install-host.sh",
    "node_exporter",
    "prometheus",
    "promtool",
    "alertmanager",
    "amtool",
}

# Not on the host (not in the image, not installed): an inline mention is checked too.
NOT_ON_HOST = {"jq", "fuser", "killall", "lsof", "wget", "netstat", "dig", "nslookup", "htop",
               "telnet", "nc", "strace"}  # fmt: skip

# Run from a responder's own machine (AWS admin profile, the Pulumi project, a password
# manager): never on the host.
WORKSTATION = {"aws", "pulumi", "git", "pass", "qrencode", "python3", "curl"} | (
    BASE_IMAGE["coreutils"] | BASE_IMAGE["grep"] | BASE_IMAGE["sed"] | BASE_IMAGE["gawk"] | BUILTINS
)
# An offline, trusted terminal with tradewarden installed (cold-wallet backup checks).
OFFLINE = {"tradewarden"}
# tradewarden subcommands meant for that offline terminal, not the host
OFF_HOST_SUBCOMMANDS = {"recovery-check"}

# Default ports of the binaries the units run, when a unit gives no --web.listen-address.
DEFAULT_PORTS = {"prometheus": 9090, "alertmanager": 9093, "node_exporter": 9100}

# Units the host has besides ops/systemd's: from its packages and the base image.
SYSTEM_UNITS = {"nftables", "amazon-cloudwatch-agent", "dnf-automatic", "dnf-automatic.timer",
                "chronyd", "amazon-ssm-agent", "systemd-journald", "sshd",
                "cloud-init"}  # fmt: skip
SYSTEMCTL_VALUE_OPTS = {"-p", "--property", "-n", "--lines", "-t", "--type", "-s", "--signal"}
# systemctl verbs that change state need root
SYSTEMCTL_ROOT = {"start", "stop", "restart", "reload", "enable", "disable", "kill", "mask",
                  "unmask", "reset-failed", "daemon-reload", "edit"}  # fmt: skip


def user_data_packages() -> list[str]:
    pkgs: list[str] = []
    inside = False
    for line in USER_DATA.read_text().splitlines():
        if line.startswith("packages:"):
            inside = True
            continue
        if inside:
            m = re.match(r"  - (\S+)\s*$", line)
            if not m:
                break
            pkgs.append(m.group(1))
    return pkgs


def unit_files() -> dict[str, str]:
    return {p.name: p.read_text() for p in UNITS.glob("*.service")}


def host_commands() -> set[str]:
    cmds = set(BUILTINS) | RELEASE_BUNDLE
    for pkg in user_data_packages():
        cmds |= PACKAGE_COMMANDS[pkg]
    for group in BASE_IMAGE.values():
        cmds |= group
    return cmds


def daemon_env() -> dict[str, str]:
    """/etc/tradewarden/tradewarden.env as cloud-init writes it (the daemon's EnvironmentFile)."""
    lines = USER_DATA.read_text().splitlines()
    start = lines.index("  - path: /etc/tradewarden/tradewarden.env")
    env = {}
    for line in lines[start + 1 :]:
        if line.startswith("  - path:"):
            break
        m = re.match(r"\s{6}([A-Z_]+)=(.*)$", line)
        if m:
            env[m.group(1)] = m.group(2)
    return env


def listening_ports() -> dict[int, str]:
    """port -> the unit that listens on it (localhost), from the units' flags and env files."""
    ports: dict[int, str] = {}
    for name, text in unit_files().items():
        m = re.search(r"^ExecStart=(\S+)(.*)$", text, re.M)
        if not m:
            continue
        binary, args = Path(m.group(1)).name, m.group(2)
        flag = re.search(r"--web\.listen-address=\S*:(\d+)", args)
        if flag:
            ports[int(flag.group(1))] = name
        elif binary in DEFAULT_PORTS:
            ports[DEFAULT_PORTS[binary]] = name
        elif binary == "tradewarden" and " run" in args and "EnvironmentFile=" in text:
            ports[int(daemon_env()["TRADEWARDEN_METRICS_PORT"])] = name
    return ports


def host_units() -> set[str]:
    names = {p.stem for p in UNITS.iterdir() if p.suffix in (".service", ".timer")}
    names |= {p.name for p in UNITS.iterdir() if p.suffix == ".timer"}
    return names | SYSTEM_UNITS


@dataclass(frozen=True)
class Command:
    book: str
    where: str  # host, workstation, offline, inline
    words: tuple[str, ...]  # the command without sudo, VAR=x prefixes or redirections
    sudo: bool
    raw: str
    admin: bool = False  # run with the admin role's credentials passed through sudo


# Writes to Secrets Manager: the host role may only read secrets (infra/iam.py), and
# `sudo tradewarden` passes no AWS credentials through, so on the host these run in the
# admin-role block (sudo --preserve-env=AWS_... -u tradewarden sh -c '...', approvers.md).
ADMIN_WRITES = {("secrets", "put"), ("secrets", "rotate"), ("approvers", "add"),
                ("approvers", "remove")}  # fmt: skip


ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SUDO_ARG_OPTS = {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"}


def _substitutions(line: str) -> tuple[str, list[str]]:
    """The line with each $(...) replaced by a word, and the commands inside them (nested
    ones too), so a command in a substitution is checked like any other."""
    out, inner = [], []
    i, quote = 0, ""
    while i < len(line):
        ch = line[i]
        if ch == "'" and quote != '"':
            quote = "" if quote == "'" else "'"
        elif ch == '"' and quote != "'":
            quote = "" if quote == '"' else '"'
        elif ch == "\\" and quote != "'":
            out.append(line[i : i + 2])
            i += 2
            continue
        elif line.startswith("$(", i) and quote != "'":
            depth, j, q = 1, i + 2, ""
            while j < len(line) and depth:
                c = line[j]
                if c in "'\"" and q in ("", c):
                    q = "" if q == c else c
                elif not q and c == "(":
                    depth += 1
                elif not q and c == ")":
                    depth -= 1
                j += 1
            if depth:
                raise ValueError(f"unclosed $( in {line!r}")
            body, nested = _substitutions(line[i + 2 : j - 1])
            inner += [body, *nested]
            out.append("X")
            i = j
            continue
        out.append(ch)
        i += 1
    return "".join(out), inner


def _simple_commands(line: str) -> list[list[str]]:
    """A shell line split into simple commands (|, &&, ||, ;), redirections dropped; the
    commands inside $(...) follow the line's own."""
    line, inner = _substitutions(line)
    return [c for part in (line, *inner) for c in _split(part)]


def _split(line: str) -> list[list[str]]:
    lex = shlex.shlex(re.sub(r"<[^>\s]*>", "X", line), posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = "#"
    out: list[list[str]] = [[]]
    tokens = list(lex)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("|", "||", "&&", ";", "&"):
            out.append([])
        elif tok in (">", ">>", "<", ">&", "<<<"):
            if out[-1] and out[-1][-1].isdigit():
                out[-1].pop()
            i += 1  # the redirection's target
        else:
            out[-1].append(tok)
        i += 1
    return [c for c in out if c]


def _open_quote(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:
        return True
    return False


def _unwrap(words: list[str]) -> tuple[list[str], bool, bool]:
    """Strip VAR=x prefixes and sudo (with its options); sudo ... sh -c '<runs the venv's
    tradewarden "$@">' tradewarden ARGS is the CLI with ARGS, under sudo."""
    sudo = admin = False
    while words and ASSIGN.match(words[0]):
        words = words[1:]
    if words and words[0] == "sudo":
        sudo = True
        words = words[1:]
        while words and words[0].startswith("-"):
            opt = words[0]
            words = words[1:]
            admin = admin or (opt.startswith("--preserve-env=") and "AWS_SESSION_TOKEN" in opt)
            if opt in SUDO_ARG_OPTS and words:
                words = words[1:]
        while words and ASSIGN.match(words[0]):
            words = words[1:]
    if words[:2] == ["sh", "-c"] and len(words) >= 4 and "bin/tradewarden" in words[2]:
        words = ["tradewarden", *words[4:]]
    else:
        admin = False
    return words, sudo, admin


WRAPPERS = {"env", "xargs", "timeout", "nice", "nohup", "watch", "exec", "command", "time"}
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")


def _expand(words: list[str]) -> list[tuple[list[str], bool, bool]]:
    """(command, sudo, admin) for a simple command and every command it runs: the script of
    sh/bash -c (the admin block's too), the command after env/xargs/timeout/... A wrapped
    command runs with the wrapper's sudo."""
    inner, sudo, admin = _unwrap(words)
    out = [(inner, sudo, admin)]
    script = None
    if admin:  # sudo ... sh -c '<script>' tradewarden ARGS: the script runs as well
        i = words.index("-c")
        script = words[i + 1]
    elif inner[:2] in (["sh", "-c"], ["bash", "-c"]) and len(inner) >= 3:
        script = inner[2]
    if script is not None:
        for cmd in _simple_commands(script):
            out += [(w, sudo or s, a) for w, s, a in _expand(cmd)]
    elif inner and inner[0] in WRAPPERS and inner[0] not in BUILTINS | {"exec"}:
        rest = inner[1:]
        while rest and (rest[0].startswith("-") or ASSIGN.match(rest[0])):
            rest = rest[1:]
        if inner[0] == "timeout" and rest:
            rest = rest[1:]  # the duration
        if rest:
            out += [(w, sudo or s, a) for w, s, a in _expand(rest)]
    elif inner and inner[0] == "exec" and len(inner) > 1:
        out += [(w, sudo or s, a) for w, s, a in _expand(inner[1:])]
    return out


def commands(text: str, book: str = "") -> list[Command]:
    out: list[Command] = []
    where = "host"
    in_fence = False
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
            where = "host"
            continue
        if in_fence:
            if stripped.startswith("#"):
                low = stripped.lower()
                if "workstation" in low or "your own machine" in low:
                    where = "workstation"
                elif "offline" in low:
                    where = "offline"
                elif "on the host" in low:
                    where = "host"
                continue
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            full = pending + stripped
            if _open_quote(full):  # a quoted script spans lines (sh -c '...')
                pending = full + " "
                continue
            pending = ""
            if not full:
                continue
            subs = [a or b for a, b in SUBSTITUTION.findall(full)]
            for words in [w for part in (full, *subs) for w in _simple_commands(part)]:
                for inner, sudo, admin in _expand(words):
                    if inner:
                        out.append(Command(book, where, tuple(inner), sudo, full, admin))
            continue
        for span in re.findall(r"`([^`]+)`", line):
            try:
                simple = _simple_commands(span)
            except ValueError:
                continue
            if not simple:
                continue
            lead = simple[0]
            if len(lead) == 1 and ASSIGN.match(lead[0]) and len(simple) > 1:
                lead = simple[1]  # VAR="$(cmd ...)": the command is the substitution's
            if len(lead) < 2:
                continue  # a bare word is a name, not a command
            first = lead[0]
            known = host_commands() | WORKSTATION | NOT_ON_HOST | {"tradewarden", "sudo"}
            if first not in known and not first.startswith("/"):
                continue
            for words in simple:
                for inner, sudo, admin in _expand(words):
                    if inner:
                        out.append(Command(book, "inline", tuple(inner), sudo, span, admin))
    return list(dict.fromkeys(out))  # a nested $(...) is found by two walks: once each


def check(cmdline: str) -> str | None:
    """None if the tradewarden command and its flags parse; else what is wrong."""
    words = shlex.split(re.sub(r"<[^>]*>", "X", cmdline))
    if words and words[0] == "sudo":
        words = words[1:]
    words = words[1:]
    cmd = typer.main.get_command(app)
    ctx = click.Context(cmd, info_name="tradewarden")

    def is_group(c: object) -> bool:  # typer's groups are click-like, not click subclasses
        return hasattr(c, "list_commands")

    while is_group(cmd) and words and not words[0].startswith("-"):
        sub = cmd.get_command(ctx, words[0])
        if sub is None:
            return f"unknown command {words[0]!r}"
        cmd, words = sub, words[1:]
        ctx = click.Context(cmd, info_name=cmd.name, parent=ctx)
    if is_group(cmd):
        return None if not words else f"{cmdline!r} names a group"
    known = {
        o for p in cmd.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])
    }
    for w in words:
        if w.startswith("-") and w.split("=")[0] not in known:
            return f"unknown flag {w!r} for {cmd.name}"
    return None


def problems_of(c: Command) -> list[str]:
    head = c.words[0]
    where = c.where
    out = []
    if head == "tradewarden":
        if "..." in c.words[1:2]:
            return [] if c.sudo or c.where not in ("host", "inline") else ["needs sudo"]
        err = check(shlex.join(c.words))
        if err:
            out.append(err)
        sub = c.words[1] if len(c.words) > 1 else ""
        on_host = where in ("host", "inline") and sub not in OFF_HOST_SUBCOMMANDS
        if on_host and not c.sudo:
            out.append("the host's tradewarden wrapper needs sudo: `sudo tradewarden ...`")
        if on_host and tuple(c.words[1:3]) in ADMIN_WRITES and not c.admin:
            out.append("writes a secret: the host role may only read; use the admin-role block")
        if where == "workstation":
            out.append("tradewarden runs on the host (sudo tradewarden), not a workstation")
        return out
    allowed = {
        "host": host_commands(),
        "workstation": WORKSTATION,
        "offline": OFFLINE,
        "inline": host_commands() | WORKSTATION,
    }[where]
    if head not in allowed:
        out.append(f"{head!r} is not a command on the {where if where != 'inline' else 'host'}")
    if where in ("host", "inline") and not c.sudo:
        verb = c.words[1] if len(c.words) > 1 else ""
        root = head in ("journalctl", "nft") or (head == "systemctl" and verb in SYSTEMCTL_ROOT)
        if root:
            out.append(f"{head} needs sudo on the host (the SSM login is not root)")
    if head in ("systemctl", "journalctl"):
        args = list(c.words[1:])
        names = []
        if head == "journalctl":
            names = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "-u"]
        elif args and not args[0].startswith("-"):
            rest = args[1:]
            names = [
                a
                for i, a in enumerate(rest)
                if not a.startswith("-") and (i == 0 or rest[i - 1] not in SYSTEMCTL_VALUE_OPTS)
            ]
        units = host_units()
        for n in names:
            if n not in units and n.removesuffix(".service") not in units:
                out.append(f"no unit {n!r} on the host")
    return out


def all_runbooks() -> list[Path]:
    return sorted(p for p in RUNBOOKS.glob("*.md") if p.name != "README.md")


@pytest.mark.parametrize("book", all_runbooks(), ids=lambda p: p.name)
def test_runbook_commands_exist(book: Path) -> None:
    problems = [
        f"{c.raw}: {err}" for c in commands(book.read_text(), book.name) for err in problems_of(c)
    ]
    assert problems == []


LOCAL_HOST = r"(?:\blocalhost|\b127\.0\.0\.1|\b0\.0\.0\.0|\[::1?\])"
LOCAL_URL = re.compile(LOCAL_HOST + r":(\d+)")
DAEMON_URL = re.compile(LOCAL_HOST + r":9108(/[A-Za-z0-9_./-]*)?")
METRICS_PY = REPO / "daemon" / "tradewarden" / "runtime" / "metrics.py"


def daemon_paths() -> set[str]:
    """The paths the daemon's HTTP server answers (its handler: tradewarden/runtime/metrics.py)."""
    return set(re.findall(r'self\.path == "(/[a-z]+)"', METRICS_PY.read_text()))


@pytest.mark.parametrize("book", all_runbooks(), ids=lambda p: p.name)
def test_runbook_local_urls_are_served_on_the_host(book: Path) -> None:
    ports = listening_ports()
    bad = sorted({int(p) for p in LOCAL_URL.findall(book.read_text())} - set(ports))
    assert bad == [], f"nothing on the host listens on {bad}; listening: {ports}"


@pytest.mark.parametrize("book", all_runbooks(), ids=lambda p: p.name)
def test_runbook_daemon_urls_name_paths_it_serves(book: Path) -> None:
    paths = {m or "/" for m in DAEMON_URL.findall(book.read_text())}
    assert paths - daemon_paths() == set()


def test_host_facts_come_from_the_deployed_files() -> None:
    ports = listening_ports()
    assert ports[9108] == "tradewarden.service"  # TRADEWARDEN_METRICS_PORT in the env file
    assert ports[9100] == "node_exporter.service"  # its --web.listen-address
    assert {9090, 9093} <= set(ports)
    cmds = host_commands()
    assert {"nft", "python3.11", "logrotate", "journalctl", "aws", "curl"} <= cmds
    assert "jq" not in cmds and "fuser" not in cmds


def test_every_package_is_mapped() -> None:
    pkgs = user_data_packages()
    assert pkgs, "no packages: list in the user data"
    assert [p for p in pkgs if p not in PACKAGE_COMMANDS] == []
    installed = INSTALL_HOST.read_text()
    # the bundle's binaries land in /usr/local/bin (the host's command set counts them there)
    listed = installed.split("MONITORING_BINARIES=", 1)[1].splitlines()[0]
    assert set(listed.strip('"').split()) >= {"promtool", "amtool", "node_exporter"}
    assert 'install -m 0755 "$house/monitoring/$b" "$R/usr/local/bin/$b"' in installed


def test_checker_catches_what_would_fail_on_the_host() -> None:
    def errs(text: str) -> list[str]:
        return [e for c in commands(text) for e in problems_of(c)]

    assert errs("```sh\nsudo tradewarden status --json\n```") == []
    assert errs("```sh\nsudo journalctl -u tradewarden --since -1h | grep x | tail -5\n```") == []
    assert "unknown command" in errs("`sudo tradewarden frobnicate`")[0]
    assert "unknown flag" in errs("`sudo tradewarden status --yaml`")[0]
    assert "needs sudo" in errs("```sh\ntradewarden status\n```")[0]
    assert "needs sudo" in errs("run `tradewarden halt --reason x` now")[0]
    assert "needs sudo" in errs("```sh\nsystemctl restart tradewarden\n```")[0]
    assert errs("```sh\nsystemctl status tradewarden --no-pager\n```") == []
    assert "'jq' is not a command" in errs("```sh\ncurl -s localhost:9108/x | jq .\n```")[0]
    assert "'fuser' is not a command" in errs("find it with `fuser /var/lib/x`")[0]
    assert "no unit 'grafana'" in errs("```sh\nsudo systemctl restart grafana\n```")[0]
    assert "'pulumi' is not a command on the host" in errs("```sh\npulumi up\n```")[0]
    assert errs("```sh\n# from a workstation\npulumi up\n```") == []
    assert errs("`tradewarden recovery-check --address X`") == []
    admin = (
        "```sh\nsudo --preserve-env=AWS_SESSION_TOKEN -u tradewarden \\\n"
        "  sh -c 'exec /opt/tradewarden/venv/bin/tradewarden \"$@\"' \\\n"
        "  tradewarden secrets rotate trade --prompt\n```"
    )
    assert errs(admin) == []
    assert "admin-role block" in errs("`sudo tradewarden secrets rotate trade --prompt`")[0]
    assert "admin-role block" in errs("```sh\nsudo tradewarden approvers add bob\n```")[0]
    assert errs("`sudo tradewarden secrets check`") == []
    assert "unknown flag" in errs(admin.replace("--prompt", "--typed"))[0]
    # commands inside $(...) are checked too, nested quotes and all
    subst = 'id="$(aws ssm x --name "$(pulumi stack output doc)" --q Id)"'
    assert errs(f"```sh\n{subst}\n```") == ["'pulumi' is not a command on the host"]
    assert errs(f"```sh\n# from a workstation\n{subst}\n```") == []
    assert "'jq' is not a command" in errs('`X="$(curl -s localhost:9108/x | jq -r .a)"`')[0]
    assert errs("```sh\ntrap 'rm -f /tmp/x' EXIT\n```") == []  # a builtin


def test_checker_catches_unknown_local_ports() -> None:
    assert set(LOCAL_URL.findall("curl -s localhost:9108/metrics 127.0.0.1:3000")) == {
        "9108",
        "3000",
    }
    assert 3000 not in listening_ports()
    assert daemon_paths() == {"/metrics", "/healthz", "/readyz"}
    assert DAEMON_URL.findall("curl -s localhost:9108/ready") == ["/ready"]


def test_every_runbook_is_in_the_index() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    missing = [p.name for p in all_runbooks() if f"({p.name})" not in index]
    assert missing == []


def test_runbooks_have_the_sections_a_responder_needs() -> None:
    for book in all_runbooks():
        text = book.read_text().lower()
        assert re.search(r"^\*\*done when\.?\*\*", text, re.M), f"{book.name} has no Done when"
        for section in ("symptom", "impact", "diagnosis", "fix", "verif", "escalation"):
            if "procedure" in text[:200] or book.name == "cold-backup-verification.md":
                break  # procedures (not incidents) have steps instead
            assert section in text, f"{book.name} lacks {section}"


KEY_INCIDENTS = ("suspected-key-leak.md", "lost-hot-key.md", "host-compromise.md")


@pytest.mark.parametrize("name", KEY_INCIDENTS)
def test_key_incidents_halt_first_then_revoke_then_rotate(name: str) -> None:
    """One safe order: the halt cancels open orders, which needs the key, so it comes
    before the key is revoked on Binance; the new key goes in with `secrets rotate`."""
    text = (RUNBOOKS / name).read_text()
    first = text[text.index("## First five minutes") :]
    first = first[first.index("\n1. ") : first.index("\n## ", 1)].lower()  # the steps
    halt = first.index("sudo tradewarden halt")
    revoke = min(i for w in ("revoke", "delete the key") if (i := first.find(w)) >= 0)
    assert halt < revoke, "halt before revoking the key"
    assert "secrets rotate trade --prompt" in text[text.index("## Fix") :]


@pytest.mark.parametrize(
    "line",
    [
        "sudo sh -c 'jq .state /var/lib/tradewarden/status.json'",
        'sudo bash -c "lsof -i :9108"',
        "env FOO=1 jq . /tmp/x",
        "timeout 5 fuser /var/lib/tradewarden",
        "ps -e | xargs nslookup",
        'echo "$(dig +short api.binance.com)"',
        "sudo -u tradewarden sh -c 'umask 077; jq . /x' tradewarden",
        "sudo --preserve-env=AWS_SESSION_TOKEN -u tradewarden sh -c 'lsof -p 1;"
        ' exec /opt/tradewarden/venv/bin/tradewarden "$@"\' tradewarden status',
        "systemctl status tradewarden | sh -c 'tradewarden status'",
    ],
)
def test_attack_a_command_wrapped_in_another_is_still_checked(tmp_path: Path, line: str) -> None:
    """Adversarial review: a missing command (or the CLI without sudo) hidden inside
    sh -c '...', behind env/timeout/xargs or in a $(...) substitution passed the check.
    A copy of a key-incident runbook with such a line in its diagnosis block must fail."""
    book = tmp_path / "suspected-key-leak.md"
    text = (RUNBOOKS / "suspected-key-leak.md").read_text()
    anchor = "sudo tradewarden secrets check\n"
    book.write_text(text.replace(anchor, anchor + line + "\n", 1))
    problems = [e for c in commands(book.read_text(), book.name) for e in problems_of(c)]
    assert problems, f"{line!r} passed the runbook check"


@pytest.mark.parametrize("name", KEY_INCIDENTS)
def test_attack_key_incidents_check_binance_open_orders_after_revoking(name: str) -> None:
    """Adversarial review: `Open orders: 0` in `status` is the daemon's own count. Its halt
    cancels only on its own symbols, a failed cancel is logged (`cancel_failed`) and the halt
    still reports success, and the daemon's MARKET orders are never open: orders the leaked
    key placed elsewhere (or that a failed cancel left) were never looked for. After the
    revocation, a key incident has the responder check every pair's open orders on Binance
    and cancel what is left there."""
    text = (RUNBOOKS / name).read_text()
    first = text[text.index("## First five minutes") :]
    first = first[first.index("\n1. ") : first.index("\n## ", 1)].lower()  # the steps
    revoke = min(i for w in ("revoke", "delete the key") if (i := first.find(w)) >= 0)
    after = first[revoke:]
    assert "open orders" in after and "all pairs" in after and "cancel_failed" in first


def test_attack_host_compromise_re_enrols_the_approvers_before_any_approval() -> None:
    """Adversarial review: the host role reads every approver's TOTP seed
    (admin/approver/*), so after a host compromise the attacker can make every approver's
    codes; the runbook then moved funds "through the approval flow" with those seeds.
    Every approver is re-enrolled (`approvers add <name> --replace`) before that step. And
    the old Fix rotated first, on a new host built two steps later, while the role's stolen
    temporary credentials could still read the new secrets: sessions are revoked first."""
    fix = (RUNBOOKS / "host-compromise.md").read_text()
    fix = fix[fix.index("## Fix") : fix.index("## Verify")]
    assert "approvers add" in fix and "--replace" in fix
    assert fix.index("--replace") < fix.index("approval flow")
    # the stolen role credentials are revoked, and the new host exists, before any rotation
    rotate = fix.index("secrets rotate trade --prompt")
    assert fix.index("aws:TokenIssueTime") < rotate and fix.index("pulumi up --replace") < rotate


@pytest.mark.parametrize(
    "url", ["http://[::1]:3000/", "http://0.0.0.0:3000/", "curl -s [::1]:9108/metricz"]
)
def test_attack_a_local_url_in_another_spelling_is_checked(url: str) -> None:
    """Adversarial review: only localhost and 127.0.0.1 were read as local, so the same
    port or path written as [::1] or 0.0.0.0 passed unchecked."""
    ports = {int(p) for p in LOCAL_URL.findall(url)}
    paths = {m or "/" for m in DAEMON_URL.findall(url)}
    assert ports - set(listening_ports()) or paths - daemon_paths()


def test_attack_no_doc_has_a_responder_type_secret_json() -> None:
    """Adversarial review: audit-chain-broken.md (and infra/README.md) offered `secrets put
    admin` "with {"promotion_key": "...", "audit_key": "..."} on stdin": typed by a
    responder, that is `echo '{...}' | ...`, the keys in the shell history. Secrets go in at
    the hidden prompts (--prompt) only; no doc shows a secret field's JSON to fill in."""
    from tradewarden.secrets.bundle import SecretKind, secret_fields

    fields = {f for kind in SecretKind for f in secret_fields(kind)}
    docs = [
        *all_runbooks(),
        RUNBOOKS / "README.md",
        REPO / "infra" / "README.md",
        REPO / "README.md",
    ]
    found = [
        f"{doc.relative_to(REPO)}: {field}"
        for doc in docs
        for field in sorted(fields)
        if re.search(rf'"{field}"\s*:\s*"', doc.read_text())
    ]
    assert found == []
