"""Who may use the developer portal and the administration console.

Both are for staff: a person with an active staff (directory) account.  Administrators are staff whose
directory groups map to the ``admin`` role (``IDP_LDAP_GROUP_ROLES``), or people an operator granted
the role (:class:`~idp.models.RoleGrant`, ``idp admin grant``: the first administrator of an installation
without a directory).  A person who is not staff (a vendor's developer) may use the portal while an
operator's ``portal`` grant for one of the teams lasts (:func:`may_use_portal`).  The console also requires that
the current session used a second factor (``acr`` MFA), since ``admin`` is in ``IDP_MFA_REQUIRED_ROLES``
by default; that rule holds whichever credential the person signed in with
(:func:`second_factor_required`).  Roles are read from the staff record that the last sign-in or
``idp ldap sync`` refreshed.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, exists, or_, select

from idp import audit
from idp.extensions import db, state
from idp.models import RoleGrant, StaffAccount, TeamMember, utcnow
from idp.people import mfa

ADMIN = "admin"
PORTAL = "portal"
GRANTABLE = (ADMIN, PORTAL)


def _active_staff(person_id: int) -> tuple[ColumnElement[bool], ...]:
    """The conditions of the person's active staff accounts."""
    return StaffAccount.person_id == person_id, StaffAccount.status == "active"


def _current_grants(person_id: int) -> tuple[ColumnElement[bool], ...]:
    """The conditions of the person's grants that have not expired."""
    return RoleGrant.person_id == person_id, or_(RoleGrant.expires_at.is_(None), RoleGrant.expires_at > utcnow())


def staff_account(person_id: int) -> StaffAccount | None:
    """The person's active staff account, or None (citizens only, or disabled in the directory)."""
    return db.session.execute(select(StaffAccount).where(*_active_staff(person_id))).scalars().first()


def is_staff(person_id: int) -> bool:
    return staff_account(person_id) is not None


def granted_roles(person_id: int) -> set[str]:
    """The roles operators granted the person that have not expired (:class:`~idp.models.RoleGrant`)."""
    return set(db.session.execute(select(RoleGrant.role).where(*_current_grants(person_id))).scalars())


def has_role(person_id: int, role: str) -> bool:
    account = staff_account(person_id)
    return (account is not None and role in (account.roles or [])) or role in granted_roles(person_id)


def may_use_portal(person_id: int) -> bool:
    """Staff, or a person with a current ``portal`` grant (a vendor's developer).

    Expired grants are removed here with the team memberships they gave (audited), so a vendor whose
    access ran out for one team keeps only the teams still granted.
    """
    expire_portal_grants(person_id)
    return is_staff(person_id) or PORTAL in granted_roles(person_id)


def expire_portal_grants(person_id: int) -> None:
    """Remove the person's expired ``portal`` grants and, for a person who is not staff, the team
    memberships they gave; committed when anything changed."""
    expired = db.session.execute(select(RoleGrant).where(
        RoleGrant.person_id == person_id, RoleGrant.role == PORTAL, RoleGrant.expires_at.is_not(None),
        RoleGrant.expires_at <= utcnow())).scalars().all()
    if not expired:
        return
    staff = is_staff(person_id)
    for grant in expired:
        if not staff and grant.team_id is not None:
            db.session.execute(delete(TeamMember).where(TeamMember.person_id == person_id,
                                                        TeamMember.team_id == grant.team_id))
        db.session.delete(grant)
        audit.record("portal.access_expired", person_id=person_id, team=grant.team_id)
    db.session.commit()


def is_admin(person_id: int) -> bool:
    return has_role(person_id, ADMIN)


def roles_of(person_id: int) -> set[str]:
    """Every role of the person's active staff accounts and current grants, whichever credential the
    current sign-in used."""
    return staff_roles(person_id) | granted_roles(person_id)


def staff_roles(person_id: int) -> set[str]:
    """The roles the directory gave the person's active staff accounts."""
    rows = db.session.execute(select(StaffAccount.roles).where(*_active_staff(person_id))).scalars()
    return {role for roles in rows for role in (roles or [])}


def sign_in_facts(person_id: int) -> tuple[bool, bool]:
    """``(has a second factor, holds a role that requires one)`` in one round trip, for every sign-in.

    The same answers as :func:`idp.people.mfa.has_second_factor` and :func:`second_factor_required`,
    which took four statements (an authenticator, a passkey, the staff roles, the grants); the sign-in
    asks both on every password (bench/FINDINGS.md, issue 20).  A grant is matched against the required
    roles in SQL; the staff roles are a JSON list, read in a second statement only for a person who has
    an active staff account.
    """
    required = sorted(state().config["MFA_REQUIRED_ROLES"])
    db.session.flush()  # as the four ORM queries did: bare EXISTS clauses do not make the session flush
    factor, granted, staff = db.session.execute(select(
        mfa.second_factor_exists(person_id),
        exists().where(*_current_grants(person_id), RoleGrant.role.in_(required)),
        exists().where(*_active_staff(person_id)),
    )).one()
    if factor or granted or not required or not staff:
        return bool(factor), bool(granted)
    # The grants were matched above; what is left are the directory's roles on the staff accounts.
    return False, bool(set(required) & staff_roles(person_id))


def second_factor_required(person_id: int | None, extra_roles: set[str] | None = None) -> bool:
    """Whether the person holds a role that requires a second factor (``IDP_MFA_REQUIRED_ROLES``).

    Applied to every credential: an administrator who signs in (or links) with a citizen account still
    needs the second factor.  ``extra_roles``: roles a directory reported that are not stored yet.
    """
    required = set(state().config["MFA_REQUIRED_ROLES"])
    held = roles_of(person_id) if person_id is not None else set()
    return bool(required & (held | (extra_roles or set())))
