"""Key-permission attestation: what each Binance key may do, read now from
``GET /sapi/v1/account/apiRestrictions`` and judged by the daemon's own rule
(`tradewarden.live.key_permissions.evaluate_restrictions`), the egress address against the key's IP
restriction, and the age of every stored secret (`tradewarden.secrets.age`).

Only flags are kept (true/false; anything else is reported as "not a boolean"): never a
key, a secret or an account id. Binance's API tells whether a key is IP-restricted, not the
list itself; what it does prove is that a signed request *from this host* was accepted
while ``ipRestrict`` is true, i.e. this host's egress address is on the key's whitelist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradewarden.core.config import Mode, Settings


@dataclass
class KeyReading:
    role: str
    read: bool  # the exchange answered
    flags: dict[str, bool | str] = field(default_factory=dict)
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class Attestation:
    mode: str
    endpoint: str
    checked_at: float
    keys: list[KeyReading] = field(default_factory=list)
    not_read: str = ""  # why the exchange was not asked ("" = it was)
    egress_ip: str = ""
    egress_source: str = ""
    ip_statement: str = ""
    ages: list[dict[str, Any]] = field(default_factory=list)
    ages_error: str = ""

    @property
    def ok(self) -> bool:
        """Every key read and acceptable. Paper mode uses no key: nothing to attest."""
        return bool(self.keys) and all(k.read and k.ok for k in self.keys)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "endpoint": self.endpoint,
            "checked_at": self.checked_at,
            "keys": [k.__dict__ for k in self.keys],
            "not_read": self.not_read,
            "egress_ip": self.egress_ip,
            "egress_source": self.egress_source,
            "ip_statement": self.ip_statement,
            "secret_ages": self.ages,
            "secret_ages_error": self.ages_error,
            "all_keys_acceptable": self.ok,
        }


def _flags_only(raw: Any) -> dict[str, bool | str]:
    if not isinstance(raw, dict):
        return {}
    return {
        str(k): (v if isinstance(v, bool) else "not a boolean")
        for k, v in sorted(raw.items())
        if str(k).startswith(("enable", "permits", "ipRestrict"))
    }


def read_keys(settings: Settings, broker: Any) -> list[KeyReading]:
    from tradewarden.live.key_permissions import check_futures_account, evaluate_restrictions
    from tradewarden.secrets import scrub
    from tradewarden.trading.broker import BrokerError

    out = []
    for role in broker.key_roles:
        try:
            raw = broker.api_restrictions(role)
        except BrokerError as exc:
            out.append(KeyReading(role, False, error=scrub.scrub(str(exc))))
            continue
        result = evaluate_restrictions(
            raw if isinstance(raw, dict) else {}, role, futures=settings.futures_enabled
        )
        if settings.futures_enabled and role == "trade":
            # the gate's futures-side check, as the start-up check does it (`check_trade_key`):
            # through the broker's futures account, or not verified (fail closed)
            reader = broker if callable(getattr(broker, "futures_account", None)) else None
            result = check_futures_account(result, reader)
        out.append(
            KeyReading(
                role,
                True,
                _flags_only(raw),
                result.ok,
                list(result.problems),
                list(result.warnings),
            )
        )
    return out


def attest(
    settings: Settings,
    *,
    egress_ip: str | None = None,
    host_env: Path | None = None,
    broker_factory: Any = None,
    now: float | None = None,
) -> Attestation:
    from tradewarden.core.config import ConfigError
    from tradewarden.operations import diagnose
    from tradewarden.secrets import scrub
    from tradewarden.secrets.age import check_ages
    from tradewarden.secrets.errors import SecretError
    from tradewarden.secrets.factory import build_source
    from tradewarden.state.store import StateError, Store

    at = Attestation(
        settings.mode.value, settings.effective_binance_url, time.time() if now is None else now
    )
    if settings.mode is Mode.PAPER:
        at.not_read = "paper mode: the daemon uses no exchange key, so no key was read"
    else:
        try:
            store = Store(":memory:", durable=False)
        except StateError as exc:  # pragma: no cover - an in-memory database
            at.not_read = str(exc)
        else:
            try:
                broker = (broker_factory or diagnose.make_broker)(settings, store)
                at.keys = read_keys(settings, broker)
            except (ConfigError, SecretError) as exc:
                at.not_read = f"no usable exchange key: {scrub.scrub(str(exc))}"
            finally:
                store.close()
    # the egress address: given, else what the stack wrote on this host
    if egress_ip:
        at.egress_ip, at.egress_source = egress_ip, "--egress-ip"
    else:
        check = diagnose.check_egress_ip(host_env or diagnose.HOST_ENV)
        if check is not None and check.data.get("egress_ip"):
            at.egress_ip = str(check.data["egress_ip"])
            at.egress_source = str(host_env or diagnose.HOST_ENV)
    at.ip_statement = _ip_statement(at)
    try:
        at.ages = [a.as_dict() for a in check_ages(settings, build_source(settings), now)]
        for a in at.ages:
            a.pop("fingerprint", None)  # not needed to attest an age
            a["detail"] = scrub.scrub(str(a.get("detail") or ""))
    except (ConfigError, SecretError) as exc:
        at.ages_error = scrub.scrub(str(exc))
    return at


def _ip_statement(at: Attestation) -> str:
    where = (
        f"the stack's egress address (NAT Elastic IP) is {at.egress_ip} ({at.egress_source})"
        if at.egress_ip
        else "the stack's egress address is not known here (`pulumi stack output natPublicIp`;"
        " on the host /etc/tradewarden/host.env records it)"
    )
    if not at.keys:
        return f"{where}; no key was read ({at.not_read or 'none configured'})"
    parts = []
    for k in at.keys:
        if not k.read:
            parts.append(f"{k.role} key: not readable ({k.error})")
        elif k.flags.get("ipRestrict") is True:
            parts.append(
                f"{k.role} key: ipRestrict true, and its signed request from this host was"
                " accepted, so this host's egress address is on the key's IP whitelist"
            )
        else:
            parts.append(f"{k.role} key: NOT IP-restricted (usable from any address)")
    return f"{where}; " + "; ".join(parts)


def markdown(at: Attestation) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at.checked_at))
    how = (
        "`GET /sapi/v1/account/apiRestrictions`, judged by"
        " `tradewarden.live.key_permissions.evaluate_restrictions`; values shown as flags only"
    )
    out = ["# Key-permission attestation", ""]
    if at.keys:
        out += [f"Read {when} in mode `{at.mode}` from `{at.endpoint}` ({how}).", ""]
    else:
        out += [f"Built {when} in mode `{at.mode}`: no key was read ({how} when one is).", ""]
    if at.not_read:
        out += [f"**Not read:** {at.not_read}", ""]
    for k in at.keys:
        verdict = "ACCEPTABLE" if k.read and k.ok else "NOT ACCEPTABLE"
        out += [f"## {k.role} key: {verdict}", ""]
        if not k.read:
            out += [f"The exchange did not answer: {k.error}", ""]
            continue
        out += ["| Flag | Value |", "|---|---|"]
        out += [f"| `{n}` | {str(v).lower()} |" for n, v in k.flags.items()]
        out += [""]
        out += [f"- problem: {p}" for p in k.problems]
        out += [f"- warning: {w}" for w in k.warnings]
        out += [""]
    out += ["## IP whitelist", "", at.ip_statement, "", "## Secret ages", ""]
    if at.ages_error:
        out += [f"Not readable: {at.ages_error}", ""]
    else:
        out += [
            "| Role | Secret id | Status | Age (days) | Version | Detail |",
            "|---|---|---|---|---|---|",
        ]
        for a in at.ages:
            age = "unknown" if a["age_days"] is None else f"{a['age_days']:.1f}"
            detail = str(a.get("detail") or "").replace("|", "/")
            out.append(
                f"| {a['role']} | `{a['secret_id']}` | {a['status']} | {age} |"
                f" {a['version'] or ''} | {detail} |"
            )
        out.append("")
        out.append("ok below 80 days, warn from 80, critical from 90 (the seed's rotation period).")
    return "\n".join(out) + "\n"
