"""The host in a box (issue 15 item 6); the fixture (conftest.py) builds and boots it."""

from __future__ import annotations

from tests.hostbox.conftest import Box


def test_the_host_installs_from_the_bundle_and_its_services_run(box: Box) -> None:
    for name, unit in box.units.items():
        assert unit.running(), f"{name}: {unit.output()}"
