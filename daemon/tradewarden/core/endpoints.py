"""Which Binance base URL is used, parsed as the HTTP client parses it.

The URL is parsed as the HTTP client parses it (requests' preparation, urllib3's
``parse_url``), cross-checked with ``urllib.parse``; a URL they could read differently
(userinfo, backslashes, a path, ...) is refused outright (`EndpointError`; the settings
turn it into exit 2). Only a parse: nothing is sent. The settings validate
``TRADEWARDEN_BINANCE_BASE_URL`` with it; the live gate (`tradewarden.live.gate`) decides
with `host_kind` / `endpoint_kind` whether a host gets testnet or live treatment.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

EndpointKind = Literal["live", "testnet"]
HostKind = Literal["testnet", "loopback", "production"]
# The only hosts testnet mode talks to (Binance's spot testnet). Anything else that is not
# loopback is treated as production: it needs the whole live gate.
TESTNET_HOSTS = frozenset({"testnet.binance.vision"})
DEFAULT_TESTNET_URL = "https://testnet.binance.vision"
DEFAULT_LIVE_URL = "https://api.binance.com"
_PROBE_PATH = "/api/v3/ping"  # what python-binance appends to the base URL (+ /api)


class EndpointError(ValueError):
    """A Binance base URL that is refused outright (the message says why)."""


@dataclass(frozen=True)
class Endpoint:
    """A base URL as the HTTP client will really use it."""

    url: str  # canonical: scheme://host[:port], lower-case host, no trailing dot
    scheme: str
    host: str
    port: int | None
    kind: HostKind


def _norm_host(host: str) -> str:
    h = host.strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if h.endswith("."):
        h = h[:-1]
    if not h or h.endswith(".") or ".." in h:
        raise EndpointError(f"host {host!r} is not a valid host name")
    try:
        return h.encode("idna").decode("ascii")
    except UnicodeError:
        raise EndpointError(f"host {host!r} is not a valid host name") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_endpoint(url: str) -> Endpoint:
    """Parse a Binance base URL with the HTTP client's own parser (requests' preparation and
    urllib3's ``parse_url``), cross-checked against ``urllib.parse``; raise `EndpointError`
    when the URL is ambiguous or unusual: userinfo, backslashes, whitespace, a path, query or
    fragment, parsers that disagree, plain http to anything but loopback, or a port other
    than 443 on a non-loopback host. The host is normalised (lower-case, one trailing dot
    stripped, IDNA)."""
    if not isinstance(url, str) or not url:
        raise EndpointError("empty URL")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise EndpointError("the URL contains whitespace or control characters")
    if "\\" in url:
        raise EndpointError("the URL contains a backslash (HTTP parsers disagree on it)")
    if "@" in url:
        raise EndpointError("the URL contains userinfo ('@'): not allowed in a base URL")
    if "?" in url or "#" in url:
        raise EndpointError("a base URL has no query or fragment")
    base = url.rstrip("/")
    try:
        sent = requests.Request("GET", base + _PROBE_PATH).prepare().url or ""
        client = parse_url(sent)
        other = urlsplit(base)
        other_port = other.port
    except (requests.RequestException, ValueError, LocationParseError) as exc:
        raise EndpointError(f"not a usable URL ({type(exc).__name__})") from None
    scheme = (client.scheme or "").lower()
    if scheme not in ("https", "http") or scheme != other.scheme.lower():
        raise EndpointError("the scheme must be https")
    if client.auth or other.username or other.password:
        raise EndpointError("the URL contains userinfo: not allowed in a base URL")
    if other.path not in ("", "/") or client.path != _PROBE_PATH:
        raise EndpointError("a base URL has no path (python-binance adds /api itself)")
    if not client.host or not other.hostname:
        raise EndpointError("the URL has no host")
    host = _norm_host(client.host)
    if host != _norm_host(other.hostname) or client.port != other_port:
        raise EndpointError("URL parsers disagree about the host: refused")
    kind: HostKind
    if host in TESTNET_HOSTS:
        kind = "testnet"
    elif _is_loopback(host):
        kind = "loopback"
    else:
        kind = "production"
    if scheme != "https" and kind != "loopback":
        raise EndpointError("plain http is only for a loopback test exchange; use https")
    if kind != "loopback" and client.port not in (None, 443):
        raise EndpointError(f"port {client.port} is not Binance's (443)")
    shown = f"[{host}]" if ":" in host else host
    port = f":{client.port}" if client.port is not None else ""
    return Endpoint(f"{scheme}://{shown}{port}", scheme, host, client.port, kind)


def host_kind(url: str) -> HostKind | None:
    """testnet / loopback / production, or None for a refused URL."""
    try:
        return parse_endpoint(url).kind
    except EndpointError:
        return None


def endpoint_kind(url: str, binance_testnet: bool) -> EndpointKind:
    """Whether a URL gets testnet or live treatment: a known testnet host is testnet,
    loopback (the local fake exchange) is whatever ``BINANCE_TESTNET`` says, and anything
    else, a refused URL included, is live (every live check applies)."""
    kind = host_kind(url)
    if kind == "testnet":
        return "testnet"
    if kind == "loopback":
        return "testnet" if binance_testnet else "live"
    return "live"
