"""The client credentials grant (RFC 6749 4.4) for confidential clients registered for it.

No refresh token is issued (4.4.3).  The access token belongs to the client itself: its ``sub`` is the
client_id and it has no person (so /userinfo refuses it).  Scopes about people (``openid``, ``profile``,
``email``, ``nik``, ``offline_access``) are never granted to a client acting for itself: a resource
server must not read them as permission to see anyone's data.  The administration API's scope
(``idp:admin``) is granted here only, to a client an operator granted it (``idp admin-api grant``).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants, list_to_scope, scope_to_list

from idp.oauth.clients import ADMIN_SCOPE
from idp.oauth.refresh import refuse_repeated
from idp.oauth.registration import KNOWN_SCOPES
from idp.oauth.tokens import TokenUser

PERSON_SCOPES = frozenset(KNOWN_SCOPES)


def client_subject(client: Any) -> TokenUser:
    """The client as the owner of its own token: ``sub`` = client_id, no person."""
    return TokenUser(person_id=None, sub=client.client_id)  # type: ignore[arg-type]


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """``grant_type=client_credentials``; public clients cannot authenticate here (no ``none``)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_token_request(self) -> None:
        refuse_repeated(self.request, ("scope", "client_id", "client_secret", "client_assertion"))
        super().validate_token_request()

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        requested = scope_to_list(self.request.payload.scope or "")
        scope = list_to_scope([s for s in requested if s not in PERSON_SCOPES]) if requested else None
        token = dict(self.generate_token(scope=scope, include_refresh_token=False))
        token.pop("refresh_token", None)
        if ADMIN_SCOPE in requested and getattr(self.request.client, "may_administer", False):
            # Added here, not by get_allowed_scope: the administration API's scope exists for this grant only.
            token["scope"] = list_to_scope([*scope_to_list(token.get("scope") or ""), ADMIN_SCOPE])
        self.request.user = client_subject(self.request.client)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER

    def validate_requested_scope(self) -> None:
        """Unknown or person scopes are dropped, not refused (RFC 6749 3.3: the server may grant less)."""


def register(server: Any) -> None:
    server.register_grant(ClientCredentialsGrant)
