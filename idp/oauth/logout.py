"""RP-Initiated Logout 1.0 on Authlib's EndSessionEndpoint: hints verified with our keys."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from authlib.oidc.rpinitiated.end_session import EndSessionRequest
from flask import current_app, g

from .. import session as login_session
from .. import signout
from ..extensions import db
from . import keys, untrusted


class EndSessionEndpoint(_EndSessionEndpoint):
    """``/end_session``: the views decide about confirmation pages; this ends the session."""

    def get_server_jwks(self) -> Any:
        return keys.keyring().verify

    def get_algorithms(self) -> list[str]:
        return list(keys.ALGORITHMS)  # never "none"

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        if len(id_token_hint) > 8192:
            raise InvalidRequestError("The 'id_token_hint' is too long.")
        try:
            untrusted.check_compact(id_token_hint)  # bounded before Authlib parses it (issue 21)
            claims = super()._validate_id_token_hint(id_token_hint)
        except InvalidRequestError:
            raise
        except Exception as exc:  # noqa: BLE001 - any malformed hint is the client's error
            raise InvalidRequestError("The 'id_token_hint' is not a valid ID token.") from exc
        # RP-Initiated Logout 2: the OP MUST validate that it was the issuer of the ID token.
        if claims.get("iss") != current_app.extensions["idp"].config["ISSUER"]:
            raise InvalidRequestError("The 'id_token_hint' was not issued by this provider.")
        return claims

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
            # idp.signout: revoke the session's refresh tokens, queue one Back-Channel Logout notice per
            # application (2.3/2.5) and audit, all in one transaction; delivery runs after the commit.
            signout.sessions_ended([ended], reason="rp-initiated", client_id=client.client_id if client else None)
            db.session.commit()


def register(server: Any) -> None:
    server.register_endpoint(EndSessionEndpoint)
