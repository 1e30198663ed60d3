"""What the account pages (:mod:`idp.web.account`) do for the signed-in person, apart from showing it.

The data subject rights of UU PDP (Law 27/2022) that change or read more than one table: withdrawing
consent from an application, changing the password, downloading everything held about the person, and
deleting the account.  It sits in ``consoles`` (above ``oauth``) because withdrawing consent and erasure
revoke the person's token families (:mod:`idp.oauth.tokens`) and erasure hands team ownership over
(:mod:`idp.consoles.portal`).  Callers commit, except where a function says otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select

from idp import assurance, audit, passwords
from idp.consoles.portal import MEMBER, OWNER
from idp.extensions import db, state
from idp.models import (
    AuditEvent,
    CitizenAccount,
    Client,
    Consent,
    IdentityLink,
    NikVerification,
    Passkey,
    Person,
    RecoveryCode,
    RefreshToken,
    RoleGrant,
    StaffAccount,
    TeamMember,
    TotpCredential,
)
from idp.oauth import tokens
from idp.people import notices, roles, signout
from idp.people import session as login_session
from idp.sources import citizen

AUDIT_IN_DOWNLOAD = 50
MAX_ID = 2**31 - 1  # integer columns: a larger number is "not found", not a database error


def citizen_account(person_id: int) -> CitizenAccount | None:
    """The person's citizen account, or None."""
    return db.session.execute(
        select(CitizenAccount).where(CitizenAccount.person_id == person_id)).scalars().first()


def staff_account(person_id: int) -> StaffAccount | None:
    """The person's staff (directory) account, or None."""
    return db.session.execute(select(StaffAccount).where(StaffAccount.person_id == person_id)).scalars().first()


def client_names(client_ids: list[str]) -> dict[str, str]:
    """``{client_id: the name shown to people}`` of the given clients."""
    if not client_ids:
        return {}
    rows = db.session.execute(select(Client.client_id, Client.client_metadata)
                              .where(Client.client_id.in_(client_ids))).all()
    return {cid: str((meta or {}).get("client_name") or cid) for cid, meta in rows}


def when(epoch: int | None) -> dt.datetime | None:
    """A session's epoch seconds as a naive UTC datetime (None stays None)."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None) if epoch else None


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def consents(person_id: int) -> list[tuple[Consent, Client]]:
    """The applications the person allowed, oldest first."""
    return [(c, cl) for c, cl in db.session.execute(
        select(Consent, Client).join(Client, Client.id == Consent.client_id)
        .where(Consent.person_id == person_id).order_by(Consent.granted_at, Consent.id)).all()]


# --- withdrawing consent ------------------------------------------------------------------------------
def withdraw_consent(person: Person, consent_id: int) -> bool:
    """Withdraw consent (UU PDP): delete it and revoke that application's refresh token families.

    False when the consent is not the person's (or does not exist).  Commits.
    """
    consent = db.session.get(Consent, consent_id) if consent_id <= MAX_ID else None
    if consent is None or consent.person_id != person.id:
        return False
    client = db.session.get(Client, consent.client_id)
    revoked = tokens.revoke([RefreshToken.person_id == person.id, RefreshToken.client_id == consent.client_id],
                            "consent_revoked")
    db.session.delete(consent)
    audit.record("consent.revoked", person_id=person.id, client_id=client.client_id if client else None,
                 families=revoked)
    db.session.commit()
    return True


# --- password --------------------------------------------------------------------------------------------
def change_password(person: Person, account: CitizenAccount, new_password: str, *, keep_sid: str) -> int:
    """Set a citizen's new password and end every other session of the person (someone who knew the old
    password may be signed in elsewhere); returns how many ended.  Commits."""
    account.password_hash = passwords.hash(new_password)
    account.password_changed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ended = login_session.end_all(person.id, except_sid=keep_sid)
    signout.sessions_ended(ended, reason="password_changed")
    audit.record("password.changed", person_id=person.id, sessions_ended=len(ended))
    notices.notify(person, notices.PASSWORD)
    db.session.commit()
    return len(ended)


# --- download my data -----------------------------------------------------------------------------------
def export(person: Person) -> dict[str, Any]:
    """Everything the provider holds about ``person`` for the person (no hashes, no other people)."""
    account = citizen_account(person.id)
    staff_row = staff_account(person.id)
    crypto = state().crypto
    profile_data: dict[str, Any] = {
        "sub": person.sub, "name": person.name, "email": person.email, "email_verified": person.email_verified,
        "birthdate": _iso(person.birthdate), "gender": person.gender, "locale": person.locale,
        "created_at": _iso(person.created_at), "updated_at": _iso(person.updated_at),
    }
    data: dict[str, Any] = {"profile": profile_data}
    if account is not None:
        # The person's own NIK, in full: it is their data (UU PDP access right).
        data["citizen_account"] = {
            "nik": citizen.decrypt_nik(account), "full_name": account.full_name, "email": account.email,
            "email_verified_at": _iso(account.email_verified_at), "birthdate": _iso(account.birthdate),
            "gender": account.gender, "assurance": account.assurance, "created_at": _iso(account.created_at),
            "password_changed_at": _iso(account.password_changed_at),
            # How and when the NIK was proven (README "Proving a NIK"); the registry's answers hold only
            # the outcome, the matched fields, the time and its request id (data minimisation).
            "nik_verification": {
                "method": assurance.NIK_METHODS.get(account.assurance, "self-declared"),
                "verified_at": _iso(account.nik_verified_at),
                "registry_requests": [
                    {"status": r.status, "matched": list(r.matched or []), "requested_at": _iso(r.created_at),
                     "answered_at": _iso(r.completed_at), "request_id": r.request_id}
                    for r in db.session.execute(select(NikVerification).where(
                        NikVerification.person_id == person.id).order_by(NikVerification.id)).scalars()],
            },
        }
    if staff_row is not None:
        data["staff_account"] = {
            "username": staff_row.username, "dn": staff_row.dn, "nip": staff_row.nip,
            "nik": crypto.decrypt(staff_row.nik_enc, "staff.nik") if staff_row.nik_enc else None,
            "unit": staff_row.unit, "title": staff_row.title, "groups": list(staff_row.groups or []),
            "roles": list(staff_row.roles or []), "status": staff_row.status,
            "last_seen_at": _iso(staff_row.last_seen_at), "last_synced_at": _iso(staff_row.last_synced_at),
        }
    # The passkeys as the person sees them (no credential ids or public keys: they prove nothing to the reader).
    data["passkeys"] = [{"name": key.name, "added_at": _iso(key.created_at), "last_used_at": _iso(key.last_used_at),
                         "synced": key.backup_eligible}
                        for key in db.session.execute(select(Passkey).where(Passkey.person_id == person.id)
                                                      .order_by(Passkey.id)).scalars()]
    links = db.session.execute(select(IdentityLink).where(IdentityLink.person_id == person.id)
                               .order_by(IdentityLink.id)).scalars().all()
    data["linked_accounts"] = [{"source": link.source, "linked_at": _iso(link.created_at),
                                "last_sign_in": _iso(link.last_login_at)} for link in links]
    data["consents"] = [{"application": (client.client_metadata or {}).get("client_name") or client.client_id,
                         "client_id": client.client_id, "scopes": consent.scopes.split(),
                         "granted_at": _iso(consent.granted_at), "updated_at": _iso(consent.updated_at)}
                        for consent, client in consents(person.id)]
    live = login_session.sessions_of(person.id)
    names = client_names(sorted({c for s in live for c in s.clients}))
    data["sessions"] = [{"started": _iso(when(s.created)), "signed_in": _iso(when(s.auth_time)), "acr": s.acr,
                         "amr": list(s.amr), "source": s.source, "device": s.device, "ip": s.ip,
                         "applications": [names.get(c, c) for c in s.clients]}
                        for s in live]
    events = db.session.execute(select(AuditEvent).where(AuditEvent.person_id == person.id)
                                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                .limit(AUDIT_IN_DOWNLOAD)).scalars().all()
    data["recent_events"] = [{"at": _iso(e.at), "event": e.event, "outcome": e.outcome, "client_id": e.client_id,
                              "ip": e.ip, "user_agent": e.user_agent} for e in events]
    return data


# --- delete my account ------------------------------------------------------------------------------------
def delete_person(person: Person) -> int:
    """Remove everything personal of ``person`` and keep the row as ``deleted`` (the sub is never reused).

    The caller commits; the sessions end here (the store is not transactional, so the database work
    is flushed first: a failure there raises before any session ends).
    """
    db.session.execute(delete(Consent).where(Consent.person_id == person.id))
    db.session.execute(delete(IdentityLink).where(IdentityLink.person_id == person.id))
    db.session.execute(delete(CitizenAccount).where(CitizenAccount.person_id == person.id))
    db.session.execute(delete(StaffAccount).where(StaffAccount.person_id == person.id))
    # The authenticator's secret (encrypted) and the recovery codes are personal data too (UU PDP erasure).
    db.session.execute(delete(TotpCredential).where(TotpCredential.person_id == person.id))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.person_id == person.id))
    # The passkeys' credential ids and public keys identify the person's devices: erased too.
    db.session.execute(delete(Passkey).where(Passkey.person_id == person.id))
    db.session.execute(delete(RoleGrant).where(RoleGrant.person_id == person.id))
    db.session.execute(delete(NikVerification).where(NikVerification.person_id == person.id))
    _leave_teams(person.id)
    person.name = person.email = person.birthdate = person.gender = person.locale = person.phone_number = None
    person.email_verified = False
    person.status = "deleted"
    db.session.flush()
    ended = login_session.end_all(person.id)
    # keep_offline=False: a deleted person has no offline access either.
    signout.sessions_ended(ended, reason="account_deleted", keep_offline=False)
    # Every family the session ends did not reach (offline access, other devices); revoke_family also
    # marks the families' access tokens revoked.
    families = tokens.revoke([RefreshToken.person_id == person.id], "account_deleted")
    # The rows go too (the store's family marker refuses the access tokens; an unknown refresh token is
    # refused like a revoked one): no row of any table keeps pointing at the person but the person row.
    db.session.execute(delete(RefreshToken).where(RefreshToken.person_id == person.id))
    audit.record("account.deleted", person_id=person.id)
    return families


def _leave_teams(person_id: int) -> None:
    """Remove the person from every team; a team that loses its last owner gets its longest-standing
    active staff member as owner (a team always keeps one owner while it has such a member)."""
    memberships = db.session.execute(select(TeamMember).where(TeamMember.person_id == person_id)).scalars().all()
    for member in memberships:
        team_id, was_owner = member.team_id, member.role == OWNER
        db.session.delete(member)
        db.session.flush()
        if not was_owner or db.session.execute(select(TeamMember.id).where(
                TeamMember.team_id == team_id, TeamMember.role == OWNER)).first():
            continue
        for heir in db.session.execute(select(TeamMember).where(TeamMember.team_id == team_id,
                                                                TeamMember.role == MEMBER)
                                       .order_by(TeamMember.created_at, TeamMember.id)).scalars():
            if roles.is_staff(heir.person_id):
                heir.role = OWNER
                audit.record("portal.ownership_handed_over", person_id=person_id, team=team_id,
                             member=heir.person_id, reason="account_deleted")
                break
