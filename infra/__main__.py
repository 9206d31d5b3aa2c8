"""Pulumi entry point (``main: infra/`` in Pulumi.yaml).

Pulumi runs this directory with ``infra/`` as the working directory and on ``sys.path``.
Swap that for the repository root, so that ``infra`` is imported as a package and its
modules (``config``, ``naming``...) never shadow top-level modules of the same name.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = str(HERE.parent)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from infra.program import main  # noqa: E402

main()
