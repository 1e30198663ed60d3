"""Token introspection (RFC 7662) at ``/introspect``, for confidential clients (resource servers).

Anything revoked, expired, unknown, or belonging to a disabled client is ``{"active": false}`` and
nothing else (RFC 7662 2.2).  Access tokens may be introspected by any confidential client (that is
what resource servers do); a refresh token only by the client it was issued to.  The hot path is one
store round trip for the token (``tokens.lookup_access_token``) after client authentication.
"""

from __future__ import annotations

import calendar
from typing import Any

from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from flask import current_app

from .. import pairwise
from . import tokens
from .clients import query_client
from .revocation import FoundToken, check_token_param, find_token


def _epoch(value: Any) -> int:
    return int(calendar.timegm(value.utctimetuple()))


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """RFC 7662 over our token kinds."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def check_params(self, request: Any, client: Any) -> None:
        # RFC 7662 2.1: the hint only orders the search, so an unknown hint is not an error.
        check_token_param(request)

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: FoundToken, client: Any, request: Any) -> bool:
        if token.kind == "refresh_token":  # noqa: S105 - a kind name
            return token.check_client(client)
        # The token's client must still exist and be enabled (memoised: usually the caller itself).
        return query_client(token.client_id) is not None

    def introspect_token(self, token: FoundToken) -> dict[str, Any]:
        issuer = current_app.extensions["idp"].config["ISSUER"]
        if token.row is not None:
            row = token.row
            return {"active": True, "scope": row.scope, "client_id": token.client_id,
                    "exp": _epoch(row.expires_at), "iat": _epoch(row.issued_at),
                    "token_type": "refresh_token", "iss": issuer, "aud": token.client_id,
                    "sub": self._client_sub(token.client_id, token.data["sub"])}
        data = token.data
        body: dict[str, Any] = {"active": True, "scope": data.get("scope") or "", "client_id": token.client_id,
                                "exp": int(data["exp"]), "iat": int(data["iat"]), "token_type": "Bearer",
                                "iss": issuer, "aud": token.client_id}
        # Client credentials tokens have no person: their subject is the client (RFC 7662 2.2 "sub").
        body["sub"] = tokens.client_sub(data) or token.client_id
        return body

    @staticmethod
    def _client_sub(client_id: str, person_sub: str) -> str:
        """The person's ``sub`` as the token's client knows it (OIDC Core 8), never the public one for a
        pairwise client; the lookup is memoised (check_permission already loaded the client)."""
        client = query_client(client_id)
        return pairwise.subject_for(client, person_sub) if client is not None else person_sub


def register(server: Any) -> None:
    server.register_endpoint(IntrospectionEndpoint)
