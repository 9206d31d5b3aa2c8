"""Fixtures for the infra tests: each stack built once, offline, through the mocks.

Pulumi's runtime is process-global; `run_offline` resets it (fresh root stack, monitor and
config) at the start of every run, and each run completes before its result is returned.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import grpc
import pytest
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from infra.offline import OfflineRun, Recorded, read_stack_file, run_offline
from infra.policy.policies import build_policies

STACKS = ("dev", "staging", "prod")
REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    # pulumi_aws warns about its own deprecated modules on import; not ours to fix.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:pulumi_aws")


@pytest.fixture(scope="session")
def stack_runs() -> dict[str, OfflineRun]:
    return {stack: run_offline(stack, read_stack_file(stack)) for stack in STACKS}


@pytest.fixture(params=STACKS)
def run(request: pytest.FixtureRequest, stack_runs: dict[str, OfflineRun]) -> OfflineRun:
    return stack_runs[request.param]


# --- calling the policies the way the policy engine does ------------------------------------

OPTS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
POLICIES = {p.name: p for p in build_policies()}


def resource_args(typ: str, props: dict[str, Any], name: str = "r") -> ResourceValidationArgs:
    urn = f"urn:pulumi:test::tradewarden::{typ}::{name}"
    return ResourceValidationArgs(
        typ, unknown_checking_proxy(deepcopy(props)), urn, name, OPTS, None
    )


def resource_violations(policy: str, typ: str, props: dict[str, Any]) -> list[str]:
    found: list[str] = []
    pol = POLICIES[policy]
    assert isinstance(pol, ResourceValidationPolicy)
    pol.validate(resource_args(typ, props), lambda msg, urn=None: found.append(msg))
    return found


def policy_resource(r: Recorded, state: dict[str, Any] | None = None) -> PolicyResource:
    props = unknown_checking_proxy(deepcopy(state if state is not None else r.state))
    return PolicyResource(r.type, props, r.urn or r.name, r.name, OPTS, None, None, [], {})


def stack_violations(policy: str, resources: list[PolicyResource]) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    pol = POLICIES[policy]
    assert isinstance(pol, StackValidationPolicy)
    pol.validate(StackValidationArgs(resources), lambda msg, urn=None: found.append((msg, urn)))
    return found


def all_violations(run: OfflineRun) -> list[str]:
    """Every resource through every resource policy, the set through every stack policy."""
    out: list[str] = []
    for r in run.resources:
        for name, pol in POLICIES.items():
            if isinstance(pol, ResourceValidationPolicy):
                out += [
                    f"{name} {r.name}: {m}" for m in resource_violations(name, r.type, r.inputs)
                ]
    stack = [policy_resource(r) for r in run.resources]
    for name, pol in POLICIES.items():
        if isinstance(pol, StackValidationPolicy):
            out += [f"{name}: {m}" for m, _ in stack_violations(name, stack)]
    return out


def mutate(
    run: OfflineRun, changes: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]]
) -> list[PolicyResource]:
    """The run's resources as policy resources; `changes[name]` edits (or drops: None) one."""
    out = []
    for r in run.resources:
        state = deepcopy(r.state)
        if r.name in changes:
            state = changes[r.name](state)
            if state is None:
                continue
        out.append(policy_resource(r, state))
    return out


def policy_json(recorded: Recorded) -> dict[str, Any]:
    return json.loads(recorded.inputs["policy"])


@pytest.fixture(scope="session")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The policy pack started as the Pulumi CLI starts it, spoken to over gRPC."""
    proc = subprocess.Popen(
        [sys.executable, "."],
        cwd=REPO / "infra" / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.isdigit():
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"policy pack did not start: {line!r} {err.decode()[-2000:]}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=20)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.kill()
        proc.wait(timeout=10)
