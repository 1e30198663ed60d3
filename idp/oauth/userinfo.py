"""The UserInfo endpoint's work (OpenID Connect Core 5.3): bearer token -> claims by scope."""

from __future__ import annotations

from typing import Any

from flask import Request

from idp.extensions import db
from idp.oauth import tokens
from idp.oauth.clients import query_client
from idp.people import claims


class BearerError(Exception):
    """A RFC 6750 3.1 error: ``code`` (may be empty when no token was sent) and HTTP status."""

    def __init__(self, code: str, description: str, status: int) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status


def bearer_token(request: Request) -> str:
    """The access token from the Authorization header or, for a form POST, the body (RFC 6750 2.1, 2.2).

    The query string is never read (RFC 6750 2.3 is discouraged; RFC 9700 2.4 forbids it).
    """
    header = request.headers.get("Authorization", "")
    from_header = None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise BearerError("invalid_request", "The Authorization header must be 'Bearer <token>'.", 400)
        from_header = value.strip()
    from_body = None
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        values = request.form.getlist("access_token")
        if len(values) > 1:
            raise BearerError("invalid_request", "The access token is repeated.", 400)
        from_body = values[0] if values else None
    if from_header and from_body:
        # RFC 6750 2: clients MUST NOT use more than one method to send the token.
        raise BearerError("invalid_request", "Send the access token in one place only.", 400)
    token = from_header or from_body
    if not token:
        raise BearerError("", "An access token is required.", 401)
    return token


def userinfo_claims(token: str) -> dict[str, Any]:
    data = tokens.lookup_access_token(token)
    # A token of a client disabled or deleted since is no longer honoured (as introspection already
    # says inactive); the client comes from the process's cache, so this costs no database query.
    if data is None or not data.get("person_id") or query_client(data.get("client_id")) is None:
        raise BearerError("invalid_token", "The access token is invalid, expired or revoked.", 401)
    if "openid" not in (data.get("scope") or "").split():
        raise BearerError("insufficient_scope", "The access token lacks the 'openid' scope.", 403)
    sub = tokens.client_sub(data)  # the client's view of the person (OIDC Core 8: public or pairwise)
    if sub is None:
        raise BearerError("invalid_token", "The access token is invalid, expired or revoked.", 401)
    session = db.session()
    if not session.in_transaction():
        # The claims are only read: in autocommit the reads are the only round trips, with no
        # transaction left to roll back at the request's end (bench/FINDINGS.md, issue 20).
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return claims.claims_for(int(data["person_id"]), sub, data["scope"], data["client_id"])
