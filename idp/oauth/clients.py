"""Clients as Authlib sees them (ClientMixin), loaded with one indexed query per request."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import re
import time
from typing import Any
from urllib.parse import unquote_plus

from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError, list_to_scope, scope_to_list
from flask import g, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from idp.extensions import db, state
from idp.models import Client, utcnow
from idp.people import pairwise

# Scopes a client may ask for when its metadata names none (sensitive scopes never by default).
DEFAULT_SCOPES = ("openid", "profile", "email", "offline_access")
# The administration API's scope (idp.web.admin_api): never registrable (registration knows only the claim
# scopes), only granted by an operator (``idp admin-api grant``, into approved_scopes), and only for the
# client's own token from the client credentials grant.
ADMIN_SCOPE = "idp:admin"
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
        self.from_cache = False  # set when kept in the per-process cache (query_client)

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
        sensitive = set(state().config["SENSITIVE_SCOPES"])
        return [s for s in self.metadata_scopes if s not in sensitive or s in self.approved_scopes]

    @property
    def may_administer(self) -> bool:
        """An operator granted the administration API's scope (only through the client credentials grant)."""
        return ADMIN_SCOPE in self.approved_scopes and "client_credentials" in self.grant_types

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
        """Exact string comparison (RFC 9700 2.1, OIDC Core 3.1.2.1), except the port of a loopback IP
        redirect URI, which a native app picks at run time (RFC 8252 7.3, :func:`loopback_key`)."""
        if not isinstance(redirect_uri, str):
            return False
        registered = self.redirect_uris
        if redirect_uri in registered:
            return True
        key = loopback_key(redirect_uri)
        return key is not None and any(loopback_key(uri) == key for uri in registered)

    def check_client_secret(self, client_secret: str) -> bool:
        """The current secret, or the previous one during its rotation grace period (RFC 6749 2.3.1).

        The previous hash is compared only after the current one failed, and only while
        ``previous_secret_expires_at`` is in the future, so the usual request costs one comparison.
        """
        if self.client_secret_expires_at and self.client_secret_expires_at < time.time():
            return False
        crypto = state().crypto
        if crypto.check_keyed_hash("client_secret", client_secret, self.client_secret_hash):
            return True
        if (self.previous_secret_hash and self.previous_secret_expires_at is not None
                and self.previous_secret_expires_at > utcnow()
                and crypto.check_keyed_hash("client_secret", client_secret, self.previous_secret_hash)):
            return True
        if self.from_cache:
            # Rotated on another node since this process cached the client: ask the database.
            fresh = load_client(self.client_id)
            if fresh is not None:
                forget([self.client_id])
                return fresh.check_client_secret(client_secret)
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    def __repr__(self) -> str:
        return f"<OAuthClient {self.client_id}>"


# http://127.0.0.1[:port]<rest> or http://[::1][:port]<rest>: nothing else in the authority (no user
# information, no other spelling of the address, no "localhost": RFC 8252 8.3 advises against it).
_LOOPBACK_REDIRECT = re.compile(r"^http://(127\.0\.0\.1|\[::1\])(?::([0-9]{1,5}))?([/?][^#]*)?$")


def loopback_key(uri: str) -> tuple[str, str] | None:
    """(host, path and query) of an http loopback IP redirect URI with its port left out, else None.

    RFC 8252 7.3: the authorization server MUST allow any port for loopback IP redirect URIs, because a
    native app listens on an ephemeral port; everything else (scheme, address, path, query) must still
    match exactly, and every other redirect URI is compared as a whole string.
    """
    found = _LOOPBACK_REDIRECT.match(uri)
    if found is None:
        return None
    port = found.group(2)
    if port is not None and not 0 < int(port) <= 65535:
        return None
    return found.group(1), found.group(3) or ""


PROCESS_CACHE_MAX = 10_000  # clients; the cache is emptied when full (it refills from use)


def _process_cache() -> dict[str, tuple[float, OAuthClient]]:
    extra = state().extra
    cache: dict[str, tuple[float, OAuthClient]] | None = extra.get("client_cache")
    if cache is None:
        cache = extra["client_cache"] = {}
    return cache


def forget(client_ids: Any) -> None:
    """Drop clients from this process's cache (called when a client row changes, see the flush hook)."""
    if has_app_context():
        cache = _process_cache()
        for client_id in client_ids:
            cache.pop(client_id, None)


def load_client(client_id: str) -> OAuthClient | None:
    """The enabled client with this id straight from the database (no cache)."""
    row = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()
    return OAuthClient(row) if row is not None and not row.disabled else None


def query_client(client_id: Any) -> OAuthClient | None:
    """The enabled client with this id, or None (disabled clients are unknown to the protocol).

    Memoised for the request (Authlib asks several times per request) and kept in a per-process cache
    for ``IDP_CLIENT_CACHE_SECONDS`` (issue 8: no database query for the client on the token endpoint).
    Only enabled clients are cached; a change to a client row in this process drops its entry at once
    (:func:`_forget_changed`), other processes see it within the TTL, and a secret that does not match
    a cached client is checked again against the database (a new secret works at once everywhere).
    """
    if (not isinstance(client_id, str) or not client_id or len(client_id) > MAX_CLIENT_ID_LENGTH
            or not client_id.isprintable()):
        return None
    memo: dict[str, OAuthClient | None] | None = None
    if has_app_context():
        memo = g.setdefault("idp_clients", {})
        if client_id in memo:
            return memo[client_id]
    ttl = state().config["CLIENT_CACHE_SECONDS"] if has_app_context() else 0
    client: OAuthClient | None = None
    if ttl:
        cached = _process_cache().get(client_id)
        if cached is not None and cached[0] > time.monotonic():
            client = cached[1]
    if client is None:
        client = load_client(client_id)
        if client is not None and ttl:
            cache = _process_cache()
            if len(cache) >= PROCESS_CACHE_MAX:
                cache.clear()
            client.from_cache = True  # as seen by later requests (the secret fallback below)
            cache[client_id] = (time.monotonic() + ttl, client)
    if memo is not None:
        memo[client_id] = client
    return client


@event.listens_for(Session, "do_orm_execute")
def _forget_on_bulk_change(state: Any) -> None:
    """A bulk UPDATE or DELETE of clients (``update(Client)``): which rows is unknown, so forget them all."""
    if (state.is_update or state.is_delete) and state.bind_mapper is not None \
            and state.bind_mapper.class_ is Client and has_app_context():
        _process_cache().clear()


@event.listens_for(Session, "after_flush")
def _forget_changed(session: Session, _context: Any) -> None:
    """A client row changed (disabled, edited, secret rotated, scope approved, deleted): drop it here."""
    changed = [obj.client_id for obj in (*session.dirty, *session.deleted, *session.new)
               if isinstance(obj, Client)]
    if changed:
        forget(changed)


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


def hint_matches(hint_claims: dict[str, Any], person_sub: str) -> bool:
    """True when an ``id_token_hint``'s ``sub`` names the person whose public subject is ``person_sub``.

    The hint carries the subject as its audience client knew it (pairwise or public), so the person's
    subject is mapped for that client (``azp``, else the single ``aud``) before comparing.  An unknown
    or disabled client is compared as public: a pairwise hint then never matches (the safe answer).
    """
    aud = hint_claims.get("aud")
    client_id = hint_claims.get("azp") or (aud[0] if isinstance(aud, list) and len(aud) == 1 else aud)
    client = query_client(client_id) if isinstance(client_id, str) else None
    expected = pairwise.subject_for(client, person_sub) if client is not None else person_sub
    return hmac.compare_digest(str(hint_claims.get("sub", "")).encode(), expected.encode())
