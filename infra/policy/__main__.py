"""Policy pack entry point: ``pulumi preview --policy-pack infra/policy``.

Pulumi starts this directory as a program (working directory ``infra/policy``); the
repository root replaces it on ``sys.path`` so ``infra.policy`` imports as a package.
Constructing the `PolicyPack` starts the analyzer server, so it happens only here.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = str(HERE.parent.parent)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from infra.policy.policies import PACK_NAME, build_policies  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(),
)
