from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import ApprovalDesk


@pytest.fixture()
def desk(tmp_path: Path, clean_env: None) -> Iterator[ApprovalDesk]:
    d = ApprovalDesk(tmp_path)
    yield d
    d.close()
