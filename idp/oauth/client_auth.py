"""``private_key_jwt`` client authentication (RFC 7523 2.2 and 3, OpenID Connect Core 9).

The client signs a short-lived JWT with ``iss`` = ``sub`` = its client_id and ``aud`` naming this
provider (the issuer, or the URL of the endpoint being called).  We check the signature against the
client's registered ``jwks`` (or keys fetched from its ``jwks_uri``), accept only RS256/ES256/PS256,
require ``exp`` at most :data:`MAX_LIFETIME` (one hour) ahead, and accept each ``jti`` once
(RFC 7523 3 item 7) through the store's atomic ``add``.

Fetching ``jwks_uri`` is a server-side request to a client-chosen URL, made through the outbound guard
of :mod:`idp.net`: https only, no redirects, proxies or retries, a short timeout, a size limit, and
refused for loopback, private and link-local addresses unless ``IDP_JWKS_URI_ALLOW_LOOPBACK`` is set
(tests and development only, never in production).  The connection goes to the very address that was
checked (no second DNS lookup).
"""

from __future__ import annotations

import json
import time
from typing import Any

import urllib3
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7523.client import ASSERTION_TYPE
from flask import g, has_request_context
from flask import request as flask_request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp import net
from idp.extensions import setting, state
from idp.oauth import untrusted
from idp.oauth.client_metadata import ASSERTION_ALGS, MetadataError, parse_jwks

METHOD = "private_key_jwt"
# Seconds an assertion may still live (its exp from now).  Shorter would be nicer, but Authlib's own
# client signs assertions for one hour and unmodified relying parties must work; the jti cache keeps
# each assertion single-use for its whole life anyway.
MAX_LIFETIME = 3600
MAX_ASSERTION_LENGTH = 8192
ENDPOINT_PATHS = ("/token", "/revoke", "/introspect")
MAX_JWKS_BYTES = 65536


def _get(uri: str) -> bytes:
    """GET the client's ``jwks_uri`` through the outbound guard (:mod:`idp.net`), at most
    MAX_JWKS_BYTES + 1 bytes; the guard's refusals and error statuses are the client's problem."""
    try:
        resp = net.request("GET", uri, timeout=setting("JWKS_URI_TIMEOUT"), max_bytes=MAX_JWKS_BYTES,
                           headers={"Accept": "application/json"})
    except net.Refused as exc:
        raise InvalidClientError(description=_REFUSED[exc.reason]) from None
    if resp.status != 200:
        raise InvalidClientError(description="The client's jwks_uri did not answer with its keys.")
    return resp.body


_REFUSED = {
    "not https": "The client's jwks_uri must use https.",
    "host does not resolve": "The client's jwks_uri host does not resolve.",
    "address not allowed": "The client's jwks_uri points to an address that is not allowed.",
}


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
