"""Client metadata validation and client creation, shared by the CLI, dynamic registration and the portal.

One validator (:func:`validate_metadata`) applies the provider's rules to RFC 7591 section 2 metadata:
exact https redirect URIs (http only on loopback, RFC 8252 7.3), no fragments or wildcards
(RFC 6749 3.1.2), known grant/response types and methods, and coherent combinations.  Unknown metadata
fields are ignored (RFC 7591 2: the server MUST ignore what it does not understand), so nothing a client
sends can set operator-only properties (first-party, approved sensitive scopes).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import urllib3
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete

from idp import net
from idp.crypto import random_token
from idp.extensions import db, state
from idp.models import Client, Consent, InitialAccessToken, RefreshToken, utcnow
from idp.oauth import keys, server, tokens
from idp.people.claims import SCOPE_CLAIMS
from idp.people.pairwise import is_pairwise, sector_of

RESPONSE_TYPES = ("code",)
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
ID_TOKEN_ALGS = keys.ALGORITHMS  # what the key ring signs with
ASSERTION_ALGS = ("RS256", "ES256", "PS256")
SUBJECT_TYPES = ("public", "pairwise")
KNOWN_SCOPES = tuple(SCOPE_CLAIMS)  # every scope the provider releases claims for (idp.people.claims)
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")

# Known metadata this provider cannot honour (anything else unknown is ignored, RFC 7591 2).
UNSUPPORTED = ("id_token_encrypted_response_alg", "id_token_encrypted_response_enc",
               "userinfo_signed_response_alg", "userinfo_encrypted_response_alg",
               "userinfo_encrypted_response_enc", "request_object_encryption_alg",
               "request_object_encryption_enc", "default_max_age",
               "tls_client_certificate_bound_access_tokens", "dpop_bound_access_tokens",
               "authorization_encrypted_response_alg", "authorization_signed_response_alg")

MAX_URIS = 20
MAX_URI_LENGTH = 2000
MAX_NAME_LENGTH = 200
MAX_TEXT_LENGTH = 200
MAX_JWKS_KEYS = 10
MAX_CONTACTS = 10
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")


class MetadataError(Exception):
    """Metadata that cannot be registered; ``error`` is the RFC 7591 3.2.2 code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _bad(field: str, why: str) -> MetadataError:
    return MetadataError("invalid_client_metadata", f"'{field}': {why}")


def _is_loopback(host: str | None) -> bool:
    return (host or "").lower() in LOOPBACK_HOSTS


LOOPBACK_SETTING_HINT = ("the provider calls this address itself, and loopback or private addresses and http are "
                         "allowed only in development with IDP_JWKS_URI_ALLOW_LOOPBACK=true (the default when "
                         "IDP_ISSUER is an http loopback URL, never with IDP_ENV=production)")


def check_uri(value: Any, field: str, *, error: str = "invalid_client_metadata",
              allow_loopback_http: bool = True, fetched: bool = False) -> str:
    """A registrable absolute URI: https, or http on a loopback host; no fragment, wildcard or user info.

    ``fetched``: the provider itself sends requests to the URI (jwks_uri, sector_identifier_uri,
    backchannel_logout_uri), so a refused http URI is explained by the development setting, not by the
    redirect URI rule.
    """
    def bad(why: str) -> MetadataError:
        return MetadataError(error, f"'{field}': {why}")

    if not isinstance(value, str) or not value:
        raise bad("each value must be a non-empty string.")
    if len(value) > MAX_URI_LENGTH:
        raise bad(f"a URI may be at most {MAX_URI_LENGTH} characters long.")
    if _CONTROL.search(value) or not value.isprintable():
        raise bad("a URI must not contain spaces or control characters.")
    if "*" in value:
        raise bad("wildcards are not allowed; register every URI exactly.")
    if "#" in value:
        raise bad("a URI must not contain a fragment (RFC 6749 3.1.2).")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise bad(f"{value!r} is not a valid URI.") from None
    if parts.scheme not in ("https", "http") or not host:
        raise bad(f"{value!r} must be an absolute https URI.")
    if parts.scheme == "http" and not (allow_loopback_http and _is_loopback(host)):
        if fetched:
            raise bad(f"{value!r} must use https: {LOOPBACK_SETTING_HINT}.")
        raise bad(f"{value!r} must use https (http is allowed only on 127.0.0.1, [::1] or localhost).")
    if parts.username is not None or parts.password is not None:
        raise bad("a URI must not contain user information.")
    return value


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def check_audience(value: Any, field: str = "access_token_audience") -> str | None:
    """The resource server identifier its access tokens name in ``aud`` (RFC 9068 2.2, RFC 8707 2), or None.

    An absolute URI (RFC 3986 4.3: a scheme, no fragment), e.g. ``https://api.example.go.id`` or
    ``urn:banten:api:pajak``; an http(s) one must have a host and no user information.  The API compares
    its own identifier with the token's ``aud`` (RFC 9068 4), so a value that is not a URI is refused
    rather than stored.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(field, "must be an absolute URI string.")
    if len(value) > MAX_URI_LENGTH:
        raise _bad(field, f"a URI may be at most {MAX_URI_LENGTH} characters long.")
    if _CONTROL.search(value) or not value.isprintable():
        raise _bad(field, "a URI must not contain spaces or control characters.")
    if not _SCHEME.match(value) or "#" in value or "*" in value:
        raise _bad(field, "must be an absolute URI without a fragment (RFC 8707 2), "
                          "e.g. 'https://api.example.go.id'.")
    scheme = value.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise _bad(field, "is not a valid URI.") from None
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise _bad(field, "an http(s) URI needs a host and no user information.")
    elif len(value) <= len(scheme) + 1:
        raise _bad(field, "must be an absolute URI, e.g. 'https://api.example.go.id'.")
    return value


def _uri_list(metadata: dict[str, Any], field: str, error: str) -> list[str] | None:
    if field not in metadata:
        return None
    value = metadata[field]
    if not isinstance(value, list):
        raise MetadataError(error, f"'{field}': must be an array of URIs.")
    if len(value) > MAX_URIS:
        raise MetadataError(error, f"'{field}': at most {MAX_URIS} URIs may be registered.")
    uris: list[str] = []
    for item in value:
        uri = check_uri(item, field, error=error)
        if uri not in uris:
            uris.append(uri)
    return uris


def _choices(metadata: dict[str, Any], field: str, allowed: tuple[str, ...], default: list[str]) -> list[str]:
    if field not in metadata or metadata[field] is None:
        return list(default)
    value = metadata[field]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(field, "must be an array of strings.")
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise _bad(field, f"unsupported value {unknown[0][:40]!r}; supported: {', '.join(allowed)}.")
    return list(dict.fromkeys(value))


def _one_of(metadata: dict[str, Any], field: str, allowed: tuple[str, ...], default: str) -> str:
    value = metadata.get(field)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise _bad(field, f"unsupported value {shown!r}; supported: {', '.join(allowed)}.")
    return value


def _text(metadata: dict[str, Any], field: str, limit: int = MAX_TEXT_LENGTH) -> str | None:
    value = metadata.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(field, "must be a non-empty string.")
    if len(value) > limit:
        raise _bad(field, f"must be at most {limit} characters long.")
    if not value.isprintable():
        raise _bad(field, "must not contain control characters.")
    return value.strip()


def parse_jwks(value: Any, field: str = "jwks") -> dict[str, Any]:
    """A JWK Set of public signing keys (RSA or EC), as a plain dict; raises MetadataError otherwise."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) or not value["keys"]:
        raise _bad(field, "must be a JWK Set object with a non-empty 'keys' array.")
    if len(value["keys"]) > MAX_JWKS_KEYS:
        raise _bad(field, f"at most {MAX_JWKS_KEYS} keys are accepted.")
    for item in value["keys"]:
        if not isinstance(item, dict) or item.get("kty") not in ("RSA", "EC"):
            raise _bad(field, "only RSA and EC public keys are accepted.")
        if any(k in item for k in ("d", "p", "q", "dp", "dq", "qi")):
            raise _bad(field, "contains private key material; register public keys only.")
        if item.get("use") not in (None, "sig"):
            raise _bad(field, "keys must be signing keys ('use': 'sig').")
        if item.get("alg") is not None and item.get("alg") not in ASSERTION_ALGS:
            raise _bad(field, f"key algorithm must be one of {', '.join(ASSERTION_ALGS)}.")
    try:
        keyset = KeySet.import_key_set(value)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError):
        raise _bad(field, "is not a valid JWK Set.") from None
    except Exception:  # noqa: BLE001 - the cryptography library raises assorted errors on bad numbers
        raise _bad(field, "is not a valid JWK Set.") from None
    if any(key.is_private for key in keyset.keys):
        raise _bad(field, "contains private key material; register public keys only.")
    return {"keys": [dict(item) for item in value["keys"]]}


def grant_types() -> tuple[str, ...]:
    """The grant types a client may register: those the token endpoint serves (idp.oauth.server)."""
    return server.grant_types()


def auth_methods() -> tuple[str, ...]:
    """The ``token_endpoint_auth_method`` values a client may register (idp.oauth.server)."""
    return server.token_auth_methods()


def _backchannel(metadata: dict[str, Any]) -> dict[str, Any]:
    """``backchannel_logout_uri`` and ``backchannel_logout_session_required`` (Back-Channel Logout 2.2).

    The provider POSTs to this URI from the server, so it gets the ``jwks_uri`` rules: https, http only
    on loopback with the development/test switch (server-side request forgery guard).  Back-Channel
    Logout 2.2: the URI MAY contain a query component and MUST NOT contain a fragment.
    """
    out: dict[str, Any] = {}
    uri = metadata.get("backchannel_logout_uri")
    if uri is not None:
        out["backchannel_logout_uri"] = check_uri(uri, "backchannel_logout_uri", fetched=True,
                                                  allow_loopback_http=net.loopback_allowed())
        host = (urlsplit(uri).hostname or "").lower()
        if not net.loopback_allowed() and (host == "localhost" or net.private_ip_literal(host)):
            # Delivery would refuse these addresses anyway; say so at registration time.
            raise _bad("backchannel_logout_uri", f"must name a public host, not a loopback or private address: "
                                                 f"{LOOPBACK_SETTING_HINT}.")
    required = metadata.get("backchannel_logout_session_required")
    if required is not None:
        if not isinstance(required, bool):
            raise _bad("backchannel_logout_session_required", "must be true or false.")
        if required and uri is None:
            raise _bad("backchannel_logout_session_required", "requires 'backchannel_logout_uri'.")
        if uri is not None:
            out["backchannel_logout_session_required"] = required
    return out


def _origin(uri: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an already checked URI, with the scheme's default port filled in."""
    parts = urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _frontchannel(metadata: dict[str, Any], redirect_uris: list[str]) -> dict[str, Any]:
    """``frontchannel_logout_uri`` and ``frontchannel_logout_session_required`` (Front-Channel Logout 2).

    The URI is loaded by the person's browser (an iframe), so it gets the redirect URI rules: https, or
    http on a loopback host (RFC 8252 7.3).  Front-Channel Logout 2: it MUST be absolute, MAY have a
    query and MUST NOT have a fragment, and its scheme, host and port MUST be those of a registered
    redirect URI.  ``frontchannel_logout_session_required`` defaults to false and is stored with the URI.
    """
    out: dict[str, Any] = {}
    uri = metadata.get("frontchannel_logout_uri")
    if uri is not None:
        checked = check_uri(uri, "frontchannel_logout_uri")
        if _origin(checked) not in {_origin(r) for r in redirect_uris}:
            raise _bad("frontchannel_logout_uri", "its scheme, host and port must be those of a registered "
                                                  "redirect URI (Front-Channel Logout 2).")
        out["frontchannel_logout_uri"] = checked
    required = metadata.get("frontchannel_logout_session_required")
    if required is not None:
        if not isinstance(required, bool):
            raise _bad("frontchannel_logout_session_required", "must be true or false.")
        if required and uri is None:
            raise _bad("frontchannel_logout_session_required", "requires 'frontchannel_logout_uri'.")
    if uri is not None:
        out["frontchannel_logout_session_required"] = bool(required)
    return out


MAX_SECTOR_BYTES = 65536


def _fetch_sector_document(uri: str) -> Any:
    """The parsed JSON at ``sector_identifier_uri``, fetched with the ``jwks_uri`` SSRF guard.

    Every failure (unreachable, timeout, redirect, error status, too large, not JSON) is the client's
    problem: MetadataError ``invalid_client_metadata``, never a server error.
    """
    def bad(why: str) -> MetadataError:
        return _bad("sector_identifier_uri", why)

    refused = bad("could not be fetched (the host must be public and answer 200 with the JSON array).")
    try:
        resp = net.request("GET", uri, timeout=state().config["JWKS_URI_TIMEOUT"], max_bytes=MAX_SECTOR_BYTES,
                           headers={"Accept": "application/json"})
    except net.Refused:
        raise refused from None
    except (urllib3.exceptions.HTTPError, OSError, ValueError, UnicodeError):
        raise bad("could not be fetched (unreachable, timed out or a TLS error).") from None
    if resp.status != 200:
        raise refused
    body = resp.body
    if len(body) > MAX_SECTOR_BYTES:
        raise bad(f"the document is larger than {MAX_SECTOR_BYTES} bytes.")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise bad("the document is not valid JSON.") from None


def _subject(metadata: dict[str, Any], redirect_uris: list[str]) -> dict[str, Any]:
    """``subject_type`` and ``sector_identifier_uri`` (OIDC Registration 2, OIDC Core 8.1).

    ``sector_identifier_uri`` is fetched and must be a JSON array of strings that contains every
    registered redirect URI (Registration 2); its host is then the sector.  Without it, a pairwise
    client's redirect URIs must share one host, which is the sector (Core 8.1: several hosts require a
    ``sector_identifier_uri``).  The sector is a function of what is stored (idp.people.pairwise.sector_of),
    so subjects are computed later without fetching anything again.
    """
    out: dict[str, Any] = {"subject_type": _one_of(metadata, "subject_type", SUBJECT_TYPES, "public")}
    uri = metadata.get("sector_identifier_uri")
    if uri is not None:
        # Fetched by the server: the jwks_uri rules (https; http on loopback only in development/tests).
        checked = check_uri(uri, "sector_identifier_uri", allow_loopback_http=net.loopback_allowed(), fetched=True)
        host = (urlsplit(checked).hostname or "").lower()
        if not net.loopback_allowed() and (host == "localhost" or net.private_ip_literal(host)):
            raise _bad("sector_identifier_uri", f"must name a public host, not a loopback or private address: "
                                                f"{LOOPBACK_SETTING_HINT}.")
        listed = _fetch_sector_document(checked)
        if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
            raise _bad("sector_identifier_uri", "the document must be a JSON array of redirect URI strings.")
        missing = [r for r in redirect_uris if r not in listed]
        if missing:
            raise _bad("sector_identifier_uri", f"the document does not list the redirect URI {missing[0]!r} "
                                                "(OpenID Connect Registration 2).")
        out["sector_identifier_uri"] = checked
    elif out["subject_type"] == "pairwise":
        hosts = {(urlsplit(r).hostname or "").lower() for r in redirect_uris}
        if not hosts:
            raise _bad("subject_type", "'pairwise' needs redirect URIs or a 'sector_identifier_uri' to "
                                       "define the sector (OpenID Connect Core 8.1).")
        if len(hosts) > 1:
            raise _bad("sector_identifier_uri", "required for 'pairwise' when the redirect URIs use several "
                                                "hosts (OpenID Connect Core 8.1).")
    return out


def validate_metadata(metadata: Any, *, dynamic: bool = False,
                      current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The normalised metadata to store, or MetadataError naming the first bad field.

    ``dynamic``: the request came from RFC 7591 registration; sensitive scopes are then removed from
    the registered ``scope`` (RFC 7591 3.2.1 lets the server replace requested values), because only
    an operator may allow them.  ``current``: the stored metadata when this replaces it (RFC 7592 2.2);
    a change of the subject type or of a pairwise sector is then refused, because it would change the
    ``sub`` of every person the client knows.
    """
    if not isinstance(metadata, dict):
        raise MetadataError("invalid_client_metadata", "The client metadata must be a JSON object.")
    out: dict[str, Any] = {}
    for field in UNSUPPORTED:
        if metadata.get(field) not in (None, False):
            # Ignoring these would silently break what the client relies on (encrypted or signed
            # responses, a default max_age, bound tokens), so they are refused (OIDC Registration 3.3).
            raise _bad(field, "is not supported by this provider.")

    name = _text(metadata, "client_name", MAX_NAME_LENGTH)
    if name:
        out["client_name"] = name

    grant_types = _choices(metadata, "grant_types", server.grant_types(), ["authorization_code"])
    if not grant_types:
        raise _bad("grant_types", "must name at least one grant type.")
    code_flow = "authorization_code" in grant_types
    response_types = _choices(metadata, "response_types", RESPONSE_TYPES, ["code"] if code_flow else [])
    method = _one_of(metadata, "token_endpoint_auth_method", server.token_auth_methods(), "client_secret_basic")

    # RFC 7591 2.1: grant_types and response_types must agree.
    if "code" in response_types and not code_flow:
        raise _bad("response_types", "'code' requires the 'authorization_code' grant type.")
    if code_flow and "code" not in response_types:
        raise _bad("grant_types", "'authorization_code' requires the 'code' response type.")
    if "refresh_token" in grant_types and not code_flow:
        raise _bad("grant_types", "'refresh_token' is only issued with 'authorization_code'.")
    if method == "none" and "client_credentials" in grant_types:  # noqa: S105 - a method name
        raise _bad("grant_types", "a public client ('token_endpoint_auth_method': 'none') cannot use "
                                  "'client_credentials'.")
    out.update(grant_types=grant_types, response_types=response_types, token_endpoint_auth_method=method)

    redirect_uris = _uri_list(metadata, "redirect_uris", "invalid_redirect_uri")
    if code_flow and not redirect_uris:
        raise MetadataError("invalid_redirect_uri", "'redirect_uris': at least one redirect URI is required "
                                                    "for the 'authorization_code' grant.")
    if redirect_uris:
        out["redirect_uris"] = redirect_uris
    logout_uris = _uri_list(metadata, "post_logout_redirect_uris", "invalid_client_metadata")
    if logout_uris:
        out["post_logout_redirect_uris"] = logout_uris
    out.update(_backchannel(metadata))
    out.update(_frontchannel(metadata, redirect_uris or []))

    out["id_token_signed_response_alg"] = _one_of(metadata, "id_token_signed_response_alg", ID_TOKEN_ALGS,
                                                  "RS256")
    # JWT access tokens (RFC 9068) for resource servers that validate locally; opaque by default.
    token_format = _one_of(metadata, "access_token_format", ("opaque", "jwt"), "opaque")
    if token_format == "jwt":  # noqa: S105 - a token format name, not a secret
        out["access_token_format"] = token_format
        out["access_token_signed_response_alg"] = _one_of(metadata, "access_token_signed_response_alg",
                                                          ID_TOKEN_ALGS, "RS256")
    elif "access_token_signed_response_alg" in metadata:
        raise _bad("access_token_signed_response_alg", "only with 'access_token_format' 'jwt'.")
    audience = check_audience(metadata.get("access_token_audience"))
    if audience:
        out["access_token_audience"] = audience
    subject_type = _one_of(metadata, "subject_type", SUBJECT_TYPES, "public")
    app_type = _one_of(metadata, "application_type", ("web", "native"), "web")
    out["application_type"] = app_type

    # Keys for private_key_jwt (RFC 7591 2: jwks and jwks_uri MUST NOT both be present).
    if metadata.get("jwks") is not None and metadata.get("jwks_uri") is not None:
        raise _bad("jwks", "'jwks' and 'jwks_uri' must not both be present.")
    if metadata.get("jwks") is not None:
        out["jwks"] = parse_jwks(metadata["jwks"])
    if metadata.get("jwks_uri") is not None:
        out["jwks_uri"] = check_uri(metadata["jwks_uri"], "jwks_uri", fetched=True,
                                    allow_loopback_http=net.loopback_allowed())
        host = (urlsplit(out["jwks_uri"]).hostname or "").lower()
        if not net.loopback_allowed() and (host == "localhost" or net.private_ip_literal(host)):
            # The fetch would refuse these addresses anyway (client_auth.address_allowed); say so now.
            raise _bad("jwks_uri", "must name a public host, not a loopback or private address.")
    if method == "private_key_jwt" and "jwks" not in out and "jwks_uri" not in out:
        raise _bad("jwks", "'private_key_jwt' requires 'jwks' or 'jwks_uri'.")
    if method == "private_key_jwt" and metadata.get("token_endpoint_auth_signing_alg") is not None:
        out["token_endpoint_auth_signing_alg"] = _one_of(metadata, "token_endpoint_auth_signing_alg",
                                                         ASSERTION_ALGS, "RS256")

    scope = metadata.get("scope")
    if scope is not None:
        if not isinstance(scope, str) or len(scope) > 500:
            raise _bad("scope", "must be a space-separated string.")
        items = list(dict.fromkeys(scope.split()))
        unknown = [s for s in items if s not in KNOWN_SCOPES]
        if unknown:
            raise _bad("scope", f"unknown scope {unknown[0][:40]!r}; known: {' '.join(KNOWN_SCOPES)}.")
        if dynamic:
            sensitive = set(state().config["SENSITIVE_SCOPES"])
            items = [s for s in items if s not in sensitive]
        if items:
            out["scope"] = " ".join(items)

    for field in ("client_uri", "logo_uri", "policy_uri", "tos_uri"):
        if metadata.get(field) is not None:
            out[field] = check_uri(metadata[field], field, allow_loopback_http=True)
    contacts = metadata.get("contacts")
    if contacts is not None:
        if (not isinstance(contacts, list) or len(contacts) > MAX_CONTACTS
                or not all(isinstance(c, str) and _EMAIL.match(c) for c in contacts)):
            raise _bad("contacts", f"must be an array of at most {MAX_CONTACTS} e-mail addresses.")
        out["contacts"] = list(contacts)
    for field in ("software_id", "software_version"):
        value = _text(metadata, field)
        if value:
            out[field] = value

    # Last: it may fetch the sector document, which only well-formed metadata deserves.
    out.update(_subject(dict(metadata, subject_type=subject_type), redirect_uris or []))
    if current is not None:
        if is_pairwise(current) != is_pairwise(out) or (is_pairwise(out) and sector_of(current) != sector_of(out)):
            raise _bad("subject_type", "the subject type and the pairwise sector cannot change after "
                                       "registration (every person's 'sub' would change); register a new client.")
    return out


def check_scopes(value: str, field: str = "approved_scopes") -> str:
    """A space-separated list of known scopes (operator input)."""
    items = list(dict.fromkeys(value.split()))
    unknown = [s for s in items if s not in KNOWN_SCOPES]
    if unknown:
        raise _bad(field, f"unknown scope {unknown[0][:40]!r}; known: {' '.join(KNOWN_SCOPES)}.")
    return " ".join(items)


def uses_secret(metadata: dict[str, Any]) -> bool:
    return metadata.get("token_endpoint_auth_method", "client_secret_basic") in SECRET_METHODS


def new_client_id() -> str:
    """A random, URL-safe client identifier."""
    return secrets.token_urlsafe(18)


def new_secret() -> str:
    """A 256-bit client secret (shown once; only its keyed hash is stored)."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return str(state().crypto.keyed_hash("client_secret", secret))


def create_client(metadata: Any, *, first_party: bool = False, require_pkce: bool = False,
                  approved_scopes: str = "", dynamic: bool = False,
                  created_by: str | None = None) -> tuple[Client, str | None]:
    """Validate ``metadata``, add a new client to the session (the caller commits) and return it with
    its secret (None for public and ``private_key_jwt`` clients).  Raises MetadataError."""
    clean = validate_metadata(metadata, dynamic=dynamic)
    approved = check_scopes(approved_scopes)
    secret = new_secret() if uses_secret(clean) else None
    client = Client(
        client_id=new_client_id(),
        client_secret_hash=secret_hash(secret) if secret else None,
        client_id_issued_at=int(time.time()),
        client_secret_expires_at=0,
        client_metadata=clean,
        first_party=first_party,
        require_pkce=require_pkce,
        approved_scopes=approved,
        created_by=created_by,
    )
    db.session.add(client)
    db.session.flush()
    return client, secret


def client_info(client: Client) -> dict[str, Any]:
    """The registered metadata with the client's identifiers (RFC 7591 3.2.1), without secrets."""
    body: dict[str, Any] = dict(client.client_metadata or {})
    body.setdefault("subject_type", "public")
    body["client_id"] = client.client_id
    body["client_id_issued_at"] = client.client_id_issued_at
    if client.client_secret_hash:
        body["client_secret_expires_at"] = client.client_secret_expires_at or 0
    return body


def revoke_client_tokens(client: Client, reason: str) -> int:
    """Revoke every refresh token family of ``client`` (its access tokens die with them); caller commits."""
    return tokens.revoke([RefreshToken.client_id == client.id], reason)


def delete_client(client: Client) -> None:
    """Revoke the client's tokens and delete it with its consents and refresh tokens; caller commits."""
    revoke_client_tokens(client, "client_deleted")
    # Explicit deletes: SQLite does not enforce ON DELETE CASCADE unless told to.
    db.session.execute(delete(RefreshToken).where(RefreshToken.client_id == client.id))
    db.session.execute(delete(Consent).where(Consent.client_id == client.id))
    db.session.execute(delete(Client).where(Client.id == client.id))


def initial_access_token(*, expires_in: int, max_uses: int, note: str | None = None) -> str:
    """Create an initial access token (operator command); returns the token, stored only as a hash."""
    token = random_token(32)
    db.session.add(InitialAccessToken(
        token_hash=state().crypto.keyed_hash("initial_access_token", token), note=note,
        expires_at=utcnow() + dt.timedelta(seconds=expires_in), max_uses=max_uses,
    ))
    db.session.commit()
    return token
