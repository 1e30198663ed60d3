"""Token introspection (RFC 7662) at ``/introspect``, for confidential clients (resource servers).

Anything revoked, expired, unknown, or belonging to a disabled client is ``{"active": false}`` and
nothing else (RFC 7662 2.2).  Which client may learn about which token (RFC 7662 4, token scanning):

* a refresh token: only the client it was issued to;
* an access token: the client it was issued to, or a resource server whose registered
  ``access_token_audience`` equals the token's audience (the API the token is for).  Any other
  client gets ``{"active": false}``, exactly as for an unknown token, so it learns nothing.

The hot path is one store round trip for the token (``tokens.lookup_access_token``) after client
authentication; the audience is in the stored token and the caller is the authenticated client, so the
check needs no database query.
"""

from __future__ import annotations

import calendar
from typing import Any

from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint

from idp.extensions import state
from idp.oauth import tokens
from idp.oauth.clients import query_client
from idp.oauth.revocation import FoundToken, check_token_param, find_token
from idp.people import pairwise


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
        if not token.check_client(client):
            audience = self._audience(token)
            # RFC 7662 4: a resource server learns about the tokens meant for it, nothing else.
            if audience is None or audience != tokens.audience_of(client):
                return False
        # The token's client must still exist and be enabled (memoised: usually the caller itself).
        return query_client(token.client_id) is not None

    @staticmethod
    def _audience(token: FoundToken) -> str | None:
        """The API an access token is for: as stored at issuance; for a token saved before the
        audience was stored, its client's registered one (process cache, no database query)."""
        if "aud" in token.data:
            return token.data["aud"] or None
        return tokens.audience_of(query_client(token.client_id))

    def introspect_token(self, token: FoundToken) -> dict[str, Any]:
        issuer = state().config["ISSUER"]
        if token.row is not None:
            row = token.row
            return {"active": True, "scope": row.scope, "client_id": token.client_id,
                    "exp": _epoch(row.expires_at), "iat": _epoch(row.issued_at),
                    "token_type": "refresh_token", "iss": issuer, "aud": token.client_id,
                    "sub": self._client_sub(token.client_id, token.data["sub"])}
        data = token.data
        body: dict[str, Any] = {"active": True, "scope": data.get("scope") or "", "client_id": token.client_id,
                                "exp": int(data["exp"]), "iat": int(data["iat"]), "token_type": "Bearer",
                                "iss": issuer, "aud": self._audience(token) or token.client_id}
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
