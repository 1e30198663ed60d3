"""Roles an operator grants besides the directory's: the bootstrap administrator and vendors' portal access.

``admin`` (``idp admin grant``) makes the first administrator of an installation without a directory:
the person signs in with a citizen account, and because ``admin`` is in ``IDP_MFA_REQUIRED_ROLES`` the
sign-in asks for (and at first use sets up) the second factor, like for a directory administrator
(:func:`idp.people.roles.second_factor_required`).

``portal`` lets a person who is not staff (a contracted vendor's developer) use the developer portal
for one team until the grant expires: the grant adds them to the team as a member; the team's owners
see the grant with its expiry and may revoke it; when it expires the membership goes with it
(:func:`idp.people.roles.expire_portal_grants`).  Operators grant from the console or the CLI
(``idp portal grant``).  Every grant and revocation is audited (``role.granted``, ``role.revoked``);
callers commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select

from idp import audit
from idp.extensions import db
from idp.models import CitizenAccount, Person, RoleGrant, Team, TeamMember, utcnow
from idp.people import roles

MAX_PORTAL_DAYS = 366
DEFAULT_PORTAL_DAYS = 90


class GrantError(Exception):
    """A grant the rules refuse; ``message`` is shown to the operator or the owner."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class Grant:
    """A grant as the pages show it."""

    id: int
    person: Person
    role: str
    team: Team | None
    expires_at: dt.datetime | None
    granted_by: str | None


def find_person(who: str) -> Person:
    """The one active person with this e-mail address (account or profile) or ``sub``; GrantError otherwise."""
    value = (who or "").strip()
    if not value or len(value) > 254 or not value.isprintable():
        raise GrantError(_l("Give the person's e-mail address or subject identifier."))
    lowered = value.lower()
    ids = set(db.session.execute(select(CitizenAccount.person_id).where(
        CitizenAccount.email == lowered)).scalars())
    ids |= set(db.session.execute(select(Person.id).where(
        (func.lower(Person.email) == lowered) | (Person.sub == value))).scalars())
    people = [p for p in (db.session.get(Person, i) for i in sorted(ids)) if p is not None and p.status == "active"]
    if len(people) != 1:
        raise GrantError(_l("No single active person has this e-mail address or subject identifier. "
                            "The person must register (or sign in) once first."))
    return people[0]


def find_team(name: str) -> Team:
    team = db.session.execute(select(Team).where(func.lower(Team.name) == " ".join((name or "").split()).lower())
                              ).scalars().first()
    if team is None:
        raise GrantError(_l("There is no team with this name."))
    return team


def _grant(person: Person, role: str, team: Team | None) -> RoleGrant | None:
    return db.session.execute(select(RoleGrant).where(
        RoleGrant.person_id == person.id, RoleGrant.role == role,
        RoleGrant.team_id.is_(None) if team is None else RoleGrant.team_id == team.id)).scalars().first()


def grant_admin(person: Person, *, by: str, admin_id: int | None = None,
                expires_at: dt.datetime | None = None) -> RoleGrant:
    """Make ``person`` an administrator (``by``: who did it, for the audit log)."""
    grant = _grant(person, roles.ADMIN, None)
    if grant is None:
        grant = RoleGrant(person_id=person.id, role=roles.ADMIN)
        db.session.add(grant)
    grant.expires_at, grant.granted_by = expires_at, by[:200]
    db.session.flush()
    audit.record("role.granted", person_id=admin_id, role=roles.ADMIN, subject=person.id, by=by[:200],
                 expires_at=expires_at.isoformat() if expires_at else None)
    return grant


def revoke_admin(person: Person, *, by: str, admin_id: int | None = None) -> bool:
    """Withdraw the granted ``admin`` role (a directory group's role stays the directory's business)."""
    grant = _grant(person, roles.ADMIN, None)
    if grant is None:
        return False
    db.session.delete(grant)
    audit.record("role.revoked", person_id=admin_id, role=roles.ADMIN, subject=person.id, by=by[:200])
    return True


def portal_expiry(days: Any) -> dt.datetime:
    """The expiry ``days`` from now: a whole number from 1 to MAX_PORTAL_DAYS."""
    try:
        value = int(str(days).strip())
    except ValueError:
        raise GrantError(_l("The access must end after 1 to 366 days.")) from None
    if not 1 <= value <= MAX_PORTAL_DAYS:
        raise GrantError(_l("The access must end after 1 to 366 days."))
    return utcnow() + dt.timedelta(days=value)


def grant_portal(person: Person, team: Team, expires_at: dt.datetime, *, by: str,
                 admin_id: int | None = None) -> RoleGrant:
    """Let ``person`` use the portal as a member of ``team`` until ``expires_at`` (renewed when granted again)."""
    grant = _grant(person, roles.PORTAL, team)
    if grant is None:
        grant = RoleGrant(person_id=person.id, role=roles.PORTAL, team_id=team.id)
        db.session.add(grant)
    grant.expires_at, grant.granted_by = expires_at, by[:200]
    if db.session.execute(select(TeamMember.id).where(TeamMember.team_id == team.id,
                                                      TeamMember.person_id == person.id)).first() is None:
        db.session.add(TeamMember(team_id=team.id, person_id=person.id, role="member"))
    db.session.flush()
    audit.record("role.granted", person_id=admin_id, role=roles.PORTAL, subject=person.id, team=team.id,
                 by=by[:200], expires_at=expires_at.isoformat())
    return grant


def revoke_portal(grant: RoleGrant, *, by: str, actor_id: int | None = None) -> None:
    """End a portal grant now; a person who is not staff leaves the team with it."""
    if grant.team_id is not None and not roles.is_staff(grant.person_id):
        db.session.execute(delete(TeamMember).where(TeamMember.person_id == grant.person_id,
                                                    TeamMember.team_id == grant.team_id))
    audit.record("role.revoked", person_id=actor_id, role=roles.PORTAL, subject=grant.person_id,
                 team=grant.team_id, by=by[:200])
    db.session.delete(grant)


def portal_grant(grant_id: int, team_id: int) -> RoleGrant | None:
    """The team's portal grant ``grant_id``, or None."""
    grant = db.session.get(RoleGrant, grant_id)
    if grant is None or grant.role != roles.PORTAL or grant.team_id != team_id:
        return None
    return grant


def grants(*, team_id: int | None = None, role: str | None = None, person_id: int | None = None) -> list[Grant]:
    """Current grants (expired ones excluded), optionally of one team, role or person, newest first."""
    query = (select(RoleGrant, Person, Team).join(Person, Person.id == RoleGrant.person_id)
             .outerjoin(Team, Team.id == RoleGrant.team_id)
             .where((RoleGrant.expires_at.is_(None)) | (RoleGrant.expires_at > utcnow())))
    if team_id is not None:
        query = query.where(RoleGrant.team_id == team_id)
    if role is not None:
        query = query.where(RoleGrant.role == role)
    if person_id is not None:
        query = query.where(RoleGrant.person_id == person_id)
    rows = db.session.execute(query.order_by(RoleGrant.created_at.desc(), RoleGrant.id.desc())).all()
    return [Grant(id=g.id, person=p, role=g.role, team=t, expires_at=g.expires_at, granted_by=g.granted_by)
            for g, p, t in rows]
