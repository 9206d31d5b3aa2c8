"""Anonymised log excerpts: account ids, order ids, client order ids, trade ids, IPs,
e-mail addresses and amounts are replaced by tokens that are the same for the same value
everywhere in one packet (HMAC-SHA256 under a random key that is never written down), so a
reader can follow one order through the audit and journal lines without learning its id.
Values under secret-like keys, and credential-shaped text (Slack webhooks and tokens, URL
passwords, bearer tokens, AWS access key ids, Binance-style 64-character keys), are dropped
to ``***``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from typing import Any

ID_KEYS = frozenset(
    {
        "client_order_id",
        "clientorderid",
        "origclientorderid",
        "newclientorderid",
        "exchange_order_id",
        "order_id",
        "orderid",
        "trade_id",
        "tradeid",
        "account",
        "account_id",
        "accountid",
        "uid",
        "outbox_id",
        "proposal_id",
        "address",
        "cold_address",
        "listenkey",
    }
)
AMOUNT_KEYS = frozenset(
    {
        "qty",
        "quantity",
        "origqty",
        "executedqty",
        "price",
        "fee",
        "commission",
        "amount",
        "notional",
        "value",
        "equity",
        "portfolio_equity",
        "balance",
        "free",
        "locked",
        "pnl",
        "realized_pnl",
        "unrealized_pnl",
        "hot",
        "cold",
        "hot_usd",
        "cold_usd",
        "starting_balance_usdt",
    }
)


def _norm_key(key: str) -> str:
    """`client_order_ids`, `clientOrderId`, `orig-client-order-id` -> one spelling."""
    k = key.lower().replace("_", "").replace("-", "")
    return k[:-1] if k.endswith("ids") else k


_ID_NORM = frozenset(_norm_key(k) for k in ID_KEYS)
_AMOUNT_NORM = frozenset(_norm_key(k) for k in AMOUNT_KEYS)
TIME_KEYS = frozenset({"ts", "time", "at", "snapshot_ts", "checked_at", "seq"})
SECRET_KEY = re.compile(
    r"(secret|password|passwd|token|api_?key|signature|credential|authorization|cookie)", re.I
)
# Credentials by their shape, whatever their value: the packet's sweep knows only the
# values the secret source holds now, not a key rotated away or a replaced webhook that an
# old log line still carries. (prefix kept, the rest -> ***)
_CREDENTIALS = (
    re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s\"'<>]+"),
    re.compile(r"()\bxox[a-z]-[A-Za-z0-9-]+"),  # Slack tokens
    re.compile(r"(://[^/\s:@\"']+:)[^\s@/\"']+(?=@)"),  # scheme://user:password@host
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"()\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"()\b(?=[A-Za-z0-9]*[g-zG-Z])[A-Za-z0-9]{64}\b"),  # Binance keys (not hex)
    re.compile(
        r"(?i)(\b(?:signature|api_?key|x-mbx-apikey|token|password|secret)[=:]\s*)[^\s&\"',;]+"
    ),
)
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_CLIENT_ID = re.compile(r"\btw-[A-Za-z0-9]+-[A-Za-z0-9]+-[A-Za-z0-9]+\b")  # client_ids.py
# SYMBOL:clientOrderId, as the reconciler names an order (exchange/reconcile.py): the id
# of an order that is not ours has no tw- shape (Binance app `web_...`, Binance's random id)
_SYMBOL_ORDER = re.compile(
    r"\b([A-Z0-9]{2,12}(?:USDT|USDC|FDUSD|TUSD|BUSD|DAI|BTC|ETH|BNB|EUR|TRY):)"
    r"([A-Za-z0-9_.-]{1,36})(?![\w.-])"
)
_LONG_NUMBER = re.compile(r"(?<![\w.])\d{6,}(?![\w.])")  # account / order numbers in text
_AMOUNT_TEXT = re.compile(r"(?<![\w.:])\d[\d,]*\.\d+(?![\w.:])")  # 1,234.56 in a sentence


class Masker:
    """Consistent, keyed masking for one packet."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)
        self.counts: dict[str, int] = {}

    def token(self, kind: str, value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        digest = hmac.new(self._key, f"{kind}\0{text}".encode(), hashlib.sha256).hexdigest()
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return f"<{kind}:{digest[:10]}>"

    def text(self, s: str) -> str:
        for pattern in _CREDENTIALS:
            s = pattern.sub(self._redact, s)
        s = _EMAIL.sub(lambda m: self.token("email", m.group(0)), s)
        s = _IPV6.sub(self._ipv6, s)
        s = _IPV4.sub(lambda m: self.token("ip", m.group(0)), s)
        s = _CLIENT_ID.sub(lambda m: self.token("id", m.group(0)), s)
        s = _SYMBOL_ORDER.sub(lambda m: m.group(1) + self.token("id", m.group(2)), s)
        s = _AMOUNT_TEXT.sub(lambda m: self.token("amt", _norm_amount(m.group(0))), s)
        return _LONG_NUMBER.sub(lambda m: self.token("id", m.group(0)), s)

    def _ipv6(self, m: re.Match[str]) -> str:
        try:
            addr = ipaddress.IPv6Address(m.group(0))
        except ValueError:
            return m.group(0)  # a time of day, a MAC, a hash fragment: not an address
        return self.token("ip", str(addr))  # one token whatever the notation

    def _redact(self, m: re.Match[str]) -> str:
        self.counts["credential"] = self.counts.get("credential", 0) + 1
        return m.group(1) + "***"

    def value(self, obj: Any, key: str = "") -> Any:
        k = key.lower()
        if isinstance(obj, dict):
            return {kk: self.value(v, str(kk)) for kk, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.value(v, key) for v in obj]
        if obj is None or isinstance(obj, bool) or k in TIME_KEYS:
            return obj
        if k and SECRET_KEY.search(k) and not k.endswith(("_set", "_id", "_ids", "_fp")):
            return "***"
        nk = _norm_key(k)
        if nk in _ID_NORM:
            return self.token("id", str(obj))
        if nk in _AMOUNT_NORM and isinstance(obj, int | float | str):
            return self.token("amt", _norm_amount(obj))
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, int) and _LONG_NUMBER.fullmatch(str(obj)):
            return self.token("id", str(obj))  # an id as a JSON number: as it would be as text
        return obj

    def line(self, raw: str) -> str:
        """One JSON line masked (a line that is not JSON is masked as text)."""
        try:
            obj = json.loads(raw)
        except ValueError:
            return self.text(raw.rstrip("\n"))
        return json.dumps(self.value(obj), sort_keys=True, ensure_ascii=False)


def _norm_amount(v: int | float | str) -> str:
    """The same amount written as 30000, 30000.0 or "30000.00" gets the same token."""
    try:
        return repr(float(str(v).replace(",", "")))
    except ValueError:
        return str(v)
