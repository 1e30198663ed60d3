"""Outbound HTTP to client-chosen URLs, with the server-side request forgery guard.

The provider makes requests to URLs that clients registered: their ``jwks_uri`` (RFC 7523 client
authentication), their ``sector_identifier_uri`` (OpenID Connect Core 8.1) and their
``backchannel_logout_uri`` (Back-Channel Logout 1.0).  Every such request goes through :func:`request`:

- https only (http only with the test/development switch, :func:`loopback_allowed`);
- the host is resolved once and refused when any of its addresses is loopback, private, link-local or
  otherwise not global, or carries such an IPv4 address (:func:`address_allowed`); the connection then
  goes to exactly the address that was checked (no second DNS lookup: DNS rebinding);
- no redirects, proxies or retries; a total timeout; at most ``max_bytes`` of the body are read.

Failures of the guard raise :class:`Refused`; network failures raise urllib3's errors or OSError.
Each caller turns them into its own protocol error.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

from idp import tracing
from idp.extensions import state

# IPv6 ranges that carry an IPv4 address (or reach IPv4 through a translator) that Python's
# ``is_global`` judges by the IPv6 prefix alone: the embedded IPv4 address is checked as well.
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 2.1: the IPv4 address is the last 32 bits
# RFC 8215: local-use NAT64 prefixes; where the IPv4 address sits depends on the operator's prefix length.
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291 2.5.5.1: deprecated, never a real destination


class Refused(Exception):
    """The guard refused the request (scheme, unresolvable host, or an address that is not allowed)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Response:
    """What an outbound request returned: the status, at most ``max_bytes`` + 1 bytes of the body, its type."""

    status: int
    body: bytes
    content_type: str = ""


def loopback_allowed() -> bool:
    """True when the provider may call loopback/private hosts (``jwks_uri``, ``sector_identifier_uri``,
    back-channel logout): ``IDP_JWKS_URI_ALLOW_LOOPBACK``, by default on only with an http loopback issuer
    (idp.config), never in production (server-side request forgery guard)."""
    config = state().config
    return bool(config["JWKS_URI_ALLOW_LOOPBACK"]) and config["ENV"] != "production"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: IPv4-mapped (RFC 4291 2.5.5.2), 6to4 (RFC 3056) or NAT64."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_allowed(address: str) -> bool:
    """True when the provider may send a request to ``address``: a global unicast address, and for an
    IPv6 address that carries an IPv4 address (mapped, 6to4, NAT64), a global embedded address too.

    Refused outright: local-use NAT64 (RFC 8215, private by definition), IPv4-compatible addresses
    (RFC 4291, deprecated) and Teredo (RFC 4380: the tunnel ends anywhere the relay chooses); Python's
    ``is_global`` does not refuse all of these in every version.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if not ip.is_global or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64_LOCAL_USE or ip in IPV4_COMPATIBLE or ip.teredo is not None:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None and (not embedded.is_global or embedded.is_multicast):
            return False
    return True


def private_ip_literal(host: str) -> bool:
    """True for an IP literal the guard refuses (registration says so early); False for a host name,
    which is checked after DNS when the request is made."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return not address_allowed(host)


def pinned_address(host: str, port: int) -> str:
    """One address of ``host`` to connect to; refused when any address is loopback, private, link-local
    or otherwise not global, or carries such an IPv4 address (:func:`address_allowed`; unless allowed
    for tests).  The connection then goes to exactly this address, so a second DNS answer cannot
    redirect it (DNS rebinding)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused("host does not resolve") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise Refused("host does not resolve")
    if not loopback_allowed():
        for address in addresses:
            if not address_allowed(address):
                raise Refused("address not allowed")
    return addresses[0]


def request(method: str, uri: str, *, timeout: float, max_bytes: int, body: bytes | str | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """``method`` ``uri`` through the guard (module doc); raises :class:`Refused`, urllib3 errors, OSError."""
    parts = urlsplit(uri)
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback_allowed()):
        raise Refused("not https")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = pinned_address(host, port)
    pool: urllib3.HTTPConnectionPool
    if parts.scheme == "https":
        # TLS is checked against the host name while the socket goes to the pinned address.
        pool = urllib3.HTTPSConnectionPool(address, port, timeout=urllib3.Timeout(total=timeout), retries=False,
                                           server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED")
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=urllib3.Timeout(total=timeout), retries=False)
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    # The span's URL has no query (it may carry a client's secrets); idp.tracing.
    with pool, tracing.span("HTTP " + method, **{"http.request.method": method,
                                                 "url.full": tracing.without_query(uri)}) as span:
        resp = pool.urlopen(method, path, body=body,
                            headers={"Host": parts.netloc.rpartition("@")[2], **(headers or {})},
                            redirect=False, preload_content=False)
        span.set_attribute("http.response.status_code", int(resp.status))
        try:
            return Response(int(resp.status), bytes(resp.read(max_bytes + 1)),
                            str(resp.headers.get("Content-Type", "")))
        finally:
            resp.release_conn()
