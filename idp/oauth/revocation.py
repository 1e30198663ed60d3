"""Token revocation (RFC 7009) at ``/revoke``.

A client may revoke only tokens issued to it.  Revoking a refresh token revokes its whole family,
including the access tokens issued from it (RFC 7009 2.1: the server SHOULD also invalidate the access
tokens based on the same authorization).  Unknown, expired and already revoked tokens get 200 (2.2).
``token_type_hint`` decides which kind is looked up first; the other kind is tried as well (2.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from sqlalchemy import select

from idp import audit
from idp.extensions import db
from idp.models import Client, Person, RefreshToken, utcnow
from idp.oauth import tokens

MAX_TOKEN_LENGTH = 4096  # JWT access tokens (RFC 9068) included


@dataclass
class FoundToken:
    """An access token (store data) or a refresh token (row), with what the endpoints ask of it."""

    kind: str  # "access_token" | "refresh_token"
    value: str
    client_id: str
    data: dict[str, Any] = field(default_factory=dict)
    row: RefreshToken | None = None

    def check_client(self, client: Any) -> bool:
        return bool(self.client_id == client.client_id)

    def get_client_id(self) -> str:
        return self.client_id

    def is_expired(self) -> bool:
        if self.row is not None:
            return bool(self.row.expires_at <= utcnow())
        return False  # lookup_access_token already refused expired access tokens

    def is_revoked(self) -> bool:
        if self.row is not None:
            return bool(self.row.revoked_at is not None or self.row.rotated_at is not None
                        or self.data.get("status") != "active" or tokens.family_revoked(self.row.family_id))
        return False


def _find_access(value: str) -> FoundToken | None:
    data = tokens.lookup_access_token(value)
    if data is None:
        return None
    return FoundToken("access_token", value, str(data.get("client_id")), data=data)


def _find_refresh(value: str) -> FoundToken | None:
    found = db.session.execute(
        select(RefreshToken, Client.client_id, Person.sub, Person.status)
        .join(Client, Client.id == RefreshToken.client_id)
        .join(Person, Person.id == RefreshToken.person_id)
        .where(RefreshToken.token_hash == tokens.refresh_token_hash(value))
    ).first()
    if found is None:
        return None
    row, client_id, sub, status = found
    return FoundToken("refresh_token", value, str(client_id), data={"sub": sub, "status": status}, row=row)


def find_token(value: Any, hint: str | None) -> FoundToken | None:
    """The token ``value`` of either kind, looking first where ``hint`` points (it is only a hint)."""
    if not isinstance(value, str) or not value or len(value) > MAX_TOKEN_LENGTH or not value.isprintable():
        return None
    finders = [_find_access, _find_refresh]
    if hint == "refresh_token":  # noqa: S105 - a hint name
        finders.reverse()
    for finder in finders:
        token = finder(value)
        if token is not None:
            return token
    return None


class UnsupportedTokenTypeError(OAuth2Error):
    """RFC 7009 2.2.1, an error response of RFC 6749 5.2 (so 400; Authlib's own class answers 401)."""

    error = "unsupported_token_type"
    status_code = 400


def check_token_param(request: Any) -> None:
    """Exactly one ``token`` parameter (RFC 6749 3.2: parameters MUST NOT repeat)."""
    values = request.payload.datalist.get("token") or []
    if len(values) != 1 or not values[0]:
        raise InvalidRequestError("Exactly one 'token' parameter is required.")
    if len(request.payload.datalist.get("token_type_hint") or []) > 1:
        raise InvalidRequestError("The parameter 'token_type_hint' is repeated.")


class RevocationEndpoint(_RevocationEndpoint):
    """RFC 7009 with access tokens in the store and refresh token families in the database."""

    # Public clients may revoke their own tokens too (RFC 7009 5), identified by client_id.
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

    def check_params(self, request: Any, client: Any) -> None:
        check_token_param(request)
        hint = request.form.get("token_type_hint")
        if hint and hint not in self.SUPPORTED_TOKEN_TYPES:
            raise UnsupportedTokenTypeError(description="Only access and refresh tokens can be revoked.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: FoundToken, request: Any) -> None:
        if token.kind == "access_token":  # noqa: S105 - a kind name
            tokens.revoke_access_token(token.value)
        elif token.row is not None:
            tokens.revoke_family(token.row.family_id, "revoked_by_client")
        audit.record("oauth.revoke", client_id=token.client_id, kind=token.kind)
        db.session.commit()


def register(server: Any) -> None:
    server.register_endpoint(RevocationEndpoint)

