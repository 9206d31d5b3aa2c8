"""The test kinds (`subprocess`, `server`, `hostbox`) that `make test-fast` leaves out are
found from the code: a test that starts a process or a server, itself, through a tests.*
helper or through a fixture, is marked without anyone writing the marker."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

from tests.conftest import _kinds_of

SAMPLES = """
import subprocess, sys
from tests.fakes.binance import FakeBinance

def plain():
    return sum(range(3))

def runs_the_cli():
    return subprocess.run([sys.executable, "-m", "tradewarden.cli", "--help"], check=False)

def builds_a_fake():
    with FakeBinance() as fx:
        return fx

def calls_a_helper():
    return runs_the_cli()

def nested_lambda():
    return lambda: builds_a_fake()

class Desk:
    def start(self):
        return calls_a_helper()

def uses_a_class():
    return Desk()

def recursive(n):
    return recursive(n - 1) if n else plain()
"""


@pytest.fixture(scope="module")
def samples() -> types.ModuleType:
    """The sample functions live in a tests.* module of their own, so this file's tests do
    not reference subprocess or FakeBinance themselves (they would be marked too)."""
    mod = types.ModuleType("tests._marker_samples")
    exec(compile(SAMPLES, "<marker samples>", "exec"), mod.__dict__)  # noqa: S102 - fixed text
    sys.modules[mod.__name__] = mod
    yield mod
    del sys.modules[mod.__name__]


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("plain", set()),
        ("runs_the_cli", {"subprocess"}),
        ("builds_a_fake", {"server"}),
        ("calls_a_helper", {"subprocess"}),
        ("nested_lambda", {"server"}),
        ("uses_a_class", {"subprocess"}),
        ("recursive", set()),
    ],
)
def test_kinds_come_from_what_the_code_calls(
    samples: types.ModuleType, name: str, kinds: set[str]
) -> None:
    assert _kinds_of(getattr(samples, name)) == kinds


def test_the_suite_marks_its_own_process_and_server_tests(request: pytest.FixtureRequest) -> None:
    """Real tests of the suite, as collected: the CLI run in a child, the diagnose checks
    against the fake Binance; and this test itself starts nothing."""
    config = importlib.import_module("tests.unit.core.test_config")
    cli = config.test_cli_run_exits_2_on_a_duplicate_file_key
    assert _kinds_of(cli) == {"subprocess"}
    diagnose = importlib.import_module("tests.unit.operations.test_diagnose")
    assert "server" in _kinds_of(diagnose.test_a_healthy_exchange_passes_and_the_secret_never_shows)
    own = {m.name for m in request.node.iter_markers()}
    assert not own & {"subprocess", "server", "hostbox"}, own


@pytest.fixture()
def a_child_ran() -> int:
    import subprocess

    return subprocess.run(["true"], check=False).returncode  # noqa: S607 - coreutils


def test_a_fixture_that_starts_a_process_marks_its_users(
    a_child_ran: int, request: pytest.FixtureRequest
) -> None:
    """Runs in `make pytest`, not in `make test-fast`: the fixture's code marks it."""
    assert a_child_ran == 0
    assert "subprocess" in {m.name for m in request.node.iter_markers()}
