"""Every `tradewarden ...` command a runbook tells a responder to type exists, with its flags,
in the real CLI parser; every runbook is reachable from runbooks/README.md."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import typer

from tradewarden.cli import app

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
CMD = re.compile(r"(?:^|`|\$ )(tradewarden(?: [^`\n]*)?)")


def commands(text: str) -> list[str]:
    out = []
    in_fence = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            if line.strip() == "tradewarden" or line.strip().startswith("tradewarden "):
                out.append(line.strip())
            continue
        out.extend(re.findall(r"`(tradewarden(?: [^`]*)?)`", line))
    return out


def check(cmdline: str) -> str | None:
    """None if the command and its flags parse; else what is wrong."""
    words = shlex.split(re.sub(r"<[^>]*>", "X", cmdline))[1:]
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


def all_runbooks() -> list[Path]:
    return sorted(p for p in RUNBOOKS.glob("*.md") if p.name != "README.md")


@pytest.mark.parametrize("book", all_runbooks(), ids=lambda p: p.name)
def test_runbook_commands_exist(book: Path) -> None:
    problems = [f"{c}: {err}" for c in commands(book.read_text()) if (err := check(c))]
    assert problems == []


def test_checker_catches_unknown_commands_and_flags() -> None:
    assert check("tradewarden status --json") is None
    assert check('tradewarden reset --reason "x"') is None
    assert check("tradewarden audit verify") is None
    assert "unknown command" in check("tradewarden frobnicate")
    assert "unknown flag" in check("tradewarden status --yaml")


def test_every_runbook_is_in_the_index() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    missing = [p.name for p in all_runbooks() if f"({p.name})" not in index]
    assert missing == []


def test_runbooks_have_the_sections_a_responder_needs() -> None:
    for book in all_runbooks():
        text = book.read_text().lower()
        for section in ("symptom", "impact", "diagnosis", "fix", "verif", "escalation"):
            if "procedure" in text[:200] or book.name == "cold-backup-verification.md":
                break  # procedures (not incidents) have steps instead
            assert section in text, f"{book.name} lacks {section}"
