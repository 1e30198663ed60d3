"""The refresh token grant (RFC 6749 6) with rotation and reuse detection (RFC 9700 4.14.2).

Every use returns a new refresh token of the same family and marks the presented row ``rotated_at``.
Presenting a token that was already rotated out or revoked is treated as theft: the whole family
(refresh tokens and the access tokens issued from them) is revoked and the answer is ``invalid_grant``.
The rotation itself is a conditional UPDATE, so two concurrent uses of one token cannot both succeed.
The lookup is a single indexed query (token hash, joined with the person's subject and status).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants, scope_to_list
from authlib.oidc.core.grants.util import is_openid_scope
from sqlalchemy import select, update

from idp import audit
from idp.extensions import db
from idp.models import Person, RefreshToken, utcnow
from idp.oauth import tokens
from idp.oauth.grants import issue_id_token
from idp.oauth.tokens import TokenUser
from idp.people import access
from idp.people import session as login_session

MAX_REFRESH_TOKEN_LENGTH = 200


def refuse_repeated(request: Any, names: tuple[str, ...]) -> None:
    """RFC 6749 3.2: request parameters MUST NOT be included more than once."""
    datalist = request.payload.datalist
    for name in names:
        if len(datalist.get(name) or ()) > 1:
            raise InvalidRequestError(f"The parameter '{name}' is repeated.")


@dataclass
class RefreshRecord:
    """A refresh token row with the person facts read in the same query (what Authlib and save_token use).

    The row's values are copied when the record is made: the grant reads them again after the
    request's commit, when the ORM would otherwise expire and re-SELECT the row (one more database
    round trip per refresh, found by the benchmark profile).
    """

    row: RefreshToken
    sub: str
    person_status: str
    client_pk: int
    family_id: str = ""
    sid: str | None = None
    auth_time: int | None = None
    acr: str | None = None
    amr: list[str] | None = None
    expires_at: Any = None
    scope: str = ""
    person_id: int = 0

    def __post_init__(self) -> None:
        row = self.row
        self.family_id, self.sid, self.auth_time, self.acr = row.family_id, row.sid, row.auth_time, row.acr
        self.amr, self.expires_at, self.scope = row.amr, row.expires_at, row.scope or ""
        self.person_id = row.person_id

    def check_client(self, client: Any) -> bool:
        return bool(self.client_pk == client.pk)

    def get_scope(self) -> str:
        return self.scope


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """``grant_type=refresh_token`` with rotation; public clients (PKCE) may refresh too."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: Any) -> RefreshRecord | None:
        if (not isinstance(refresh_token, str) or not refresh_token
                or len(refresh_token) > MAX_REFRESH_TOKEN_LENGTH or not refresh_token.isprintable()):
            return None
        # The person as an entity (not two columns): it stays in the session, so the ID token's profile
        # claims are read without another query (idp.oauth.tokens.save_token).
        found = db.session.execute(
            select(RefreshToken, Person)
            .join(Person, Person.id == RefreshToken.person_id)
            .where(RefreshToken.token_hash == tokens.refresh_token_hash(refresh_token))
        ).first()
        if found is None:
            return None
        row, person = found
        sub, status = person.sub, person.status
        self.request.person_row = person  # held: see idp.oauth.grants.AuthorizationCodeGrant.authenticate_user
        record = RefreshRecord(row=row, sub=sub, person_status=status, client_pk=row.client_id)
        if row.client_id != self.request.client.pk:
            return None  # another client's token (RFC 6749 6): invalid_grant, nothing revealed
        if row.rotated_at is not None or row.revoked_at is not None:
            self._reuse(row, "refresh_reuse")
            return None
        if row.expires_at <= utcnow() or status != "active" or tokens.family_revoked(row.family_id):
            return None
        metadata = self.request.client.client_metadata
        if access.has_policy(metadata):
            # The application's access policy holds at every refresh, not only at sign-in (issue 18): a
            # person who left the group, or whose staff account ended, gets no new tokens.  The family is
            # revoked (its access tokens too) and the answer is invalid_grant (RFC 6749 5.2).
            reasons = access.refusals(row.person_id, row.acr, metadata)
            if reasons:
                tokens.revoke_family(row.family_id, "access_policy")
                audit.record("oauth.access_denied", outcome="failure", person_id=row.person_id,
                             client_id=self.request.client.client_id, reasons=reasons, at="refresh")
                db.session.commit()
                return None
        return record

    def _reuse(self, row: RefreshToken, reason: str) -> None:
        """A rotated-out or revoked token came back: revoke the family (RFC 9700 4.14.2)."""
        tokens.revoke_family(row.family_id, reason)
        audit.record("oauth.refresh_reuse", outcome="failure", person_id=row.person_id,
                     client_id=self.request.client.client_id)
        db.session.commit()

    def validate_token_request(self) -> None:
        refuse_repeated(self.request, ("refresh_token", "scope", "client_id", "client_secret",
                                       "client_assertion"))
        super().validate_token_request()
        record: RefreshRecord = self.request.refresh_token
        # The rotation gate: only one request can move this row from current to rotated.
        result = db.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == record.row.id, RefreshToken.rotated_at.is_(None),
                   RefreshToken.revoked_at.is_(None))
            .values(rotated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            db.session.rollback()
            self._reuse(record.row, "refresh_race")
            raise InvalidGrantError()

    def issue_token(self, user: TokenUser, refresh_token: RefreshRecord) -> dict[str, Any]:
        # Scope may only narrow (checked by Authlib); sensitive scopes whose approval an operator
        # withdrew since are dropped (RFC 6749 3.3).
        scope = self.request.payload.scope or refresh_token.get_scope()
        scope = self.request.client.get_allowed_scope(scope)
        return dict(self.generate_token(user=user, scope=scope, include_refresh_token=True))

    def authenticate_user(self, refresh_token: RefreshRecord) -> TokenUser:
        return TokenUser(person_id=refresh_token.person_id, sub=refresh_token.sub)

    def save_token(self, token: dict[str, Any]) -> None:
        super().save_token(token)
        record: RefreshRecord = self.request.refresh_token
        original = record.get_scope()
        if token.get("refresh_token") and token.get("scope", "") != original:
            # RFC 6749 6: the new refresh token keeps the scope of the one presented, even when the
            # access token was narrowed.
            db.session.execute(
                update(RefreshToken)
                .where(RefreshToken.token_hash == tokens.refresh_token_hash(token["refresh_token"]))
                .values(scope=original)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        """Nothing left to do: :meth:`validate_token_request` marked the row rotated."""

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        status, token, headers = super().create_token_response()
        record: RefreshRecord = self.request.refresh_token
        if "offline_access" not in scope_to_list(record.get_scope()):
            # The application is in use: its sign-in session's idle timeout starts again, so the
            # session does not expire (and log the person out of this application) under their hands.
            # Offline access is by definition not the person at work, so it keeps nothing alive.
            login_session.keep_alive(record.sid)
        if is_openid_scope(token.get("scope")) and "openid" in scope_to_list(record.get_scope()):
            # OpenID Connect Core 12.2: a new ID token keeps the original authentication's facts.
            token["id_token"] = issue_id_token(
                client=self.request.client, user=self.request.user, scope=token.get("scope", ""),
                access_token=token.get("access_token"), nonce=None, auth_time=record.auth_time,
                acr=record.acr, amr=record.amr, sid=record.sid,
                claims=getattr(self.request, "id_token_claims", None))
        return status, token, headers


def register(server: Any) -> None:
    server.register_grant(RefreshTokenGrant)

