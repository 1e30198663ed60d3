"""Clients as Authlib sees them (ClientMixin), loaded with one indexed query per request."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import time
from typing import Any
from urllib.parse import unquote_plus

from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError, list_to_scope, scope_to_list
from flask import current_app, g, has_app_context
from sqlalchemy import select

from ..extensions import db
from ..models import Client, utcnow

# Scopes a client may ask for when its metadata names none (sensitive scopes never by default).
DEFAULT_SCOPES = ("openid", "profile", "email", "offline_access")
MAX_CLIENT_ID_LENGTH = 64


class OAuthClient(ClientMixin):
    """A read-only view of a :class:`~idp.models.Client` row with Authlib's client interface.

    The values are copied out of the row so that nothing lazy-loads later in the request.
    """

    def __init__(self, row: Client) -> None:
        self.pk: int = row.id
        self.client_id: str = row.client_id
        self.client_secret_hash: str | None = row.client_secret_hash
        self.client_secret_expires_at: int = row.client_secret_expires_at or 0
        self.client_metadata: dict[str, Any] = dict(row.client_metadata or {})
        self.first_party: bool = bool(row.first_party)
        self.require_pkce: bool = bool(row.require_pkce)
        self.approved_scopes: set[str] = set((row.approved_scopes or "").split())
        # The secret replaced by the last rotation (developer portal), valid until its grace period ends.
        self.previous_secret_hash: str | None = row.previous_secret_hash
        self.previous_secret_expires_at: dt.datetime | None = row.previous_secret_expires_at

    # --- metadata helpers ---
    @property
    def client_name(self) -> str:
        return str(self.client_metadata.get("client_name") or self.client_id)

    @property
    def redirect_uris(self) -> list[str]:
        return list(self.client_metadata.get("redirect_uris") or [])

    @property
    def token_endpoint_auth_method(self) -> str:
        return str(self.client_metadata.get("token_endpoint_auth_method") or "client_secret_basic")

    @property
    def is_public(self) -> bool:
        """A client without a secret (RFC 6749 2.1); it must use PKCE."""
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name

    @property
    def id_token_alg(self) -> str:
        return str(self.client_metadata.get("id_token_signed_response_alg") or "RS256")

    @property
    def backchannel_logout_uri(self) -> str | None:
        """Where Back-Channel Logout 1.0 notices go, or None when the client registered none."""
        value = self.client_metadata.get("backchannel_logout_uri")
        return str(value) if value else None

    @property
    def backchannel_logout_session_required(self) -> bool:
        return bool(self.client_metadata.get("backchannel_logout_session_required"))

    @property
    def grant_types(self) -> list[str]:
        return list(self.client_metadata.get("grant_types") or ["authorization_code"])

    @property
    def response_types(self) -> list[str]:
        return list(self.client_metadata.get("response_types") or ["code"])

    @property
    def metadata_scopes(self) -> list[str]:
        declared = self.client_metadata.get("scope")
        return scope_to_list(declared) if declared else list(DEFAULT_SCOPES)

    def get_scope_names(self) -> list[str]:
        """Every scope this client may obtain: its metadata scopes minus unapproved sensitive ones."""
        sensitive = set(current_app.extensions["idp"].config["SENSITIVE_SCOPES"])
        return [s for s in self.metadata_scopes if s not in sensitive or s in self.approved_scopes]

    # --- ClientMixin ---
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OpenID Connect Core 3.1.2.1: redirect_uri is REQUIRED, so there is no default.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """Requested scopes the client may have, in request order; others are dropped (RFC 6749 3.3)."""
        if not scope:
            return ""
        allowed = set(self.get_scope_names())
        seen: list[str] = []
        for item in scope_to_list(scope):
            if item in allowed and item not in seen:
                seen.append(item)
        return str(list_to_scope(seen))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison (RFC 9700 2.1, OIDC Core 3.1.2.1).
        return isinstance(redirect_uri, str) and redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """The current secret, or the previous one during its rotation grace period (RFC 6749 2.3.1).

        The previous hash is compared only after the current one failed, and only while
        ``previous_secret_expires_at`` is in the future, so the usual request costs one comparison.
        """
        if self.client_secret_expires_at and self.client_secret_expires_at < time.time():
            return False
        crypto = current_app.extensions["idp"].crypto
        if crypto.check_keyed_hash("client_secret", client_secret, self.client_secret_hash):
            return True
        if (self.previous_secret_hash and self.previous_secret_expires_at is not None
                and self.previous_secret_expires_at > utcnow()):
            return bool(crypto.check_keyed_hash("client_secret", client_secret, self.previous_secret_hash))
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    def __repr__(self) -> str:
        return f"<OAuthClient {self.client_id}>"


def query_client(client_id: Any) -> OAuthClient | None:
    """The enabled client with this id, or None (disabled clients are unknown to the protocol).

    Memoised for the request: Authlib asks several times per request.
    """
    if (not isinstance(client_id, str) or not client_id or len(client_id) > MAX_CLIENT_ID_LENGTH
            or not client_id.isprintable()):
        return None
    cache: dict[str, OAuthClient | None] | None = None
    if has_app_context():
        cache = g.setdefault("idp_clients", {})
        if client_id in cache:
            return cache[client_id]
    row = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()
    client = OAuthClient(row) if row is not None and not row.disabled else None
    if cache is not None:
        cache[client_id] = client
    return client


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client_id, secret) of an HTTP Basic header, each form-urlencoded (RFC 6749 2.3.1), or None."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip().encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    try:
        # unquote_plus: "+" is a space in application/x-www-form-urlencoded (openid-client sends it so).
        return unquote_plus(user, errors="strict"), unquote_plus(password, errors="strict")
    except UnicodeError:
        return None


def authenticate_client_secret_basic(query_client: Any, request: Any) -> OAuthClient | None:
    """``client_secret_basic`` with RFC 6749 2.3.1 decoding (replaces Authlib's, which keeps "+")."""
    creds = basic_credentials(request.headers.get("Authorization"))
    if not creds or not creds[0] or not creds[1]:
        return None
    client = query_client(creds[0])
    if client is None:
        raise InvalidClientError(status_code=401, description="The client does not exist on this server.")
    return client if client.check_client_secret(creds[1]) else None
