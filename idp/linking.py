"""Linking the credentials of one human (citizen NIK account, staff directory account) into one person.

A link is made only when BOTH credentials were proved in the same browser session: the person is
signed in with one and proves the other here (a password check by its connector).  Matching e-mail
addresses or names never link anything.

Merge policy (when both credentials already belong to different people, each with its own ``sub``):

- the survivor is the person created first (ties: the lower id); its ``sub`` stays;
- the other person is *retired*: status ``merged``, personal data cleared, its ``sub`` never reused and
  never given out again; its credentials, citizen and staff records move to the survivor;
- consents move to the survivor (scopes united where both had one for the same application);
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

from sqlalchemy import select

from . import audit
from .connectors.base import Identity
from .extensions import db
from .identity import link_for, new_sub
from .models import CitizenAccount, Consent, IdentityLink, Person, RefreshToken, StaffAccount

log = logging.getLogger(__name__)

SOURCES = ("citizen", "ldap")


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
    return LinkResult(survivor=survivor, retired=retired)


def _attach(person: Person, proved: Identity) -> None:
    """A credential nobody holds yet (a directory entry's first use): link it to ``person``."""
    if proved.source == "ldap":
        from . import staff

        staff.provision(proved, person=person)
        return
    db.session.add(IdentityLink(person_id=person.id, source=proved.source, subject=proved.subject))
    db.session.flush()


def _merge(survivor: Person, retired: Person) -> None:
    from .oauth import tokens

    for link_row in db.session.execute(select(IdentityLink).where(IdentityLink.person_id == retired.id)).scalars():
        link_row.person_id = survivor.id
    for account in db.session.execute(select(CitizenAccount).where(CitizenAccount.person_id == retired.id)).scalars():
        account.person_id = survivor.id
    for staff_row in db.session.execute(select(StaffAccount).where(StaffAccount.person_id == retired.id)).scalars():
        staff_row.person_id = survivor.id
    kept = {c.client_id: c for c in db.session.execute(
        select(Consent).where(Consent.person_id == survivor.id)).scalars()}
    for consent in db.session.execute(select(Consent).where(Consent.person_id == retired.id)).scalars().all():
        if consent.client_id in kept:
            both = set(kept[consent.client_id].scopes.split()) | set(consent.scopes.split())
            kept[consent.client_id].scopes = " ".join(sorted(both))
            db.session.delete(consent)
        else:
            consent.person_id = survivor.id
    families = db.session.execute(
        select(RefreshToken.family_id).where(RefreshToken.person_id == retired.id,
                                             RefreshToken.revoked_at.is_(None)).distinct()
    ).scalars().all()
    for family in families:
        tokens.revoke_family(family, "merged")
    for name in ("name", "email", "birthdate", "gender", "locale"):
        if getattr(survivor, name) in (None, "") and getattr(retired, name) not in (None, ""):
            setattr(survivor, name, getattr(retired, name))
        setattr(retired, name, None)
    if retired.email_verified and not survivor.email_verified and survivor.email:
        survivor.email_verified = True
    retired.email_verified = False
    retired.status = "merged"
    db.session.flush()


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


def citizen_link_offered(person: Person) -> bool:
    """True when the person's directory entry carries a NIK whose citizen account belongs to someone else.

    Only a hint to offer linking after a staff sign-in: the link itself still needs the citizen
    account's password.  (The NIK is compared by keyed hash; it is never shown.)
    """
    if "citizen" in sources_of(person.id):
        return False
    nik_hashes = [h for h in db.session.execute(
        select(StaffAccount.nik_hash).where(StaffAccount.person_id == person.id)).scalars() if h]
    if not nik_hashes:
        return False
    found = db.session.execute(
        select(CitizenAccount.person_id).where(CitizenAccount.nik_hash.in_(nik_hashes))
    ).scalars().first()
    return found is not None and found != person.id
