"""Person resolution: the (source, upstream subject) a connector proved -> one :class:`Person`.

Every credential of every source is an :class:`IdentityLink` to exactly one person.  The person's
``sub`` is random and opaque (never the NIK, never a directory name), so it stays the same when
upstream attributes change.  Callers commit: resolution joins the request's one transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from idp.extensions import db
from idp.models import CitizenAccount, IdentityLink, Person, utcnow
from idp.people import session as login_session
from idp.sources.base import Identity

# Profile attributes copied from the identity source on every sign-in (claims material).
PROFILE_FIELDS = ("name", "email", "email_verified", "birthdate", "gender", "locale")


def new_sub() -> str:
    """A random opaque subject identifier (OIDC Core 8: locally unique, never reassigned)."""
    return secrets.token_urlsafe(32)


def link_for(source: str, subject: str) -> IdentityLink | None:
    """The link of one upstream credential, or None; its person comes in the same statement (every
    sign-in reads it next: one round trip instead of two, bench/FINDINGS.md)."""
    return db.session.execute(
        select(IdentityLink).where(IdentityLink.source == source, IdentityLink.subject == subject)
        .options(joinedload(IdentityLink.person))
    ).scalar_one_or_none()


def create_person(identity: Identity) -> Person:
    """A new person with a random ``sub``, linked to ``identity`` (added to the session, flushed)."""
    person = Person(sub=new_sub(), status="active")
    apply_profile(person, identity.attributes)
    db.session.add(person)
    db.session.flush()
    db.session.add(IdentityLink(person_id=person.id, source=identity.source, subject=identity.subject))
    db.session.flush()
    return person


def person_for(identity: Identity) -> Person:
    """The person behind ``identity``, created on first sign-in; profile attributes are refreshed."""
    link = link_for(identity.source, identity.subject)
    if link is None and identity.source == "citizen":
        link = _link_citizen_account(identity)
    if link is None:
        person = create_person(identity)
        link = link_for(identity.source, identity.subject)
    else:
        person = link.person
        if identity.source == "citizen" or not _has_citizen_account(person.id):
            # A linked person's profile comes from the citizen account, which the person maintains;
            # a staff sign-in does not overwrite it (the directory's data are in the staff claims).
            apply_profile(person, identity.attributes)
    if link is not None:
        link.last_login_at = utcnow()
    db.session.flush()
    return person


def _has_citizen_account(person_id: int) -> bool:

    return db.session.execute(
        select(CitizenAccount.id).where(CitizenAccount.person_id == person_id)
    ).first() is not None


def _link_citizen_account(identity: Identity) -> IdentityLink | None:
    """A citizen account always belongs to a person already (made at registration): link to it."""

    account = db.session.execute(
        select(CitizenAccount).where(CitizenAccount.public_id == identity.subject)
    ).scalar_one_or_none()
    if account is None:
        return None
    link = IdentityLink(person_id=account.person_id, source=identity.source, subject=identity.subject)
    db.session.add(link)
    db.session.flush()
    return link


def apply_profile(person: Person, attributes: dict[str, Any]) -> None:
    """Copy the known profile attributes present in ``attributes`` onto ``person``."""
    for name in PROFILE_FIELDS:
        if name not in attributes:
            continue
        value = attributes[name]
        if name == "birthdate" and isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                value = None
        if name == "email_verified":
            value = bool(value)
        if getattr(person, name) != value:
            setattr(person, name, value)


def signed_in() -> tuple[Any, Person] | None:
    """This request's sign-in session and its (active) person, or None: the account pages' guard."""

    current = login_session.current()
    if current is None:
        return None
    person = db.session.get(Person, current.person_id)
    if person is None or person.status != "active":
        return None
    return current, person
