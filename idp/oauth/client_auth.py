"""``private_key_jwt`` client authentication (RFC 7523 2.2 and 3, OpenID Connect Core 9).

The client signs a short-lived JWT with ``iss`` = ``sub`` = its client_id and ``aud`` naming this
provider (the issuer, or the URL of the endpoint being called).  We check the signature against the
client's registered ``jwks`` (or keys fetched from its ``jwks_uri``), accept only RS256/ES256/PS256,
require ``exp`` at most :data:`MAX_LIFETIME` (one hour) ahead, and accept each ``jti`` once
(RFC 7523 3 item 7) through the store's atomic ``add``.

Fetching ``jwks_uri`` is a server-side request to a client-chosen URL: https only, no redirects, proxies
or retries, a short timeout, a size limit, and refused for loopback, private and link-local addresses
unless ``IDP_JWKS_URI_ALLOW_LOOPBACK`` is set (tests and development only, never in production).  The
connection goes to the very address that was checked (no second DNS lookup).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import urllib3
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7523.client import ASSERTION_TYPE
from flask import g, has_request_context
from flask import request as flask_request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.extensions import setting, state
from idp.oauth import untrusted
from idp.oauth.registration import ASSERTION_ALGS, MetadataError, loopback_allowed, parse_jwks

METHOD = "private_key_jwt"
# Seconds an assertion may still live (its exp from now).  Shorter would be nicer, but Authlib's own
# client signs assertions for one hour and unmodified relying parties must work; the jti cache keeps
# each assertion single-use for its whole life anyway.
MAX_LIFETIME = 3600
MAX_ASSERTION_LENGTH = 8192
ENDPOINT_PATHS = ("/token", "/revoke", "/introspect")
MAX_JWKS_BYTES = 65536




# IPv6 ranges that carry an IPv4 address (or reach IPv4 through a translator) that Python's
# ``is_global`` judges by the IPv6 prefix alone: the embedded IPv4 address is checked as well.
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 2.1: the IPv4 address is the last 32 bits
# RFC 8215: local-use NAT64 prefixes; where the IPv4 address sits depends on the operator's prefix length.
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291 2.5.5.1: deprecated, never a real destination


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


def _pinned_address(host: str, port: int) -> str:
    """One address of ``host`` to connect to; refused when any address is loopback, private, link-local
    or otherwise not global, or carries such an IPv4 address (:func:`address_allowed`; unless allowed
    for tests).  The connection then goes to exactly this
    address, so a second DNS answer cannot redirect it (DNS rebinding)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise InvalidClientError(description="The client's jwks_uri host does not resolve.") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise InvalidClientError(description="The client's jwks_uri host does not resolve.")
    if not loopback_allowed():
        for address in addresses:
            if not address_allowed(address):
                raise InvalidClientError(
                    description="The client's jwks_uri points to an address that is not allowed.")
    return addresses[0]


def _get(uri: str) -> bytes:
    """GET ``uri`` without redirects, proxies or retries, at most MAX_JWKS_BYTES + 1 bytes."""
    parts = urlsplit(uri)
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback_allowed()):
        raise InvalidClientError(description="The client's jwks_uri must use https.")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _pinned_address(host, port)
    timeout = urllib3.Timeout(total=setting("JWKS_URI_TIMEOUT"))
    pool: urllib3.HTTPConnectionPool
    if parts.scheme == "https":
        # TLS is checked against the host name while the socket goes to the pinned address.
        pool = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False,
                                           server_hostname=host, assert_hostname=host,
                                           cert_reqs="CERT_REQUIRED")
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    with pool:
        resp = pool.urlopen("GET", path, headers={"Host": parts.netloc.rpartition("@")[2],
                                                  "Accept": "application/json"},
                            redirect=False, preload_content=False)
        try:
            if resp.status != 200:
                raise InvalidClientError(description="The client's jwks_uri did not answer with its keys.")
            return bytes(resp.read(MAX_JWKS_BYTES + 1))
        finally:
            resp.release_conn()


def fetch_jwks(uri: str) -> dict[str, Any]:
    """The client's JWK Set from ``jwks_uri``, cached per process for ``JWKS_URI_CACHE_TTL`` seconds."""
    cache: dict[str, tuple[float, dict[str, Any]]] = state().extra.setdefault("jwks_uri_cache", {})
    hit = cache.get(uri)
    now = time.monotonic()
    if hit and hit[0] > now:
        return hit[1]
    try:
        body = _get(uri)
        if len(body) > MAX_JWKS_BYTES:
            raise InvalidClientError(description="The client's JWK Set is too large.")
        keys = parse_jwks(json.loads(body), "jwks_uri")
    except (urllib3.exceptions.HTTPError, OSError, ValueError, MetadataError):
        raise InvalidClientError(description="The client's jwks_uri could not be read.") from None
    cache[uri] = (now + setting("JWKS_URI_CACHE_TTL"), keys)
    return keys


def _key_picker(keys: Any) -> Any:
    """Without a ``kid`` in the assertion, use the client's only key of the algorithm's type."""
    if not isinstance(keys, KeySet):
        return keys

    def pick(obj: Any) -> Any:
        header = obj.headers()
        if header.get("kid"):
            return keys
        kty = "EC" if str(header.get("alg", "")).startswith("ES") else "RSA"
        candidates = [k for k in keys.keys if k.key_type == kty
                      and k.get("alg") in (None, header.get("alg"))]
        return candidates[0] if len(candidates) == 1 else keys

    return pick


class PrivateKeyJWT(JWTBearerClientAssertion):
    """Authlib's client assertion checks with our audiences, algorithms, lifetime and replay cache."""

    CLIENT_AUTH_METHOD = METHOD

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=30)

    def __call__(self, query_client: Any, request: Any) -> Any:
        assertion = request.form.get("client_assertion")
        if isinstance(assertion, str) and len(assertion) > MAX_ASSERTION_LENGTH:
            raise InvalidClientError(description="The client assertion is too long.")
        if isinstance(assertion, str) and assertion and request.form.get("client_assertion_type") == ASSERTION_TYPE:
            # Authlib reads the unverified payload to find the client: bound it before any JSON parser.
            try:
                untrusted.check_compact(assertion, max_length=MAX_ASSERTION_LENGTH)
            except untrusted.UntrustedTokenError as exc:
                raise InvalidClientError(description="The client assertion is malformed.") from exc
        return super().__call__(query_client, request)

    def get_audiences(self) -> list[str]:
        """The issuer, or the URL of the endpoint being called (RFC 7523 3 item 3, OIDC Core 9)."""
        issuer = setting("ISSUER")
        audiences = [issuer, issuer + "/", issuer + "/token"]
        if has_request_context() and flask_request.path in ENDPOINT_PATHS:
            audiences.append(issuer + flask_request.path)
        return audiences

    def resolve_client_public_key(self, client: Any) -> KeySet:
        g.idp_assertion_client = client
        if client.token_endpoint_auth_method != METHOD:
            raise InvalidClientError(description=f"The client cannot authenticate with method: {METHOD}")
        meta = client.client_metadata
        try:
            if meta.get("jwks"):
                return KeySet.import_key_set(meta["jwks"])
            if meta.get("jwks_uri"):
                return KeySet.import_key_set(fetch_jwks(meta["jwks_uri"]))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError):
            pass
        raise InvalidClientError(description="The client has no usable public keys.")

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        algorithms = list(ASSERTION_ALGS)
        try:
            token = jwt.decode(assertion, _key_picker(resolve_key), algorithms=algorithms)
        except JoseError as exc:
            raise InvalidClientError(description="The client assertion is not validly signed.") from exc
        except Exception as exc:  # noqa: BLE001 - malformed input inside the JOSE library
            raise InvalidClientError(description="The client assertion is malformed.") from exc
        client = g.get("idp_assertion_client")
        wanted = client.client_metadata.get("token_endpoint_auth_signing_alg") if client else None
        if wanted and token.header.get("alg") != wanted:
            # OIDC Registration 2: assertions MUST be signed with the registered algorithm.
            raise InvalidClientError(description=f"The client assertion must be signed with {wanted}.")
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: Any) -> None:
        exp = claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise InvalidClientError(description="The client assertion needs a numeric 'exp'.")
        if exp > time.time() + MAX_LIFETIME + self.leeway:
            raise InvalidClientError(description=f"The client assertion may live at most {MAX_LIFETIME} s.")
        if claims.get("iss") != claims.get("sub"):
            raise InvalidClientError(description="Issuer and Subject MUST match.")
        jti = claims.get("jti")
        if jti is not None and (not isinstance(jti, str) or not jti or len(jti) > 256 or not _is_utf8(jti)):
            # A lone surrogate ("\\ud800" in the JSON) is a Python str but no Unicode text (RFC 8259 8.2).
            raise InvalidClientError(description="The client assertion has an invalid 'jti'.")
        super().verify_claims(claims)

    def validate_jti(self, claims: Any, jti: str) -> bool:
        ttl = max(int(claims["exp"] - time.time()) + self.leeway, 1)
        return bool(state().store.add("jti", f"{claims['sub']}:{jti}", 1, ttl))

    def authenticate_client(self, client: Any) -> Any:
        if client.check_endpoint_auth_method(METHOD, "token"):
            return client
        raise InvalidClientError(description=f"The client cannot authenticate with method: {METHOD}")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def register(server: Any) -> None:
    server.register_client_auth_method(METHOD, PrivateKeyJWT())
