"""Who may use the developer portal and the administration console.

Both are for staff: a person with an active staff (directory) account.  Administrators are staff whose
directory groups map to the ``admin`` role (``IDP_LDAP_GROUP_ROLES``); the console also requires that
the current session used a second factor (``acr`` MFA), since ``admin`` is in ``IDP_MFA_REQUIRED_ROLES``
by default; that rule holds whichever credential the person signed in with
(:func:`second_factor_required`).  Roles are read from the staff record that the last sign-in or
``idp ldap sync`` refreshed.
"""

from __future__ import annotations

from sqlalchemy import select

from idp.extensions import db, state
from idp.models import StaffAccount

ADMIN = "admin"


def staff_account(person_id: int) -> StaffAccount | None:
    """The person's active staff account, or None (citizens only, or disabled in the directory)."""
    return db.session.execute(select(StaffAccount).where(
        StaffAccount.person_id == person_id, StaffAccount.status == "active")).scalars().first()


def is_staff(person_id: int) -> bool:
    return staff_account(person_id) is not None


def has_role(person_id: int, role: str) -> bool:
    account = staff_account(person_id)
    return account is not None and role in (account.roles or [])


def is_admin(person_id: int) -> bool:
    return has_role(person_id, ADMIN)


def roles_of(person_id: int) -> set[str]:
    """Every role of the person's active staff accounts, whichever credential the current sign-in used."""
    rows = db.session.execute(select(StaffAccount.roles).where(
        StaffAccount.person_id == person_id, StaffAccount.status == "active")).scalars()
    return {role for roles in rows for role in (roles or [])}


def second_factor_required(person_id: int | None, extra_roles: set[str] | None = None) -> bool:
    """Whether the person holds a role that requires a second factor (``IDP_MFA_REQUIRED_ROLES``).

    Applied to every credential: an administrator who signs in (or links) with a citizen account still
    needs the second factor.  ``extra_roles``: roles a directory reported that are not stored yet.
    """
    required = set(state().config["MFA_REQUIRED_ROLES"])
    held = roles_of(person_id) if person_id is not None else set()
    return bool(required & (held | (extra_roles or set())))
