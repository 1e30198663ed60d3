"""RP-Initiated Logout 1.0 on Authlib's EndSessionEndpoint: hints verified with our keys."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from authlib.oidc.rpinitiated.end_session import EndSessionRequest
from flask import g

from idp.extensions import db, state
from idp.oauth import keys, untrusted
from idp.people import session as login_session
from idp.people import signout

# Claims only other kinds of tokens signed with our keys carry: JWT access tokens (RFC 9068 2.2:
# client_id, scope, jti) and logout tokens (Back-Channel Logout 2.4: events).  None is in an ID token.
NOT_ID_TOKEN_CLAIMS = ("client_id", "scope", "events", "jti")
MAX_HINT_LENGTH = 8192


def check_id_token(header: dict[str, Any], claims: dict[str, Any]) -> None:
    """Refuse a verified JWT of ours that is not an ID token (raises InvalidRequestError).

    Every token the provider signs is signed with the same keys, so the signature alone does not say
    "ID token": a JWT access token (``typ`` ``at+jwt``, RFC 9068 2.1) or a logout token (``logout+jwt``)
    would otherwise pass as an ``id_token_hint`` and let whoever holds it (an API, an application's
    logout receiver) end a person's session (RFC 8725 3.11: explicit typing against token confusion).
    An ID token has ``typ`` ``JWT`` (or none), an issuer that is this provider, a ``sub`` and an
    ``aud`` naming clients (OIDC Core 2).
    """
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in ("jwt", "application/jwt")):
        raise InvalidRequestError("The 'id_token_hint' is not an ID token.")
    if any(name in claims for name in NOT_ID_TOKEN_CLAIMS):
        raise InvalidRequestError("The 'id_token_hint' is not an ID token.")
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud
    if not isinstance(auds, list) or not auds or not all(isinstance(a, str) and a for a in auds):
        raise InvalidRequestError("The 'id_token_hint' is not an ID token.")
    if claims.get("iss") != state().config["ISSUER"] or not isinstance(claims.get("sub"), str):
        # RP-Initiated Logout 2: the OP MUST validate that it was the issuer of the ID token.
        raise InvalidRequestError("The 'id_token_hint' was not issued by this provider.")


def verify_id_token_hint(hint: str) -> dict[str, Any]:
    """Claims of an ID token we issued (signature checked with our keys, then :func:`check_id_token`).

    Expiry is not checked: OpenID Connect Core 3.1.2.1 and RP-Initiated Logout 2 allow an expired hint.
    Raises InvalidRequestError otherwise.
    """
    if len(hint) > MAX_HINT_LENGTH:
        raise InvalidRequestError("The 'id_token_hint' is too long.")
    try:
        token = keys.verify(hint)
    except Exception as exc:  # noqa: BLE001 - malformed, forged, alg none, unknown key: all the same
        raise InvalidRequestError("The 'id_token_hint' is not a valid ID token from this provider.") from exc
    claims = dict(token.claims)
    check_id_token(dict(token.header), claims)
    return claims


class EndSessionEndpoint(_EndSessionEndpoint):
    """``/end_session``: the views decide about confirmation pages; this ends the session."""

    def get_server_jwks(self) -> Any:
        return keys.keyring().verify

    def get_algorithms(self) -> list[str]:
        return list(keys.ALGORITHMS)  # never "none"

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        if len(id_token_hint) > MAX_HINT_LENGTH:
            raise InvalidRequestError("The 'id_token_hint' is too long.")
        try:
            untrusted.check_compact(id_token_hint)  # bounded before Authlib parses it (issue 21)
            # Authlib's checks (signature, the time claims except exp) ...
            super()._validate_id_token_hint(id_token_hint)
        except InvalidRequestError:
            raise
        except Exception as exc:  # noqa: BLE001 - any malformed hint is the client's error
            raise InvalidRequestError("The 'id_token_hint' is not a valid ID token.") from exc
        # ... and ours: an ID token of this provider, not an access or logout token (check_id_token).
        return verify_id_token_hint(id_token_hint)

    def is_post_logout_redirect_uri_legitimate(self, request: Any, post_logout_redirect_uri: str, client: Any,
                                               logout_hint: str | None) -> bool:
        # Without a hint, the person's explicit confirmation on our page (CSRF-protected) is the
        # "other means of confirming the legitimacy" of RP-Initiated Logout 3.
        return bool(getattr(request, "confirmed", False))

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        ended = login_session.end()
        # The view renders the Front-Channel Logout 1.0 iframes of the ended session (idp.oauth.frontchannel).
        g.idp_ended_sessions = [ended] if ended is not None else []
        if ended is not None:
            client = end_session_request.client
            # idp.people.signout: revoke the session's refresh tokens, queue one Back-Channel Logout notice per
            # application (2.3/2.5) and audit, all in one transaction; delivery runs after the commit.
            signout.sessions_ended([ended], reason="rp-initiated", client_id=client.client_id if client else None)
            db.session.commit()


def register(server: Any) -> None:
    server.register_endpoint(EndSessionEndpoint)
