"""Run the Pulumi program offline, against recording mocks instead of AWS.

Used by ``python -m infra.inventory`` (review a stack before ``pulumi up``) and by the
tests. Every resource the program registers is recorded with its type, name, inputs and
the outputs the mocks answered; data sources are answered here too.
"""

from __future__ import annotations

import hashlib
import json
import runpy
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.output import Unknown
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor

from infra import config as infra_config

REPO_ROOT = Path(__file__).resolve().parent.parent
PROGRAM_DIR = REPO_ROOT / "infra"  # `main: infra/` in Pulumi.yaml
PROJECT = "tradewarden"
MOCK_ACCOUNT = "111111111111"
MOCK_REGION = "eu-west-1"
MOCK_AMI = "ami-0a1b2c3d4e5f60718"

_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/route:Route": "r-",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc-",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
    "aws:ec2/flowLog:FlowLog": "fl-",
    "aws:ec2/instance:Instance": "i-",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
    "aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList": "rslvr-fdl-",
    "aws:route53/resolverFirewallRuleGroup:ResolverFirewallRuleGroup": "rslvr-frg-",
    "aws:route53/resolverFirewallRuleGroupAssociation:ResolverFirewallRuleGroupAssociation": (
        "rslvr-frgassoc-"
    ),
    "aws:route53/resolverFirewallConfig:ResolverFirewallConfig": "rslvr-fc-",
    "aws:dlm/lifecyclePolicy:LifecyclePolicy": "policy-",
}


def _hex(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Recorded:
    """One resource the program registered."""

    type: str
    name: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    urn: str = ""
    custom: bool = True
    # What the engine is told besides the inputs (`Registration`): resource options and
    # which inputs depend on which resources (the policy engine links resources by these).
    options: dict[str, Any] = field(default_factory=dict)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)

    @property
    def state(self) -> dict[str, Any]:
        """What the engine would hold after `pulumi up`: outputs, including ``id``."""
        return {**self.outputs, "id": self.id}


def _urn_type(urn: str) -> str:
    """A resource's own type from its URN (the qualified type is ``parent$...$type``)."""
    parts = urn.split("::")
    return parts[2].split("$")[-1] if len(parts) >= 4 else ""


UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # how the engine sends an unknown value


def engine_value(value: Any) -> Any:
    """A recorded value as the engine hands it to a policy pack: unknowns (preview) become
    the engine's unknown sentinel (pulumi_policy.proxy.UNKNOWN_STRING_VALUE)."""
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: engine_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [engine_value(v) for v in value]
    return value


def has_unknowns(value: Any) -> bool:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, dict):
        return any(has_unknowns(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_unknowns(v) for v in value)
    return False


@dataclass(frozen=True)
class Registration:
    """The parts of a RegisterResource request besides the inputs."""

    custom: bool
    options: dict[str, Any]
    property_dependencies: dict[str, list[str]]


class RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, also keeping each registration's options and dependencies."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations[response.urn] = Registration(
                custom=bool(request.custom),
                options={
                    "parent": request.parent,
                    "protect": request.protect,
                    "deleteBeforeReplace": request.deleteBeforeReplace,
                    "retainOnDelete": request.retainOnDelete,
                    "ignoreChanges": list(request.ignoreChanges),
                    "replaceOnChanges": list(request.replaceOnChanges),
                    "provider": request.provider,
                    "dependencies": list(request.dependencies),
                },
                property_dependencies={
                    k: list(v.urns) for k, v in request.propertyDependencies.items()
                },
            )
        return response


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like AWS would, and records every resource and data-source call.

    With `preview` the answers are what the engine gives during ``pulumi preview`` of a new
    stack: no id and no computed outputs (they stay unknown), only the inputs echoed.
    """

    account_id: str = MOCK_ACCOUNT
    region: str = MOCK_REGION
    caller_arn: str = f"arn:aws:sts::{MOCK_ACCOUNT}:assumed-role/tradewarden-admin/pulumi"
    resources: list[Recorded] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    preview: bool = False
    # The zones (suffixes of the region) where the region offers the SES SMTP interface
    # endpoint (com.amazonaws.<region>.email-smtp); not every zone does.
    ses_smtp_zone_suffixes: str = "abc"

    # --- data sources ------------------------------------------------------------------
    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        self.calls.append((args.token, dict(args.args)))
        fn = args.token
        if fn == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                "arn": self.caller_arn,
                "userId": "AROAMOCKUSERID:pulumi",
                "id": self.account_id,
            }
        if fn == "aws:index/getRegion:getRegion":
            return {
                "region": self.region,
                "name": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
                "description": "mock region",
            }
        if fn == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{s}" for s in "abc"]
            return {
                "names": names,
                "zoneIds": [f"euw1-az{i}" for i in (1, 2, 3)],
                "state": "available",
                "id": self.region,
                "groupNames": [self.region],
            }
        if fn == "aws:ec2/getVpcEndpointService:getVpcEndpointService":
            service = args.args.get("serviceName", "")
            if service != f"com.amazonaws.{self.region}.email-smtp":
                raise NotImplementedError(f"offline mocks know no endpoint service {service}")
            return {
                "id": self.region,
                "serviceName": service,
                "serviceType": "Interface",
                "availabilityZones": [f"{self.region}{s}" for s in self.ses_smtp_zone_suffixes],
                "vpcEndpointPolicySupported": False,
            }
        if fn == "aws:ec2/getAmi:getAmi":
            filters = {f["name"]: f["values"] for f in args.args.get("filters", [])}
            arch = filters.get("architecture", ["x86_64"])[0]
            return {
                "id": MOCK_AMI,
                "imageId": MOCK_AMI,
                "architecture": arch,
                "name": f"al2023-ami-2023.6.20250101.0-kernel-6.1-{arch}",
                "ownerId": "137112412989",
                "rootDeviceType": "ebs",
                "virtualizationType": "hvm",
            }
        raise NotImplementedError(f"offline mocks do not answer data source {fn}")

    # --- resources ---------------------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        outputs = dict(inputs)
        if not args.custom or self.preview:  # no cloud identity (yet)
            rid = ""
        else:
            rid, extra = self._identity(typ, name, inputs)
            outputs.update(extra)
        self.resources.append(Recorded(typ, name, rid, inputs, outputs, custom=args.custom))
        return rid, outputs

    def _identity(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict]:
        acct, region = self.account_id, self.region
        service = typ.split(":")[1].split("/")[0]
        physical = inputs.get("name") or f"{name}-{_hex(typ, name, length=7)}"
        rid = _ID_PREFIX.get(typ, "") + _hex(typ, name) if typ in _ID_PREFIX else physical
        out: dict[str, Any] = {"name": physical} if "name" not in inputs else {}
        out["arn"] = f"arn:aws:{service}:{region}:{acct}:{physical}"
        if typ == "aws:kms/key:Key":
            key_id = f"{_hex(typ, name, length=8)}-0000-4000-8000-{_hex(name, length=12)}"
            rid = key_id
            out.update(keyId=key_id, arn=f"arn:aws:kms:{region}:{acct}:key/{key_id}")
        elif typ == "aws:secretsmanager/secret:Secret":
            out["arn"] = f"arn:aws:secretsmanager:{region}:{acct}:secret:{physical}-AbC123"
            rid = out["arn"]
        elif typ in ("aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile"):
            kind = "role" if typ.endswith("Role") else "instance-profile"
            out["arn"] = f"arn:aws:iam::{acct}:{kind}/{physical}"
            rid = physical
        elif typ == "aws:iam/rolePolicy:RolePolicy":
            rid = f"{inputs.get('role')}:{physical}"
        elif typ == "aws:sns/topic:Topic":
            out["arn"] = f"arn:aws:sns:{region}:{acct}:{physical}"
            rid = out["arn"]
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            out["arn"] = f"arn:aws:logs:{region}:{acct}:log-group:{physical}"
            rid = physical
        elif typ == "aws:iam/accessKey:AccessKey":
            # The key id is the SMTP user name; AWS derives the SES SMTP password from the
            # secret key for the provider's region (a fake one here, shaped like it).
            rid = "AKIA" + _hex(typ, name, length=16).upper()
            out.update(sesSmtpPasswordV4="BMock" + _hex("smtp", name, length=39))
        elif typ == "aws:sesv2/emailIdentity:EmailIdentity":
            out["arn"] = f"arn:aws:ses:{region}:{acct}:identity/{inputs['emailIdentity']}"
            out["dkimSigningAttributes"] = {
                "tokens": [_hex("dkim", name, str(i), length=32) for i in range(3)],
                "signingAttributesOrigin": "AWS_SES",
            }
        elif typ == "aws:ec2/eip:Eip":
            out.update(allocationId=rid, publicIp="203.0.113.10")
        elif typ == "aws:ec2/instance:Instance":
            out.update(privateIp="10.42.2.10", publicIp="", instanceState="running")
            out["arn"] = f"arn:aws:ec2:{region}:{acct}:instance/{rid}"
        elif typ == "aws:amp/workspace:Workspace":
            rid = "ws-" + _hex(typ, name, length=8) + "-0000-4000-8000-" + _hex(name, length=12)
            out["arn"] = f"arn:aws:aps:{region}:{acct}:workspace/{rid}"
            out["prometheusEndpoint"] = (
                f"https://aps-workspaces.{region}.amazonaws.com/workspaces/{rid}/"
            )
        elif typ == "aws:grafana/workspace:Workspace":
            rid = "g-" + _hex(typ, name, length=10)
            out["arn"] = f"arn:aws:grafana:{region}:{acct}:/workspaces/{rid}"
            out["endpoint"] = f"{rid}.grafana-workspace.{region}.amazonaws.com"
        elif typ == "aws:grafana/workspaceServiceAccount:WorkspaceServiceAccount":
            out["serviceAccountId"] = _hex(typ, name, length=6)
        elif typ == "aws:grafana/workspaceServiceAccountToken:WorkspaceServiceAccountToken":
            out["key"] = "glsa_" + _hex(typ, name, length=32)
            out["serviceAccountTokenId"] = _hex(name, length=6)
        elif typ == "aws:networkfirewall/firewall:Firewall":
            out["firewallStatuses"] = [
                {
                    "syncStates": [
                        {
                            "availabilityZone": f"{region}a",
                            "attachments": [
                                {
                                    "endpointId": "vpce-" + _hex("fw-endpoint", name),
                                    "subnetId": inputs["subnetMappings"][0]["subnetId"],
                                }
                            ],
                        }
                    ]
                }
            ]
        return rid, out


@dataclass(frozen=True)
class OfflineRun:
    """The result of running one stack offline."""

    stack: str
    resources: list[Recorded]
    outputs: dict[str, Any]
    calls: list[tuple[str, dict[str, Any]]]

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str, name: str | None = None) -> Recorded:
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {typ} {name or ''}, found {len(found)}")
        return found[0]


def read_stack_file(stack: str, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The ``config:`` mapping of ``Pulumi.<stack>.yaml``."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no stack file {path.name} in {root}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path.name}: 'config' must be a mapping")
    return config


def _as_engine_value(value: Any) -> str:
    # The engine hands every config value to the program as a string (JSON when structured).
    return value if isinstance(value, str) else json.dumps(value)


def _admin_caller_arn(raw: Mapping[str, Any]) -> str | None:
    arn = raw.get(f"{PROJECT}:adminRoleArn")
    if not isinstance(arn, str) or ":role/" not in arn:
        return None
    account = arn.split(":")[4]
    return f"arn:aws:sts::{account}:assumed-role/{arn.rsplit('/', 1)[-1]}/pulumi-offline"


def run_offline(
    stack: str,
    raw_config: Mapping[str, Any],
    *,
    caller_arn: str | None = None,
    mocks: RecordingMocks | None = None,
    preview: bool = False,
) -> OfflineRun:
    """Run the program directory ``infra/`` for `stack` under recording mocks.

    By default the deployer is the stack's admin role, as the README asks. Pass `mocks` to
    inspect what was recorded even when the program fails.
    """
    caller = caller_arn or _admin_caller_arn(raw_config)
    if mocks is None:
        account = caller.split(":")[4] if caller else MOCK_ACCOUNT
        mocks = RecordingMocks(
            account_id=account,
            region=str(raw_config.get("aws:region", MOCK_REGION)),
            preview=preview,
        )
        if caller:
            mocks.caller_arn = caller

    # Pulumi's runtime is global: start each run from a fresh root stack and monitor.
    pulumi_settings.ROOT.set(None)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=mocks.preview, monitor=monitor
    )
    pulumi.runtime.set_all_config({k: _as_engine_value(v) for k, v in raw_config.items()})
    captured: dict[str, Any] = {}
    # The program names misspelt keys from the stack file: give it this run's config as one.
    stack_dir = tempfile.TemporaryDirectory(prefix="tradewarden-stack-")
    Path(stack_dir.name, f"Pulumi.{stack}.yaml").write_text(
        yaml.safe_dump({"config": dict(raw_config)}), encoding="utf-8"
    )
    saved_dir, infra_config.STACK_FILE_DIR = infra_config.STACK_FILE_DIR, Path(stack_dir.name)

    def program() -> pulumi.Output[None]:
        runpy.run_path(str(PROGRAM_DIR), run_name="__main__")  # as Pulumi runs it
        root = pulumi_settings.get_root_resource()
        exported = dict(getattr(root, "outputs", {}) or {})
        return pulumi.Output.all(**exported).apply(captured.update)

    try:
        pulumi.runtime.test(program)()
    finally:
        pulumi.runtime.set_all_config({})
        infra_config.STACK_FILE_DIR = saved_dir
        stack_dir.cleanup()
    # Keyed by type and name: two resources may share a name (the firewall's subnet and
    # the firewall itself are both "<network>-firewall").
    urns = {(_urn_type(urn), urn.rsplit("::", 1)[-1]): urn for urn in monitor.resources}
    resources = []
    for r in mocks.resources:
        urn = urns.get((r.type, r.name), "")
        reg = monitor.registrations.get(urn)
        extra = (
            {"options": reg.options, "property_dependencies": reg.property_dependencies}
            if reg
            else {}
        )
        resources.append(replace(r, urn=urn, **extra))
    return OfflineRun(stack, resources, captured, list(mocks.calls))
