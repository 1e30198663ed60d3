"""Access tokens in the store, refresh tokens in the database, both revocable by family.

A *family* is everything issued from one authorization: one code redemption and all refresh token
rotations after it.  Revoking a family (code reuse, refresh token reuse, revocation) writes one
``family-revoked`` marker to the store and marks the family's refresh token rows revoked.

Access tokens are opaque by default: ``<random>.<family id>``.  Carrying the family id in the token
lets :func:`lookup_access_token` read the token and the family marker in ONE store round trip (hot
path: userinfo, introspection).  The stored key is a hash of the whole token, so editing the family
part only yields an unknown token.

A client may instead ask for JWT access tokens (RFC 9068; client metadata ``access_token_format:
"jwt"``, signed with ``access_token_signed_response_alg``) for resource servers that validate tokens
locally against the JWKS.  They are stored like opaque ones, so that userinfo, introspection and
revocation treat both alike; their family is read from the stored record (two store round trips).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import ColumnElement, select, update

from idp import events
from idp.crypto import random_token
from idp.extensions import db, setting, state
from idp.models import RefreshToken, utcnow
from idp.oauth import keys
from idp.oauth.clients import query_client
from idp.people import claims as claims_module
from idp.people import pairwise

# An opaque access token is never longer than this (random part + "." + family id), a JWT access token
# never longer than the second; longer input is refused before it reaches the store.
MAX_TOKEN_LENGTH = 200
MAX_JWT_LENGTH = 4096
JWT_TYP = "at+jwt"  # RFC 9068 2.1


@dataclass(frozen=True)
class TokenUser:
    """The resource owner as the grants see it: enough for tokens without loading the person."""

    person_id: int
    sub: str

    def get_user_id(self) -> str:
        return self.sub




def family_for_code(code: str) -> str:
    """The family id of a code grant, derivable from the code alone (contracts: code reuse)."""
    return str(state().crypto.keyed_hash("family", code))


def new_family() -> str:
    """A fresh family id for grants that do not start from a code (client credentials)."""
    return str(state().crypto.keyed_hash("family", random_token(32)))


def refresh_token_hash(token: str) -> str:
    return str(state().crypto.keyed_hash("refresh_token", token))


def as_token_user(user: Any) -> TokenUser | None:
    """The resource owner of a token request as a :class:`TokenUser` (grants may return a Person)."""
    if user is None or isinstance(user, TokenUser):
        return user
    if hasattr(user, "person_id") and hasattr(user, "sub"):
        return TokenUser(person_id=int(user.person_id), sub=str(user.sub))
    if hasattr(user, "id") and hasattr(user, "sub"):  # idp.models.Person
        return TokenUser(person_id=int(user.id), sub=str(user.sub))
    return None


def _context(request: Any) -> dict[str, Any]:
    """Family and login-session facts of this token request (code, refresh or client credentials)."""
    code = getattr(request, "authorization_code", None)
    if code is not None:
        return {"family": code.family, "sid": code.sid, "auth_time": code.auth_time, "acr": code.acr,
                "amr": code.amr, "expires_at": None}
    rt = getattr(request, "refresh_token", None)
    if rt is not None and hasattr(rt, "family_id"):
        # Rotation keeps the family and its absolute expiry (RFC 9700 4.14.2).
        return {"family": rt.family_id, "sid": rt.sid, "auth_time": rt.auth_time, "acr": rt.acr,
                "amr": rt.amr, "expires_at": rt.expires_at}
    family = getattr(request, "token_family", None) or new_family()
    return {"family": family, "sid": None, "auth_time": None, "acr": None, "amr": None, "expires_at": None}


def audience_of(client: Any) -> str | None:
    """The resource server (API) this client's access tokens are for: its registered
    ``access_token_audience`` (RFC 9068 2.2 ``aud``), or None when it registered none."""
    value = (getattr(client, "client_metadata", None) or {}).get("access_token_audience")
    return str(value) if value else None


def save_token(token: dict[str, Any], request: Any) -> None:
    """Persist what Authlib generated: the access token in the store, a refresh token row if any.

    The access token value is (re)made here so that it carries the family id (see module doc); Authlib
    returns this same dict to the client, and the ID token's ``at_hash`` is computed afterwards.
    Commits the request's transaction, when the request opened one (one commit per token request).
    """
    client = request.client
    user = as_token_user(request.user)
    ctx = _context(request)
    family = ctx["family"]
    now = int(time.time())
    ttl = int(token.get("expires_in") or setting("ACCESS_TOKEN_TTL"))
    scope = token.get("scope", "") or ""
    audience = audience_of(client)
    # What the client knows its person by (OIDC Core 8: public or pairwise), computed once for the token's
    # record, the JWT's sub and the ID token's claims.  A client's own token (client credentials:
    # person_id None) keeps the person-less sub it was given.
    subject = (pairwise.subject_for(client, user.sub) if user.person_id else user.sub) if user else None
    if (client.client_metadata or {}).get("access_token_format") == "jwt":
        access_token = _jwt_access_token(client, subject if user else client.client_id, audience, scope, ctx,
                                         now, ttl)
    else:
        access_token = f"{random_token(32)}.{family}"
    token["access_token"] = access_token
    state().store.put("at", access_token, {
        "client_id": client.client_id,
        "sub": user.sub if user else None,  # the person's public sub (internal)
        # What the client sees: userinfo and introspection answer with it, no client lookup.
        "client_sub": subject,
        "person_id": user.person_id if user else None,
        "scope": scope,
        "sid": ctx["sid"],
        "family": family,
        "iat": now,
        "exp": now + ttl,
        "grant": request.payload.grant_type,
        # The API the token is for, as issued (introspection: which resource server may ask, RFC 7662 4).
        "aud": audience,
    }, ttl)

    refresh = token.get("refresh_token")
    if refresh and user is not None:
        expires_at = ctx["expires_at"] or utcnow() + dt.timedelta(seconds=setting("REFRESH_TOKEN_TTL"))
        db.session.add(RefreshToken(
            token_hash=refresh_token_hash(refresh), family_id=family, client_id=client.pk,
            person_id=user.person_id, scope=scope, sid=ctx["sid"], auth_time=ctx["auth_time"],
            acr=ctx["acr"], amr=ctx["amr"], expires_at=expires_at,
        ))
    elif refresh:
        token.pop("refresh_token", None)  # no resource owner, nothing to refresh for
    if user is not None and user.person_id and "openid" in scope.split():
        # The ID token that follows (OIDC Core 3.1.3.3, 12.2) is signed after this commit, by Authlib's
        # hook; its profile claims are read now, from the person the grant already loaded, because
        # after the commit the ORM would read the person again and end the request with one more
        # transaction (a SELECT and a ROLLBACK: two round trips per token; bench/FINDINGS.md).
        request.id_token_claims = claims_module.claims_for(user.person_id, str(subject), scope, client.client_id,
                                                           with_nik=False)
    # A client-credentials token usually touched no row (its client came from the cache): then there is
    # no transaction to commit, and opening one only to end it costs a pool checkout and a ROLLBACK-free
    # COMMIT round trip per token (bench/FINDINGS.md, issue 20).
    if db.session.registry.has():  # else this request never used the database: nothing to commit
        session = db.session()
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            session.commit()


def _jwt_access_token(client: Any, sub: str | None, audience: str | None, scope: str, ctx: dict[str, Any],
                      now: int, ttl: int) -> str:
    """An RFC 9068 JWT access token for ``client`` (signed with our keys; ``typ`` ``at+jwt``); ``sub`` and
    ``audience`` as :func:`save_token` worked them out."""
    meta = client.client_metadata or {}
    alg = meta.get("access_token_signed_response_alg") or "RS256"
    alg = alg if alg in keys.ALGORITHMS else keys.DEFAULT_ALG
    kid, key = keys.keyring().signing_key(alg)
    # RFC 9068 2.2: sub is the resource owner (as this client knows them) or, for client credentials,
    # the client; aud is the resource server: the registered access_token_audience alone, so that an API
    # accepts only tokens meant for it (RFC 9068 4).  Without one, this provider's userinfo endpoint.
    # Our userinfo endpoint recognises its tokens by the stored record, not by aud, so a token for an
    # API still reads userinfo when it has the openid scope (unmodified relying parties keep working).
    claims: dict[str, Any] = {"iss": setting("ISSUER"), "sub": sub, "client_id": client.client_id,
                              "aud": audience or setting("ISSUER") + "/userinfo",
                              "iat": now, "exp": now + ttl, "jti": random_token(16), "scope": scope}
    if ctx.get("auth_time"):
        claims.update(auth_time=ctx["auth_time"], acr=ctx["acr"], amr=ctx["amr"])
    return keys.sign({"alg": alg, "kid": kid, "typ": JWT_TYP}, claims, key)


def client_sub(data: dict[str, Any]) -> str | None:
    """The ``sub`` the token's client knows its person by (OIDC Core 8); the client_id for its own token.

    Tokens saved before pairwise subjects existed carry no ``client_sub``; their client is then looked
    up (memoised per request) and the subject mapped, so a client that is pairwise now never sees the
    public ``sub``.
    """
    if not data.get("sub"):
        return None
    if not data.get("person_id"):
        return str(data["sub"])  # the client's own token (client credentials): sub is its client_id
    if data.get("client_sub"):
        return str(data["client_sub"])
    client = query_client(data.get("client_id"))
    return pairwise.subject_for(client, str(data["sub"])) if client is not None else None


def lookup_access_token(token: str | None) -> dict[str, Any] | None:
    """The access token's data, or None when unknown, expired or its family revoked."""
    if not token or "." not in token:
        return None
    if token.count(".") == 2:  # a JWT access token (RFC 9068): its family is in the stored record
        if len(token) > MAX_JWT_LENGTH:
            return None
        data = state().store.get("at", token)
        if not data or state().store.get("family-revoked", str(data.get("family"))) is not None:
            return None
    else:
        if len(token) > MAX_TOKEN_LENGTH:
            return None
        family = token.rsplit(".", 1)[1]
        data, revoked = state().store.get_many([("at", token), ("family-revoked", family)])
        if not data or revoked is not None or data.get("family") != family:
            return None
    if int(data.get("exp", 0)) <= int(time.time()):
        return None
    return dict(data)


def revoke_access_token(token: str) -> bool:
    """Forget one access token; True when it existed."""
    if not token or len(token) > (MAX_JWT_LENGTH if token.count(".") == 2 else MAX_TOKEN_LENGTH):
        return False
    return bool(state().store.delete("at", token))


def revoke_family(family_id: str, reason: str) -> None:
    """Revoke every token of a family: a store marker for access tokens, and the refresh token rows.

    The caller commits the database change (it belongs to the caller's transaction).
    """
    state().store.put("family-revoked", family_id, 1, setting("REFRESH_TOKEN_TTL"))
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason[:64])
    )


def revoke(where: Iterable[ColumnElement[bool]], reason: str, *, keep_offline: bool = False) -> int:
    """Revoke every live family with a refresh token row matching ``where``; the number of families.

    The one way to revoke "all tokens of X" (a person, a client, a session): the families are selected,
    then each is revoked with :func:`revoke_family`.  With ``keep_offline``, a family whose live rows
    were all issued for ``offline_access`` is kept (it outlives a sign-in session, OIDC Core 11).
    The caller commits.
    """
    rows = db.session.execute(
        select(RefreshToken.family_id, RefreshToken.scope).where(*where, RefreshToken.revoked_at.is_(None))
    ).all()
    families = {family for family, scope in rows
                if not (keep_offline and "offline_access" in (scope or "").split())}
    for family in sorted(families):
        revoke_family(family, reason)
    return len(families)


def _sessions_ended(*, sessions: list[Any], reason: str, keep_offline: bool) -> int:
    """Event handler (idp.people.signout): revoke the families issued in the ended sessions."""
    return sum(revoke([RefreshToken.sid == s.sid], f"logout:{reason}", keep_offline=keep_offline)
               for s in sessions)


def _person_tokens_revoked(*, person_id: int, reason: str, scope: str | None = None) -> int:
    """Event handler (staff sync, linking, NIK disputes): revoke every family of the person, or with ``scope``
    only the families whose tokens carry that scope (a NIK moved to another person: ``nik``)."""
    if scope is None:
        return revoke([RefreshToken.person_id == person_id], reason)
    rows = db.session.execute(select(RefreshToken.family_id, RefreshToken.scope).where(
        RefreshToken.person_id == person_id, RefreshToken.revoked_at.is_(None))).all()
    families = {family for family, granted in rows if scope in (granted or "").split()}
    for family in sorted(families):
        revoke_family(family, reason)
    return len(families)


def init_app(app: Flask) -> None:
    """Subscribe to the events of :mod:`idp.people` that revoke tokens (:mod:`idp.events`)."""
    events.subscribe(app, events.SESSIONS_ENDED, _sessions_ended)
    events.subscribe(app, events.PERSON_TOKENS_REVOKED, _person_tokens_revoked)


def family_revoked(family_id: str) -> bool:
    """True when the family was revoked (refresh grant check)."""
    return state().store.get("family-revoked", family_id) is not None
