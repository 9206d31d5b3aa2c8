"""The README stays in step with the code it describes."""

from __future__ import annotations

from pathlib import Path

from tradewarden.core.config import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_config_table_matches_the_settings() -> None:
    text = README.read_text()
    start = text.index("<!-- config-table:start -->") + len("<!-- config-table:start -->")
    end = text.index("<!-- config-table:end -->")
    assert text[start:end].strip() == markdown_table().strip(), (
        "README config table is stale: regenerate with `tradewarden config --markdown`"
    )


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make run" in text and "make test" in text


def test_make_run_is_the_demo() -> None:
    makefile = (README.parent / "Makefile").read_text()
    recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "tradewarden run --demo" in recipe  # console on, fresh var/demo, as the README says
