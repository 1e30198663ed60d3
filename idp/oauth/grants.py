"""The authorization code grant with PKCE (S256 only) and OpenID Connect ID tokens, on Authlib hooks.

Codes live in the store (kind ``code``, ``CODE_TTL``).  Redemption is atomic: the first
``store.add("code-used", code)`` wins; a second redemption of the same code finds the gate taken,
revokes the token family derived from the code and gets ``invalid_grant`` (RFC 6749 4.1.2: the server
SHOULD revoke tokens issued from a reused code).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError, grants, scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from authlib.oidc.core.grants.util import is_openid_scope
from authlib.oidc.core.util import create_half_hash

from idp import audit
from idp.crypto import random_token
from idp.extensions import db, setting, state
from idp.models import Person
from idp.oauth import keys, tokens
from idp.oauth.clients import authenticate_client_secret_basic
from idp.oauth.tokens import TokenUser
from idp.people import claims as claims_module
from idp.people import pairwise

MAX_CODE_LENGTH = 128




@dataclass(frozen=True)
class EndUser(TokenUser):
    """The signed-in person granting an authorization, with the facts of their login session."""

    sid: str = ""
    auth_time: int = 0
    acr: str = ""
    amr: tuple[str, ...] = ()


@dataclass
class CodeData:
    """An authorization code as stored, with the accessors Authlib and OpenIDCode call."""

    code: str
    family: str
    client_id: str
    redirect_uri: str
    scope: str
    person_id: int
    sub: str
    nonce: str | None
    auth_time: int
    acr: str
    amr: list[str]
    sid: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return self.amr


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only (RFC 9700 2.1.1: plain must not be used).

    Required for public clients and for clients registered with ``require_pkce``; accepted from the
    others.  A challenge without a method would mean ``plain`` (RFC 7636 4.3), so it is refused.
    """

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        request = grant.request
        data = request.payload.data
        client = request.client
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if not challenge and (client.is_public or client.require_pkce):
            raise InvalidRequestError("This client must use PKCE: 'code_challenge' is required.")
        if challenge and method != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """``response_type=code`` (RFC 6749 4.1) with codes in the store and an atomic redemption gate."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
    RESPONSE_TYPES = {"code"}

    def issue_code(self, user: EndUser) -> str:
        """Create and store a code for the validated request (after consent)."""
        self.request.user = user
        code = random_token(32)
        self.save_authorization_code(code, self.request)
        return code

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: EndUser = request.user
        data = request.payload.data
        state().store.put("code", code, {
            "client_id": request.client.client_id,
            "redirect_uri": request.payload.redirect_uri,
            "scope": request.scope or "",
            "person_id": user.person_id,
            "sub": user.sub,
            "nonce": data.get("nonce"),
            "auth_time": user.auth_time,
            "acr": user.acr,
            "amr": list(user.amr),
            "sid": user.sid,
            "code_challenge": data.get("code_challenge"),
            "code_challenge_method": data.get("code_challenge_method"),
        }, setting("CODE_TTL"))

    def query_authorization_code(self, code: str, client: Any) -> CodeData | None:
        """Consume the code atomically; a second presentation revokes what the first one got."""
        if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH or not code.isprintable():
            return None
        store = state().store
        family = tokens.family_for_code(code)
        gate_ttl = setting("CODE_TTL") + setting("ACCESS_TOKEN_TTL")
        if not store.add("code-used", code, {"client_id": client.client_id, "at": int(time.time())}, gate_ttl):
            # RFC 6749 4.1.2 / RFC 9700 4.5: reuse -> revoke the tokens issued for this code.
            tokens.revoke_family(family, "code_reuse")
            audit.record("oauth.code_reuse", outcome="failure", client_id=client.client_id)
            db.session.commit()
            return None
        data = store.take("code", code)
        if not data or data.get("client_id") != client.client_id:
            return None  # unknown, expired, or issued to another client (RFC 6749 4.1.3)
        return CodeData(code=code, family=family, **data)

    def delete_authorization_code(self, authorization_code: Any) -> None:
        """Nothing to do: :meth:`query_authorization_code` already consumed the code."""

    def authenticate_user(self, authorization_code: CodeData) -> TokenUser | None:
        """The person of the code, if still active (the row is reused for the ID token's claims)."""
        person = db.session.get(Person, authorization_code.person_id)
        if person is None or person.status != "active":
            return None
        # Held by the request: the session's identity map keeps unchanged rows only while something
        # refers to them, and the ID token's claims read this row again (idp.oauth.tokens.save_token).
        self.request.person_row = person
        return TokenUser(person_id=authorization_code.person_id, sub=authorization_code.sub)


def issue_id_token(*, client: Any, user: TokenUser, scope: str, access_token: str | None, nonce: str | None,
                   auth_time: int | None, acr: str | None, amr: list[str] | None, sid: str | None,
                   claims: dict[str, Any] | None = None) -> str:
    """Sign an ID token (OpenID Connect Core 2) for ``client`` with our key for its algorithm.

    Used by the code grant and the refresh grant.  ``claims``: the profile claims already read for this
    token (:func:`idp.oauth.tokens.save_token`), else they are read here.
    """
    alg = client.id_token_alg if client.id_token_alg in keys.ALGORITHMS else keys.DEFAULT_ALG
    kid, key = keys.keyring().signing_key(alg)
    now = int(time.time())
    sub = pairwise.subject_for(client, user.sub)  # OIDC Core 8: public or pairwise, per client
    body: dict[str, Any] = dict(claims) if claims is not None else claims_module.claims_for(
        user.person_id, sub, scope, client.client_id, with_nik=False)
    body.update({"iss": setting("ISSUER"), "sub": sub, "aud": client.client_id, "azp": client.client_id,
                 "iat": now, "exp": now + setting("ID_TOKEN_TTL")})
    if auth_time:
        body["auth_time"] = auth_time
    if nonce:
        body["nonce"] = nonce  # echoed unchanged (Core 3.1.3.7 step 11)
    if acr:
        body["acr"] = acr
    if amr:
        body["amr"] = list(amr)
    if sid:
        body["sid"] = sid
    if access_token:
        at_hash = create_half_hash(access_token, alg)  # Core 3.1.3.6
        if at_hash is not None:
            body["at_hash"] = at_hash.decode()
    return keys.sign({"alg": alg, "kid": kid, "typ": "JWT"}, body, key)


class OpenIDCode(oidc_grants.OpenIDCode):
    """Adds the ID token to the token response of an ``openid`` code grant."""

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        # Codes are single-use and bound to the client, so a replayed nonce cannot yield a second token.
        return False

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        code: CodeData = request.authorization_code
        return issue_id_token(client=request.client, user=request.user, scope=token.get("scope", ""),
                              access_token=token.get("access_token"), nonce=code.nonce,
                              auth_time=code.auth_time, acr=code.acr, amr=code.amr, sid=code.sid,
                              claims=getattr(request, "id_token_claims", None))

    def __call__(self, grant: Any) -> None:
        # Prompt handling is done by the authorization view (idp.web.oauth), so only the token hook
        # and the nonce check are wired here.
        grant.register_hook("after_create_token_response", self.process_token)
        if is_openid_scope(grant.request.payload.scope):
            grant.register_hook("after_validate_authorization_request_payload",
                                self.validate_openid_authorization_request)


class TokenGenerator(BearerTokenGenerator):
    """Bearer tokens with our lifetimes; a refresh token also when ``offline_access`` was granted."""

    def __init__(self) -> None:
        super().__init__(lambda **_: random_token(32), lambda **_: random_token(32), self._expires_in)

    @staticmethod
    def _expires_in(client: Any, grant_type: str) -> int:
        return int(setting("ACCESS_TOKEN_TTL"))

    def generate(self, grant_type: str, client: Any, user: Any = None, scope: str | None = None,
                 expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        if grant_type == "authorization_code" and "offline_access" in scope_to_list(scope or ""):
            include_refresh_token = True  # OpenID Connect Core 11
        return dict(super().generate(grant_type, client, user, scope, expires_in, include_refresh_token))


def register(server: Any) -> None:
    """Wire the code grant, PKCE and OpenID Connect into the server."""
    server.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
    server.register_token_generator("default", TokenGenerator())
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDCode()])
