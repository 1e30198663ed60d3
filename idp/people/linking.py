"""Linking the credentials of one human (citizen NIK account, staff directory account) into one person.

A link is made only when BOTH credentials were proved in the same browser session: the person is
signed in with one and proves the other here with a *full sign-in* of that account: its password, and its
second factor when its person has an authenticator (:func:`proof_needed`).  An account whose roles require
a second factor (``IDP_MFA_REQUIRED_ROLES``, e.g. ``admin``) but that has no authenticator of its own yet
cannot be linked until its owner signs in with it directly and sets one up: otherwise a password alone,
plus the attacker's own authenticator, would reach the administrator's roles.  After the link, the
session's assurance is the weakest of what was proved for each credential (:func:`idp.assurance.linked`).
Matching e-mail addresses or names never link anything.

Merge policy (when both credentials already belong to different people, each with its own ``sub``):

- the survivor is the person created first (ties: the lower id); its ``sub`` stays;
- the other person is *retired*: status ``merged``, personal data cleared, its ``sub`` never reused and
  never given out again; its credentials, citizen and staff records move to the survivor;
- every row that belongs to a person moves to the survivor (:data:`PERSON_TABLES` says what happens to
  each person-owned table; a test derives the list from the models so that a new table cannot be
  forgotten): both sides' authenticators and recovery codes are kept, so each human's own codes keep
  working; consents and team memberships are united;
- the retired person's refresh tokens are revoked and all its sign-in sessions end, which sends a
  Back-Channel Logout notice with the retired ``sub`` to every application that had a session: an
  application that stored the retired ``sub`` learns that it ended, and the next sign-in gives it the
  survivor's ``sub`` (an audit event ``person.merged`` names both);
- a ``sub`` therefore never changes silently for an application.

Callers commit (one transaction: a failure half-way changes nothing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select, update

from idp import assurance, audit, events
from idp.extensions import db
from idp.models import CitizenAccount, Consent, IdentityLink, Person, RoleGrant, StaffAccount, TeamMember
from idp.people import mfa, roles, signout, staff
from idp.people import session as login_session
from idp.people.identity import link_for, new_sub
from idp.sources import nip
from idp.sources.base import Identity

log = logging.getLogger(__name__)

SOURCES = ("citizen", "ldap")

# What a merge does with the retired person's rows, per table with a person column.  "move": the rows
# go to the survivor as they are; "unite": joined with the survivor's own (consents: scopes united;
# team memberships: the stronger role); "revoke": the retired person's refresh tokens are revoked and
# stay as its history; "keep": rows that record the past (audit events) or that the caller ends with the
# retired person's sessions (watched sessions).  tests/attacks/test_linking_takeover.py derives every
# table with a person column from the models and fails on one that is not listed here.
MOVE, UNITE, REVOKE, KEEP = "move", "unite", "revoke", "keep"
PERSON_TABLES: dict[str, str] = {
    "identity_links": MOVE, "citizen_accounts": MOVE, "staff_accounts": MOVE,
    "totp_credentials": MOVE, "recovery_codes": MOVE, "passkeys": MOVE, "nik_verifications": MOVE,
    "consents": UNITE, "team_members": UNITE, "role_grants": UNITE,
    "refresh_tokens": REVOKE,
    "watched_sessions": KEEP, "audit_events": KEEP,
}
CODE, UNAVAILABLE = "code", "unavailable"


class LinkRefused(Exception):
    """The link cannot be made; ``reason`` is ``already`` | ``source_taken`` | ``inactive`` | ``last``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class LinkResult:
    """The person who holds both credentials now, and the retired person of a merge (or None)."""

    survivor: Person
    retired: Person | None = None


def owner_of(identity: Identity) -> Person | None:
    """The person a proved credential belongs to today, or None (a directory entry never used here)."""
    link = link_for(identity.source, identity.subject)
    if link is not None:
        return link.person
    if identity.source == "citizen":  # a citizen account has its person from registration on
        account = db.session.execute(
            select(CitizenAccount).where(CitizenAccount.public_id == identity.subject)
        ).scalar_one_or_none()
        return db.session.get(Person, account.person_id) if account is not None else None
    return None


def sources_of(person_id: int) -> set[str]:
    """The identity sources a person has a credential of."""
    found = set(db.session.execute(
        select(IdentityLink.source).where(IdentityLink.person_id == person_id)
    ).scalars())
    if db.session.execute(select(CitizenAccount.id).where(CitizenAccount.person_id == person_id)).first():
        found.add("citizen")
    if db.session.execute(select(StaffAccount.id).where(StaffAccount.person_id == person_id)).first():
        found.add("ldap")
    return found


def proof_needed(proved: Identity, owner: Person | None) -> str | None:
    """What linking ``proved`` needs beyond the password just checked, so that the proof is a full sign-in.

    ``"code"``: the account's person has an authenticator, so a current code (or a recovery code) of
    theirs is needed; ``"unavailable"``: a role of the account requires a second factor but it has no
    authenticator yet (it must sign in directly and set one up first); None: the password was enough.
    """
    if owner is not None and mfa.has_second_factor(owner.id):
        return CODE
    reported = set(proved.attributes.get("roles") or []) if proved.source == "ldap" else set()
    if roles.second_factor_required(owner.id if owner is not None else None, reported):
        return UNAVAILABLE
    return None


def complete(current: Any, person: Person, proved: Identity) -> LinkResult:
    """Link ``proved`` (fully proved in this session) to the signed-in ``person`` and update the session.

    The session's ``acr``/``amr`` become the weakest of both proofs (:func:`idp.assurance.linked`); when
    this browser's person was the one retired by a merge, a session of the survivor replaces it.  Commits;
    on :class:`LinkRefused` rolls back, records ``link.refused`` and raises.
    """
    try:
        result = link(person, proved)
    except LinkRefused as exc:
        db.session.rollback()
        audit.record("link.refused", outcome="failure", person_id=person.id, source=proved.source,
                     reason=exc.reason, commit=True)
        raise
    survivor = result.survivor
    acr, amr = assurance.linked((current.acr, list(current.amr)), (proved.acr, list(proved.amr)))
    if result.retired is not None:
        ended = login_session.end_all(result.retired.id)  # includes this browser when it was the retired one
        signout.sessions_ended(ended, reason="merged", keep_offline=False)
    if current.person_id != survivor.id:  # this browser's identity was the retired one
        login_session.begin(person_id=survivor.id, sub=survivor.sub, acr=acr, amr=amr, source=current.source)
    else:
        current.acr, current.amr = acr, amr
        login_session.save(current)
    db.session.commit()
    return result


def link(current: Person, proved: Identity) -> LinkResult:
    """Give ``current`` the credential ``proved`` (just checked in this session); merge when needed."""
    if current.status != "active":
        raise LinkRefused("inactive")
    other = owner_of(proved)
    if other is not None and other.id == current.id:
        raise LinkRefused("already")
    mine = sources_of(current.id)
    if proved.source in mine:
        raise LinkRefused("source_taken")  # one NIK account and one directory account per person
    if other is None:
        _attach(current, proved)
        audit.record("link", person_id=current.id, source=proved.source)
        _audit_mismatch(current, proved.source)
        return LinkResult(survivor=current)
    if other.status != "active":
        raise LinkRefused("inactive")
    if mine & sources_of(other.id):
        raise LinkRefused("source_taken")
    survivor, retired = sorted((current, other), key=lambda p: (p.created_at, p.id))
    _merge(survivor, retired)
    for person in (survivor, retired):
        audit.record("person.merged", person_id=person.id, survivor=survivor.id, retired=retired.id,
                     source=proved.source)
    _audit_mismatch(survivor, proved.source)
    return LinkResult(survivor=survivor, retired=retired)


def _audit_mismatch(person: Person, source: str) -> None:
    """Both credentials were proved, so the link stands; but when the directory's NIP (or NIK) contradicts
    the citizen account, an administrator should know (a typo in either source, or a borrowed account)."""
    mismatched = data_mismatches(person.id)
    if mismatched:
        audit.record("link.data_mismatch", outcome="warning", person_id=person.id, source=source,
                     fields=mismatched)


def _attach(person: Person, proved: Identity) -> None:
    """A credential nobody holds yet (a directory entry's first use): link it to ``person``."""
    if proved.source == "ldap":
        staff.provision(proved, person=person)
        return
    db.session.add(IdentityLink(person_id=person.id, source=proved.source, subject=proved.subject))
    db.session.flush()


def _merge(survivor: Person, retired: Person) -> None:
    db.session.flush()  # nothing pending may be lost by the expire_all() below
    tables = db.metadata.tables
    for name, action in PERSON_TABLES.items():
        if action == MOVE:
            table = tables[name]
            db.session.execute(update(table).where(table.c.person_id == retired.id).values(person_id=survivor.id))
    db.session.expire_all()  # the bulk updates above bypassed the identity map
    _unite_teams(survivor, retired)
    _unite_grants(survivor, retired)
    kept = {c.client_id: c for c in db.session.execute(
        select(Consent).where(Consent.person_id == survivor.id)).scalars()}
    for consent in db.session.execute(select(Consent).where(Consent.person_id == retired.id)).scalars().all():
        if consent.client_id in kept:
            both = set(kept[consent.client_id].scopes.split()) | set(consent.scopes.split())
            kept[consent.client_id].scopes = " ".join(sorted(both))
            db.session.delete(consent)
        else:
            consent.person_id = survivor.id
    # Every token of the retired person goes (idp.oauth.tokens handles the event in this transaction).
    events.emit(events.PERSON_TOKENS_REVOKED, person_id=retired.id, reason="merged")
    # The verified mobile number is unique: freed on the retired person first, then kept if the survivor has none.
    number, retired.phone_number = retired.phone_number, None
    db.session.flush()
    if number and not survivor.phone_number:
        survivor.phone_number = number
    for name in ("name", "email", "birthdate", "gender", "locale"):
        if getattr(survivor, name) in (None, "") and getattr(retired, name) not in (None, ""):
            setattr(survivor, name, getattr(retired, name))
        setattr(retired, name, None)
    if retired.email_verified and not survivor.email_verified and survivor.email:
        survivor.email_verified = True
    retired.email_verified = False
    retired.status = "merged"
    db.session.flush()


def _unite_teams(survivor: Person, retired: Person) -> None:
    """Team memberships go to the survivor; where both were in one team, the stronger role stays."""
    mine = {m.team_id: m for m in db.session.execute(
        select(TeamMember).where(TeamMember.person_id == survivor.id)).scalars()}
    for member in db.session.execute(select(TeamMember).where(TeamMember.person_id == retired.id)).scalars().all():
        if member.team_id in mine:
            if member.role == "owner":
                mine[member.team_id].role = "owner"
            db.session.delete(member)
        else:
            member.person_id = survivor.id


def _unite_grants(survivor: Person, retired: Person) -> None:
    """Operators' role grants go to the survivor; where both held one, the longer lasting stays."""
    mine = {(g.role, g.team_id): g for g in db.session.execute(
        select(RoleGrant).where(RoleGrant.person_id == survivor.id)).scalars()}
    for grant in db.session.execute(select(RoleGrant).where(RoleGrant.person_id == retired.id)).scalars().all():
        kept = mine.get((grant.role, grant.team_id))
        if kept is None:
            grant.person_id = survivor.id
            continue
        if kept.expires_at is not None and (grant.expires_at is None or grant.expires_at > kept.expires_at):
            kept.expires_at = grant.expires_at
        db.session.delete(grant)


def unlink(person: Person, link_id: int) -> Person:
    """Detach one credential from ``person`` into a new person of its own (a new ``sub``).

    The last credential cannot be removed (the person could never sign in again).
    """
    row = db.session.get(IdentityLink, link_id)
    if row is None or row.person_id != person.id:
        raise LinkRefused("unknown")
    links = db.session.execute(select(IdentityLink).where(IdentityLink.person_id == person.id)).scalars().all()
    if len(links) < 2:
        raise LinkRefused("last")
    fresh = Person(sub=new_sub(), status="active")
    db.session.add(fresh)
    db.session.flush()
    row.person_id = fresh.id
    if row.source == "citizen":
        account = db.session.execute(
            select(CitizenAccount).where(CitizenAccount.public_id == row.subject)).scalar_one_or_none()
        if account is not None:
            account.person_id = fresh.id
            fresh.name, fresh.email, fresh.email_verified = account.full_name, account.email, True
            fresh.birthdate = account.birthdate
    elif row.source == "ldap":
        staff_row = db.session.execute(
            select(StaffAccount).where(StaffAccount.entry_uuid == row.subject)).scalar_one_or_none()
        if staff_row is not None:
            staff_row.person_id = fresh.id
    for who in (person, fresh):
        audit.record("unlink", person_id=who.id, source=row.source, survivor=person.id, detached=fresh.id)
    db.session.flush()
    return fresh


def _citizen_unlinked_to_staff() -> Any:
    """Citizen accounts (active, of an active person) whose person has no staff account: link candidates."""
    staff_people = select(StaffAccount.person_id)
    ldap_people = select(IdentityLink.person_id).where(IdentityLink.source == "ldap")
    return (select(CitizenAccount.person_id).join(Person, Person.id == CitizenAccount.person_id)
            .where(CitizenAccount.status == "active", Person.status == "active",
                   CitizenAccount.person_id.not_in(staff_people), CitizenAccount.person_id.not_in(ldap_people)))


def citizen_link_offered(person_id: int) -> bool:
    """True when a staff person may also have a citizen account here: offer the link after sign-in.

    Two hints, both only ever a reason to *ask* (the link itself still needs the citizen account's
    NIK and password, proved in this session; nothing is linked on matching data):

    - the directory entry carries a NIK (compared by keyed hash, never shown) that has a citizen
      account not yet linked to a staff account;
    - the entry carries no NIK, but its NIP (:mod:`idp.sources.nip`: birth date YYYYMMDD and sex digit)
      agrees on birth date and sex with at least one such citizen account (whose birth date and sex
      were taken from its NIK at registration: day + 40 for women).

    The page shows the same words for both ("you may also have a citizen account"): which hint
    matched, and which account, is never told.
    """
    # One statement for "already has a citizen credential" (what sources_of would tell in three): this
    # runs at every staff sign-in (bench/FINDINGS.md, issue 20).
    if db.session.execute(select(
            exists().where(CitizenAccount.person_id == person_id)
            | exists().where(IdentityLink.person_id == person_id, IdentityLink.source == "citizen"))).scalar():
        return False
    rows = db.session.execute(
        select(StaffAccount.nik_hash, StaffAccount.nip).where(StaffAccount.person_id == person_id)).all()
    candidates = _citizen_unlinked_to_staff().where(CitizenAccount.person_id != person_id)
    nik_hashes = [nik_hash for nik_hash, _ in rows if nik_hash]
    if nik_hashes:  # the directory's NIK is the stronger hint: when it names no account, the NIP is not tried
        query = candidates.where(CitizenAccount.nik_hash.in_(nik_hashes))
        return db.session.execute(query.limit(1)).first() is not None
    for _, raw in rows:
        parsed = nip.parse(raw) if raw else None
        if isinstance(parsed, nip.Nip):
            query = candidates.where(CitizenAccount.birthdate == parsed.birthdate,
                                     CitizenAccount.gender == parsed.sex)
            if db.session.execute(query.limit(1)).first() is not None:
                return True
    return False


def data_mismatches(person_id: int) -> list[str]:
    """What a linked person's staff record and citizen account disagree on: ``birthdate``, ``gender``
    (the NIP's digits against the citizen account's) and ``nik`` (the directory's NIK against the
    account's).  Never the values themselves."""
    found: set[str] = set()
    accounts = db.session.execute(select(CitizenAccount).where(CitizenAccount.person_id == person_id)).scalars().all()
    staff_rows = db.session.execute(select(StaffAccount).where(StaffAccount.person_id == person_id)).scalars().all()
    for account in accounts:
        for row in staff_rows:
            parsed = nip.parse(row.nip) if row.nip else None
            if isinstance(parsed, nip.Nip):
                if parsed.birthdate != account.birthdate:
                    found.add("birthdate")
                if parsed.sex != account.gender:
                    found.add("gender")
            if row.nik_hash and row.nik_hash != account.nik_hash:
                found.add("nik")
    return sorted(found)
