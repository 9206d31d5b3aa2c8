"""Every property the program sets, in all three stacks, is an argument of the installed
pulumi-aws: each resource's input keys (and the keys of nested objects, in lists too) are
checked against the provider's ``*Args`` classes. A renamed or misspelt argument fails
here instead of at `pulumi up`."""

from __future__ import annotations

import importlib
import typing
from functools import cache
from typing import Any, ForwardRef

import pulumi_aws

from infra.offline import OfflineRun


def args_class(token: str) -> type:
    """``aws:ec2/instance:Instance`` -> ``pulumi_aws.ec2.InstanceArgs``."""
    if token == "pulumi:providers:aws":
        return pulumi_aws.ProviderArgs
    _, module_path, name = token.split(":")
    module_name = module_path.split("/")[0]
    package = (
        pulumi_aws
        if module_name == "index"
        else importlib.import_module(f"pulumi_aws.{module_name}")
    )
    # The resource's own module: `s3.BucketVersioningArgs` is the Bucket's nested type, the
    # BucketVersioning resource takes `BucketVersioningInitArgs`.
    module = importlib.import_module(getattr(package, name).__module__)
    return getattr(module, f"{name}InitArgs", None) or getattr(module, f"{name}Args")


def _forward_args(annotation: Any) -> list[str]:
    """Names of the ``*Args`` classes an annotation refers to (through Optional, Input,
    Sequence, Union...)."""
    if isinstance(annotation, ForwardRef):
        name = annotation.__forward_arg__
        return [name] if name.endswith("Args") else []
    if isinstance(annotation, str):
        return [annotation] if annotation.endswith("Args") else []
    out = []
    for arg in typing.get_args(annotation):
        out += _forward_args(arg)
    return out


@cache
def properties(cls: type) -> dict[str, type | None]:
    """camelCase property name -> the nested ``*Args`` class it takes (or None)."""
    module = importlib.import_module(cls.__module__)
    out: dict[str, type | None] = {}
    for attr in vars(cls).values():
        if not isinstance(attr, property) or not hasattr(attr.fget, "_pulumi_name"):
            continue
        nested = _forward_args(attr.fget.__annotations__.get("return"))
        out[attr.fget._pulumi_name] = getattr(module, nested[0]) if nested else None
    return out


def unknown_keys(cls: type, value: Any, path: str) -> list[str]:
    if isinstance(value, list):
        return [k for i, v in enumerate(value) for k in unknown_keys(cls, v, f"{path}[{i}]")]
    if not isinstance(value, dict):
        return []
    known = properties(cls)
    out = []
    for key, item in value.items():
        if key not in known:
            out.append(f"{path}.{key} is not an argument of {cls.__name__}")
        elif known[key] is not None:
            out += unknown_keys(known[key], item, f"{path}.{key}")
    return out


def test_every_property_is_an_argument_of_the_installed_provider(run: OfflineRun) -> None:
    checked = 0
    problems = []
    for r in run.resources:
        if not r.custom:
            continue
        problems += unknown_keys(args_class(r.type), r.inputs, r.name)
        checked += 1
    assert problems == []
    assert checked == len([r for r in run.resources if r.custom]) > 80


def test_a_renamed_argument_is_caught(run: OfflineRun) -> None:
    inst = run.one("aws:ec2/instance:Instance")
    renamed = {**inst.inputs, "metadataOptions": {"httpTokens": "required", "hopLimit": 1}}
    assert unknown_keys(args_class(inst.type), renamed, "host") == [
        "host.metadataOptions.hopLimit is not an argument of InstanceMetadataOptionsArgs"
    ]
    rule = next(r for r in run.resources if r.name == "network-dns-allow")
    old_name = {**rule.inputs, "redirectionAction": "TRUST_REDIRECTION_DOMAIN"}
    assert unknown_keys(args_class(rule.type), old_name, "rule") == [
        "rule.redirectionAction is not an argument of ResolverFirewallRuleArgs"
    ]
    group = run.one("aws:networkfirewall/ruleGroup:RuleGroup")
    nested = {
        **group.inputs,
        "ruleGroup": {"rulesSource": {"rulesSourceList": {"targetType": ["TLS_SNI"]}}},
    }
    assert unknown_keys(args_class(group.type), nested, "g") == [
        "g.ruleGroup.rulesSource.rulesSourceList.targetType is not an argument of "
        "RuleGroupRuleGroupRulesSourceRulesSourceListArgs"
    ]
