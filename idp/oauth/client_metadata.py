"""The checks of single client metadata fields (RFC 7591 2, OpenID Connect Registration 2, Front- and
Back-Channel Logout): URIs, audiences, lists and choices, JWK Sets, the logout URIs and the subject type
with its ``sector_identifier_uri`` (fetched through :mod:`idp.net`).

:func:`idp.oauth.registration.validate_metadata` combines them into the provider's registration rules.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import urllib3
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp import assurance, net
from idp.extensions import state
from idp.people import access

ASSERTION_ALGS = ("RS256", "ES256", "PS256")
SUBJECT_TYPES = ("public", "pairwise")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")


class MetadataError(Exception):
    """Metadata that cannot be registered; ``error`` is the RFC 7591 3.2.2 code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def bad(field: str, why: str) -> MetadataError:
    """The ``invalid_client_metadata`` error for ``field``."""
    return MetadataError("invalid_client_metadata", f"'{field}': {why}")


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")

MAX_URIS = 20
MAX_URI_LENGTH = 2000
MAX_NAME_LENGTH = 200
MAX_TEXT_LENGTH = 200
MAX_JWKS_KEYS = 10
MAX_CONTACTS = 10




def is_loopback(host: str | None) -> bool:
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
    if parts.scheme == "http" and not (allow_loopback_http and is_loopback(host)):
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
        raise bad(field, "must be an absolute URI string.")
    if len(value) > MAX_URI_LENGTH:
        raise bad(field, f"a URI may be at most {MAX_URI_LENGTH} characters long.")
    if _CONTROL.search(value) or not value.isprintable():
        raise bad(field, "a URI must not contain spaces or control characters.")
    if not _SCHEME.match(value) or "#" in value or "*" in value:
        raise bad(field, "must be an absolute URI without a fragment (RFC 8707 2), "
                          "e.g. 'https://api.example.go.id'.")
    scheme = value.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise bad(field, "is not a valid URI.") from None
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise bad(field, "an http(s) URI needs a host and no user information.")
    elif len(value) <= len(scheme) + 1:
        raise bad(field, "must be an absolute URI, e.g. 'https://api.example.go.id'.")
    return value


def uri_list(metadata: dict[str, Any], field: str, error: str) -> list[str] | None:
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


def choices(metadata: dict[str, Any], field: str, allowed: tuple[str, ...], default: list[str]) -> list[str]:
    if field not in metadata or metadata[field] is None:
        return list(default)
    value = metadata[field]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(field, "must be an array of strings.")
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise bad(field, f"unsupported value {unknown[0][:40]!r}; supported: {', '.join(allowed)}.")
    return list(dict.fromkeys(value))


def one_of(metadata: dict[str, Any], field: str, allowed: tuple[str, ...], default: str) -> str:
    value = metadata.get(field)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise bad(field, f"unsupported value {shown!r}; supported: {', '.join(allowed)}.")
    return value


def text(metadata: dict[str, Any], field: str, limit: int = MAX_TEXT_LENGTH) -> str | None:
    value = metadata.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad(field, "must be a non-empty string.")
    if len(value) > limit:
        raise bad(field, f"must be at most {limit} characters long.")
    if not value.isprintable():
        raise bad(field, "must not contain control characters.")
    return value.strip()


def parse_jwks(value: Any, field: str = "jwks") -> dict[str, Any]:
    """A JWK Set of public signing keys (RSA or EC), as a plain dict; raises MetadataError otherwise."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) or not value["keys"]:
        raise bad(field, "must be a JWK Set object with a non-empty 'keys' array.")
    if len(value["keys"]) > MAX_JWKS_KEYS:
        raise bad(field, f"at most {MAX_JWKS_KEYS} keys are accepted.")
    for item in value["keys"]:
        if not isinstance(item, dict) or item.get("kty") not in ("RSA", "EC"):
            raise bad(field, "only RSA and EC public keys are accepted.")
        if any(k in item for k in ("d", "p", "q", "dp", "dq", "qi")):
            raise bad(field, "contains private key material; register public keys only.")
        if item.get("use") not in (None, "sig"):
            raise bad(field, "keys must be signing keys ('use': 'sig').")
        if item.get("alg") is not None and item.get("alg") not in ASSERTION_ALGS:
            raise bad(field, f"key algorithm must be one of {', '.join(ASSERTION_ALGS)}.")
    try:
        keyset = KeySet.import_key_set(value)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError):
        raise bad(field, "is not a valid JWK Set.") from None
    except Exception:  # noqa: BLE001 - the cryptography library raises assorted errors on bad numbers
        raise bad(field, "is not a valid JWK Set.") from None
    if any(key.is_private for key in keyset.keys):
        raise bad(field, "contains private key material; register public keys only.")
    return {"keys": [dict(item) for item in value["keys"]]}


def backchannel_fields(metadata: dict[str, Any]) -> dict[str, Any]:
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
            raise bad("backchannel_logout_uri", f"must name a public host, not a loopback or private address: "
                                                 f"{LOOPBACK_SETTING_HINT}.")
    required = metadata.get("backchannel_logout_session_required")
    if required is not None:
        if not isinstance(required, bool):
            raise bad("backchannel_logout_session_required", "must be true or false.")
        if required and uri is None:
            raise bad("backchannel_logout_session_required", "requires 'backchannel_logout_uri'.")
        if uri is not None:
            out["backchannel_logout_session_required"] = required
    return out


def _origin(uri: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an already checked URI, with the scheme's default port filled in."""
    parts = urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def frontchannel_fields(metadata: dict[str, Any], redirect_uris: list[str]) -> dict[str, Any]:
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
            raise bad("frontchannel_logout_uri", "its scheme, host and port must be those of a registered "
                                                  "redirect URI (Front-Channel Logout 2).")
        out["frontchannel_logout_uri"] = checked
    required = metadata.get("frontchannel_logout_session_required")
    if required is not None:
        if not isinstance(required, bool):
            raise bad("frontchannel_logout_session_required", "must be true or false.")
        if required and uri is None:
            raise bad("frontchannel_logout_session_required", "requires 'frontchannel_logout_uri'.")
    if uri is not None:
        out["frontchannel_logout_session_required"] = bool(required)
    return out


MAX_SECTOR_BYTES = 65536


def _fetch_sector_document(uri: str) -> Any:
    """The parsed JSON at ``sector_identifier_uri``, fetched with the ``jwks_uri`` SSRF guard.

    Every failure (unreachable, timeout, redirect, error status, too large, not JSON) is the client's
    problem: MetadataError ``invalid_client_metadata``, never a server error.
    """
    def sector_bad(why: str) -> MetadataError:
        return bad("sector_identifier_uri", why)

    refused = sector_bad("could not be fetched (the host must be public and answer 200 with the JSON array).")
    try:
        resp = net.request("GET", uri, timeout=state().config["JWKS_URI_TIMEOUT"], max_bytes=MAX_SECTOR_BYTES,
                           headers={"Accept": "application/json"})
    except net.Refused:
        raise refused from None
    except (urllib3.exceptions.HTTPError, OSError, ValueError, UnicodeError):
        raise sector_bad("could not be fetched (unreachable, timed out or a TLS error).") from None
    if resp.status != 200:
        raise refused
    body = resp.body
    if len(body) > MAX_SECTOR_BYTES:
        raise sector_bad(f"the document is larger than {MAX_SECTOR_BYTES} bytes.")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise sector_bad("the document is not valid JSON.") from None


def subject_fields(metadata: dict[str, Any], redirect_uris: list[str]) -> dict[str, Any]:
    """``subject_type`` and ``sector_identifier_uri`` (OIDC Registration 2, OIDC Core 8.1).

    ``sector_identifier_uri`` is fetched and must be a JSON array of strings that contains every
    registered redirect URI (Registration 2); its host is then the sector.  Without it, a pairwise
    client's redirect URIs must share one host, which is the sector (Core 8.1: several hosts require a
    ``sector_identifier_uri``).  The sector is a function of what is stored (idp.people.pairwise.sector_of),
    so subjects are computed later without fetching anything again.
    """
    out: dict[str, Any] = {"subject_type": one_of(metadata, "subject_type", SUBJECT_TYPES, "public")}
    uri = metadata.get("sector_identifier_uri")
    if uri is not None:
        # Fetched by the server: the jwks_uri rules (https; http on loopback only in development/tests).
        checked = check_uri(uri, "sector_identifier_uri", allow_loopback_http=net.loopback_allowed(), fetched=True)
        host = (urlsplit(checked).hostname or "").lower()
        if not net.loopback_allowed() and (host == "localhost" or net.private_ip_literal(host)):
            raise bad("sector_identifier_uri", f"must name a public host, not a loopback or private address: "
                                                f"{LOOPBACK_SETTING_HINT}.")
        listed = _fetch_sector_document(checked)
        if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
            raise bad("sector_identifier_uri", "the document must be a JSON array of redirect URI strings.")
        missing = [r for r in redirect_uris if r not in listed]
        if missing:
            raise bad("sector_identifier_uri", f"the document does not list the redirect URI {missing[0]!r} "
                                                "(OpenID Connect Registration 2).")
        out["sector_identifier_uri"] = checked
    elif out["subject_type"] == "pairwise":
        hosts = {(urlsplit(r).hostname or "").lower() for r in redirect_uris}
        if not hosts:
            raise bad("subject_type", "'pairwise' needs redirect URIs or a 'sector_identifier_uri' to "
                                       "define the sector (OpenID Connect Core 8.1).")
        if len(hosts) > 1:
            raise bad("sector_identifier_uri", "required for 'pairwise' when the redirect URIs use several "
                                                "hosts (OpenID Connect Core 8.1).")
    return out


MAX_GROUPS = 20
MAX_GROUP_LENGTH = 500


def policy_fields(metadata: dict[str, Any]) -> dict[str, Any]:
    """Who may sign in (:mod:`idp.people.access`): ``required_person_type``, ``required_groups``,
    ``required_acr``; extension metadata (RFC 7591 2 lets a server define more), refused when malformed
    rather than ignored, because an application relying on a restriction must never get none."""
    out: dict[str, Any] = {}
    kind = metadata.get("required_person_type")
    if kind not in (None, ""):
        if kind not in access.PERSON_TYPES:
            raise bad("required_person_type", f"must be one of: {', '.join(access.PERSON_TYPES)}.")
        out["required_person_type"] = kind
    groups = metadata.get("required_groups")
    if groups not in (None, []):
        if (not isinstance(groups, list) or len(groups) > MAX_GROUPS
                or not all(isinstance(g, str) and 0 < len(g.strip()) <= MAX_GROUP_LENGTH and g.isprintable()
                           for g in groups)):
            raise bad("required_groups", f"must be an array of at most {MAX_GROUPS} directory group DNs.")
        if out.get("required_person_type") == access.CITIZEN:
            raise bad("required_groups", "directory groups are for staff; they cannot be combined with "
                                         "'required_person_type' 'citizen'.")
        out["required_groups"] = list(dict.fromkeys(g.strip() for g in groups))
    acr = metadata.get("required_acr")
    if acr not in (None, ""):
        if acr not in assurance.LEVELS:
            raise bad("required_acr", f"must be one of acr_values_supported: {', '.join(assurance.LEVELS)}.")
        out["required_acr"] = acr
    return out
