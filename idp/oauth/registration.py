"""Client metadata validation and client creation, shared by the CLI, dynamic registration and the portal.

One validator (:func:`validate_metadata`) applies the provider's rules to RFC 7591 section 2 metadata:
exact https redirect URIs (http only on loopback, RFC 8252 7.3), no fragments or wildcards
(RFC 6749 3.1.2), known grant/response types and methods, and coherent combinations.  Unknown metadata
fields are ignored (RFC 7591 2: the server MUST ignore what it does not understand), so nothing a client
sends can set operator-only properties (first-party, approved sensitive scopes).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete

from idp import net
from idp.crypto import random_token
from idp.extensions import db, state
from idp.models import Client, Consent, InitialAccessToken, RefreshToken, utcnow
from idp.oauth import client_metadata as fields
from idp.oauth import keys, server, tokens
from idp.oauth.client_metadata import (  # noqa: F401 - re-exported: callers know them as registration.*
    ASSERTION_ALGS,
    SUBJECT_TYPES,
    MetadataError,
    check_audience,
    check_uri,
    parse_jwks,
)
from idp.people.claims import SCOPE_CLAIMS
from idp.people.pairwise import is_pairwise, sector_of

RESPONSE_TYPES = ("code",)
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
ID_TOKEN_ALGS = keys.ALGORITHMS  # what the key ring signs with
KNOWN_SCOPES = tuple(SCOPE_CLAIMS)  # every scope the provider releases claims for (idp.people.claims)

# Known metadata this provider cannot honour (anything else unknown is ignored, RFC 7591 2).
UNSUPPORTED = ("id_token_encrypted_response_alg", "id_token_encrypted_response_enc",
               "userinfo_signed_response_alg", "userinfo_encrypted_response_alg",
               "userinfo_encrypted_response_enc", "request_object_encryption_alg",
               "request_object_encryption_enc", "default_max_age",
               "tls_client_certificate_bound_access_tokens", "dpop_bound_access_tokens",
               "authorization_encrypted_response_alg", "authorization_signed_response_alg")


def grant_types() -> tuple[str, ...]:
    """The grant types a client may register: those the token endpoint serves (idp.oauth.server)."""
    return server.grant_types()


def auth_methods() -> tuple[str, ...]:
    """The ``token_endpoint_auth_method`` values a client may register (idp.oauth.server)."""
    return server.token_auth_methods()


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
            raise fields.bad(field, "is not supported by this provider.")

    name = fields.text(metadata, "client_name", fields.MAX_NAME_LENGTH)
    if name:
        out["client_name"] = name

    grant_types = fields.choices(metadata, "grant_types", server.grant_types(), ["authorization_code"])
    if not grant_types:
        raise fields.bad("grant_types", "must name at least one grant type.")
    code_flow = "authorization_code" in grant_types
    response_types = fields.choices(metadata, "response_types", RESPONSE_TYPES, ["code"] if code_flow else [])
    method = fields.one_of(metadata, "token_endpoint_auth_method", server.token_auth_methods(), "client_secret_basic")

    # RFC 7591 2.1: grant_types and response_types must agree.
    if "code" in response_types and not code_flow:
        raise fields.bad("response_types", "'code' requires the 'authorization_code' grant type.")
    if code_flow and "code" not in response_types:
        raise fields.bad("grant_types", "'authorization_code' requires the 'code' response type.")
    if "refresh_token" in grant_types and not code_flow:
        raise fields.bad("grant_types", "'refresh_token' is only issued with 'authorization_code'.")
    if method == "none" and "client_credentials" in grant_types:  # noqa: S105 - a method name
        raise fields.bad("grant_types", "a public client ('token_endpoint_auth_method': 'none') cannot use "
                                  "'client_credentials'.")
    out.update(grant_types=grant_types, response_types=response_types, token_endpoint_auth_method=method)

    redirect_uris = fields.uri_list(metadata, "redirect_uris", "invalid_redirect_uri")
    if code_flow and not redirect_uris:
        raise MetadataError("invalid_redirect_uri", "'redirect_uris': at least one redirect URI is required "
                                                    "for the 'authorization_code' grant.")
    if redirect_uris:
        out["redirect_uris"] = redirect_uris
    logout_uris = fields.uri_list(metadata, "post_logout_redirect_uris", "invalid_client_metadata")
    if logout_uris:
        out["post_logout_redirect_uris"] = logout_uris
    out.update(fields.backchannel_fields(metadata))
    out.update(fields.frontchannel_fields(metadata, redirect_uris or []))

    out["id_token_signed_response_alg"] = fields.one_of(metadata, "id_token_signed_response_alg", ID_TOKEN_ALGS,
                                                  "RS256")
    # JWT access tokens (RFC 9068) for resource servers that validate locally; opaque by default.
    token_format = fields.one_of(metadata, "access_token_format", ("opaque", "jwt"), "opaque")
    if token_format == "jwt":  # noqa: S105 - a token format name, not a secret
        out["access_token_format"] = token_format
        out["access_token_signed_response_alg"] = fields.one_of(metadata, "access_token_signed_response_alg",
                                                          ID_TOKEN_ALGS, "RS256")
    elif "access_token_signed_response_alg" in metadata:
        raise fields.bad("access_token_signed_response_alg", "only with 'access_token_format' 'jwt'.")
    audience = check_audience(metadata.get("access_token_audience"))
    if audience:
        out["access_token_audience"] = audience
    subject_type = fields.one_of(metadata, "subject_type", SUBJECT_TYPES, "public")
    app_type = fields.one_of(metadata, "application_type", ("web", "native"), "web")
    out["application_type"] = app_type

    # Keys for private_key_jwt (RFC 7591 2: jwks and jwks_uri MUST NOT both be present).
    if metadata.get("jwks") is not None and metadata.get("jwks_uri") is not None:
        raise fields.bad("jwks", "'jwks' and 'jwks_uri' must not both be present.")
    if metadata.get("jwks") is not None:
        out["jwks"] = parse_jwks(metadata["jwks"])
    if metadata.get("jwks_uri") is not None:
        out["jwks_uri"] = check_uri(metadata["jwks_uri"], "jwks_uri", fetched=True,
                                    allow_loopback_http=net.loopback_allowed())
        host = (urlsplit(out["jwks_uri"]).hostname or "").lower()
        if not net.loopback_allowed() and (host == "localhost" or net.private_ip_literal(host)):
            # The fetch would refuse these addresses anyway (client_auth.address_allowed); say so now.
            raise fields.bad("jwks_uri", "must name a public host, not a loopback or private address.")
    if method == "private_key_jwt" and "jwks" not in out and "jwks_uri" not in out:
        raise fields.bad("jwks", "'private_key_jwt' requires 'jwks' or 'jwks_uri'.")
    if method == "private_key_jwt" and metadata.get("token_endpoint_auth_signing_alg") is not None:
        out["token_endpoint_auth_signing_alg"] = fields.one_of(metadata, "token_endpoint_auth_signing_alg",
                                                         ASSERTION_ALGS, "RS256")

    scope = metadata.get("scope")
    if scope is not None:
        if not isinstance(scope, str) or len(scope) > 500:
            raise fields.bad("scope", "must be a space-separated string.")
        items = list(dict.fromkeys(scope.split()))
        unknown = [s for s in items if s not in KNOWN_SCOPES]
        if unknown:
            raise fields.bad("scope", f"unknown scope {unknown[0][:40]!r}; known: {' '.join(KNOWN_SCOPES)}.")
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
        if (not isinstance(contacts, list) or len(contacts) > fields.MAX_CONTACTS
                or not all(isinstance(c, str) and fields.EMAIL.match(c) for c in contacts)):
            raise fields.bad("contacts", f"must be an array of at most {fields.MAX_CONTACTS} e-mail addresses.")
        out["contacts"] = list(contacts)
    for field in ("software_id", "software_version"):
        value = fields.text(metadata, field)
        if value:
            out[field] = value
    out.update(fields.policy_fields(metadata))

    # Last: it may fetch the sector document, which only well-formed metadata deserves.
    out.update(fields.subject_fields(dict(metadata, subject_type=subject_type), redirect_uris or []))
    if current is not None:
        if is_pairwise(current) != is_pairwise(out) or (is_pairwise(out) and sector_of(current) != sector_of(out)):
            raise fields.bad("subject_type", "the subject type and the pairwise sector cannot change after "
                                       "registration (every person's 'sub' would change); register a new client.")
    return out


def check_scopes(value: str, field: str = "approved_scopes") -> str:
    """A space-separated list of known scopes (operator input)."""
    items = list(dict.fromkeys(value.split()))
    unknown = [s for s in items if s not in KNOWN_SCOPES]
    if unknown:
        raise fields.bad(field, f"unknown scope {unknown[0][:40]!r}; known: {' '.join(KNOWN_SCOPES)}.")
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
