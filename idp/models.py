"""Durable state: people, their linked credentials, clients, consents, refresh tokens, keys, audit.

Schema changes go through Alembic (``migrations/``); ``tests/test_migrations.py`` proves the
migrations and these models agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.extensions import db


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Person(db.Model):  # type: ignore[name-defined]
    """One human, whatever credentials they use; ``sub`` is random and opaque."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    # active | disabled (by the directory sync) | locked (by an administrator) | merged | deleted
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # A verified mobile number in E.164 (idp.people.phone): only a number proved by a code is stored, so
    # the ``phone_number_verified`` claim (OIDC Core 5.1) is true of it; one person per number.
    phone_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    birthdate: Mapped[dt.date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(16))
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                    onupdate=utcnow)

    links: Mapped[list[IdentityLink]] = relationship(back_populates="person")


class IdentityLink(db.Model):  # type: ignore[name-defined]
    """Maps one credential of one source (``citizen``, ``ldap`` ...) to exactly one person."""

    __tablename__ = "identity_links"
    __table_args__ = (UniqueConstraint("source", "subject", name="uq_identity_links_source_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    person: Mapped[Person] = relationship(back_populates="links")


class CitizenAccount(db.Model):  # type: ignore[name-defined]
    """A self-registered account keyed by NIK: encrypted NIK, keyed-hash lookup, argon2id password."""

    __tablename__ = "citizen_accounts"
    # The link offer by NIP looks citizen accounts up by birth date and sex (idp.people.linking).
    __table_args__ = (Index("ix_citizen_accounts_birthdate_gender", "birthdate", "gender"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    # The NIK the account HOLDS (keyed hash, unique): sign-in by NIK and the ``nik`` claim use it.  NULL while
    # the account only claims its NIK (``claimed_nik_hash``): a second registration of a NIK someone else holds
    # unproven, or a holder who lost it to a better proof (idp.people.nik_dispute).  ``nik_enc``/``nik_masked``
    # are the account's NIK either way.
    nik_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    claimed_nik_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    nik_enc: Mapped[str] = mapped_column(Text, nullable=False)
    nik_key_id: Mapped[str] = mapped_column(String(16), nullable=False)
    nik_masked: Mapped[str] = mapped_column(String(16), nullable=False)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    full_name: Mapped[str] = mapped_column(String(200), nullable=False)
    birthdate: Mapped[dt.date] = mapped_column(Date, nullable=False)
    gender: Mapped[str] = mapped_column(String(16), nullable=False)
    # NULL, or why a person should look at it (typed birth date differs from the NIK's, ...).
    review_reason: Mapped[str | None] = mapped_column(String(64))
    # The NIK level (idp.assurance.NIK_LEVELS): citizen-review, citizen (self-declared), citizen-registry,
    # citizen-in-person; and when it was last raised by a registry match or an officer.
    assurance: Mapped[str] = mapped_column(String(64), nullable=False)
    nik_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    password_changed_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    person: Mapped[Person] = relationship()


class NikVerification(db.Model):  # type: ignore[name-defined]
    """One request to the population registry to match a person's typed data to a NIK (durable queue).

    UU PDP data minimisation: the typed birth place and mother's maiden name are kept encrypted only
    while the request waits (``payload_enc``, erased when it is answered or given up); afterwards the row
    holds the outcome, the names of the fields the registry matched, the time and the registry's request
    id, never the registry's data.
    """

    __tablename__ = "nik_verifications"
    __table_args__ = (Index("ix_nik_verifications_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    nik_hash: Mapped[str] = mapped_column(String(64), nullable=False, index=True)  # keyed_hash("nik", nik)
    # pending | matched | mismatch | failed (given up after the attempts)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    payload_enc: Mapped[str | None] = mapped_column(Text)  # crypto.encrypt(json, "registry.query")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    matched: Mapped[list[str] | None] = mapped_column(JSON)  # names of the fields the registry matched
    request_id: Mapped[str | None] = mapped_column(String(64))  # the registry's reference of the answer
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))


class Client(db.Model):  # type: ignore[name-defined]
    """A relying party. ``client_metadata`` holds the RFC 7591 metadata as registered."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    client_id_issued_at: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    client_secret_expires_at: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    client_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    first_party: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    require_pkce: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Sensitive scopes (``nik`` ...) an operator allowed for this client, space separated.
    approved_scopes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    registration_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                    onupdate=utcnow)
    # The developer portal: the team that manages the client (None: operator-managed only).
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    # Secret rotation with a grace period: the previous secret still authenticates until it expires.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Team(db.Model):  # type: ignore[name-defined]
    """A group of staff (an agency's developers) that manages applications together."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class TeamMember(db.Model):  # type: ignore[name-defined]
    """A person's membership of a team; ``owner`` members manage the team itself."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "person_id", name="uq_team_members_team_person"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="member")  # owner|member
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class RoleGrant(db.Model):  # type: ignore[name-defined]
    """A role an operator gave a person, besides the directory's group roles, until ``expires_at`` (None: no end).

    ``admin``: the bootstrap administrator of an installation without a directory (``idp admin grant``);
    ``portal``: a vendor's developer (not staff) may use the developer portal for the team ``team_id``.
    """

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("person_id", "role", "team_id", name="uq_role_grants_person_role_team"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    role: Mapped[str] = mapped_column(String(32), nullable=False)  # admin | portal
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    granted_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class ScopeRequest(db.Model):  # type: ignore[name-defined]
    """A team's request for a sensitive scope for one client, with its purpose (UU PDP purpose limitation).

    ``approved`` adds the scope to ``Client.approved_scopes``; the purpose is shown on the consent page.
    """

    __tablename__ = "scope_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    scope: Mapped[str] = mapped_column(String(64), nullable=False)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending", index=True)
    requested_by: Mapped[int | None] = mapped_column(Integer)  # person id
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(Integer)  # person id of the administrator
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)


class Consent(db.Model):  # type: ignore[name-defined]
    """Scopes a person granted to a client, remembered until revoked."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("person_id", "client_id", name="uq_consents_person_client"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=False)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    scopes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                    onupdate=utcnow)


class RefreshToken(db.Model):  # type: ignore[name-defined]
    """One refresh token of a rotation family, stored as a keyed hash."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    family_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    scope: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sid: Mapped[str | None] = mapped_column(String(64), index=True)
    auth_time: Mapped[int | None] = mapped_column(Integer)
    acr: Mapped[str | None] = mapped_column(String(128))
    amr: Mapped[list[str] | None] = mapped_column(JSON)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    rotated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(64))


class SigningKey(db.Model):  # type: ignore[name-defined]
    """A signing key pair; the private part is encrypted with ``IDP_DATA_KEYS``."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    alg: Mapped[str] = mapped_column(String(16), nullable=False)
    private_enc: Mapped[str] = mapped_column(Text, nullable=False)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")  # next|active|retired
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class InitialAccessToken(db.Model):  # type: ignore[name-defined]
    """A token that allows dynamic client registration (RFC 7591 section 3)."""

    __tablename__ = "initial_access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    note: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    max_uses: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    uses: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class AuditEvent(db.Model):  # type: ignore[name-defined]
    """Append-only record of security-relevant events; never a password, never a full NIK."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="success")
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class StaffAccount(db.Model):  # type: ignore[name-defined]
    """The latest directory (LDAP) attributes of a civil servant, refreshed at sign-in and by ``idp ldap sync``.

    ``entry_uuid`` is the directory's stable identifier (entryUUID / objectGUID), the same value as the
    ``IdentityLink.subject`` of source ``ldap``; the DN is only informative (entries move).
    """

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    entry_uuid: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    dn: Mapped[str] = mapped_column(Text, nullable=False)
    username: Mapped[str | None] = mapped_column(String(256))
    nip: Mapped[str | None] = mapped_column(String(18), index=True)
    nik_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # keyed_hash("nik", nik)
    nik_enc: Mapped[str | None] = mapped_column(Text)  # crypto.encrypt(nik, "staff.nik")
    unit: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    groups: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # active | disabled (in the directory) | deleted (entry gone); set at sign-in and by the sync
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # last sign-in
    last_synced_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow,
                                                    onupdate=utcnow)

    person: Mapped[Person] = relationship()


class LogoutNotice(db.Model):  # type: ignore[name-defined]
    """One Back-Channel Logout notice to send: one application, one ended session (durable queue).

    Rows stay ``pending`` until delivered, so a restart loses nothing; the logout token itself is made
    at each attempt (it lives two minutes) and never stored.
    """

    __tablename__ = "logout_notices"
    __table_args__ = (Index("ix_logout_notices_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)  # Client.client_id
    sid: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    sub: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending|delivered|failed
    last_error: Mapped[str | None] = mapped_column(String(200))


class WatchedSession(db.Model):  # type: ignore[name-defined]
    """A sign-in session whose applications must hear when it expires (Back-Channel Logout 2.5 / 2.7).

    The session itself lives in the store and simply disappears at its idle or absolute timeout; this
    row (written when an application with a ``backchannel_logout_uri`` joins the session, deleted when
    the session is ended on purpose) is how the provider notices an expiry and still tells them.
    """

    __tablename__ = "watched_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    sub: Mapped[str] = mapped_column(String(64), nullable=False)
    clients: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    absolute_exp: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)


class TotpCredential(db.Model):  # type: ignore[name-defined]
    """A person's TOTP authenticator (RFC 6238): the shared secret, encrypted at rest, and replay guard.

    A person may hold several: a linking merge keeps the authenticators of both sides, so that each
    human's own codes keep working (:mod:`idp.people.linking`).
    """

    __tablename__ = "totp_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    secret_enc: Mapped[str] = mapped_column(Text, nullable=False)  # crypto.encrypt(base32, "totp.secret")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_step: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # RFC 6238 5.2: no replay
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class RecoveryCode(db.Model):  # type: ignore[name-defined]
    """A one-time recovery code for a person who lost the authenticator; stored as a keyed hash only."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Passkey(db.Model):  # type: ignore[name-defined]
    """A person's WebAuthn credential (passkey): its id, COSE public key, sign counter and backup flags.

    ``user_handle`` is the random WebAuthn user id given to the authenticator (never the ``sub`` or the
    NIK); a discoverable credential returns it at a passwordless sign-in.  ``backup_eligible`` never
    changes after registration (WebAuthn Level 3 6.1.3: the BE flag is fixed); ``backed_up`` follows the
    authenticator.
    """

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True, nullable=False)  # base64url
    public_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # COSE_Key as registered
    user_handle: Mapped[str] = mapped_column(String(64), nullable=False)  # base64url of the WebAuthn user.id
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    sign_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    backup_eligible: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    backed_up: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
