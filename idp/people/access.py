"""Who may sign in to an application: its access policy (issue 18).

An application may restrict who signs in, by registration metadata (an extension of RFC 7591 2, named
in the discovery document's ``client_access_policy_metadata_supported``):

- ``required_person_type``: ``staff`` (an active directory account) or ``citizen`` (an active citizen
  account); a person who linked both is both;
- ``required_groups``: directory group DNs; the person must be staff and a member of at least one
  (compared as normalised DNs, from the staff record the last sign-in or ``idp ldap sync`` refreshed);
- ``required_acr``: the minimum assurance level of the sign-in (``acr_values_supported``; the levels are
  ordered, :mod:`idp.assurance`): e.g. the ``mfa`` level requires a second factor.

:func:`refusals` answers which rules a person fails; :mod:`idp.oauth.authorize` applies it before any
code is issued and :mod:`idp.oauth.refresh` again at every refresh.  Clients without a policy pay
nothing: the metadata is read from the client already loaded.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from idp import assurance
from idp.extensions import db
from idp.models import CitizenAccount, StaffAccount
from idp.sources import citizen
from idp.sources.ldap_settings import normalize_dn

STAFF, CITIZEN = "staff", "citizen"
PERSON_TYPES = (STAFF, CITIZEN)
FIELDS = ("required_person_type", "required_groups", "required_acr")

# Reason codes (what the audit log records) and the text the refusal page shows for each.
STAFF_ONLY, CITIZENS_ONLY, GROUPS, LEVEL = "staff_only", "citizens_only", "groups", "acr"
REASON_TEXT: dict[str, Any] = {
    STAFF_ONLY: _l("This application is for staff of the provincial government only: sign in with your "
                   "directory (staff) account."),
    CITIZENS_ONLY: _l("This application is for citizens only: sign in with a citizen account (NIK)."),
    GROUPS: _l("This application is only for members of particular units or groups in the directory, "
               "and your staff account is not in any of them."),
    LEVEL: _l("This application requires a stronger sign-in than this one (for example with a second "
              "factor, or with your staff account)."),
}


def has_policy(metadata: dict[str, Any] | None) -> bool:
    """Whether the client's metadata sets any access rule."""
    return bool(metadata) and any(metadata.get(f) for f in FIELDS)  # type: ignore[union-attr]


def _staff_groups(person_id: int) -> list[list[str]] | None:
    rows = db.session.execute(select(StaffAccount.groups).where(
        StaffAccount.person_id == person_id, StaffAccount.status == "active")).scalars().all()
    return [list(g or []) for g in rows] if rows else None


def _is_citizen(person_id: int) -> bool:
    return db.session.execute(select(CitizenAccount.id).where(
        CitizenAccount.person_id == person_id, CitizenAccount.status == "active")).first() is not None


def refusals(person_id: int, acr: str | None, metadata: dict[str, Any] | None) -> list[str]:
    """The reason codes of every rule of the policy the person (signed in at ``acr``) fails; [] to pass."""
    if not has_policy(metadata):
        return []
    assert metadata is not None
    reasons: list[str] = []
    kind = metadata.get("required_person_type")
    groups_wanted = metadata.get("required_groups") or []
    staff_groups = _staff_groups(person_id) if (kind == STAFF or groups_wanted) else None
    if kind == STAFF and staff_groups is None:
        reasons.append(STAFF_ONLY)
    elif kind == CITIZEN and not _is_citizen(person_id):
        reasons.append(CITIZENS_ONLY)
    if groups_wanted:
        wanted = {normalize_dn(g) for g in groups_wanted}
        held = {normalize_dn(g) for groups in (staff_groups or []) for g in groups}
        if not wanted & held:
            reasons.append(GROUPS)
    required = metadata.get("required_acr")
    # A NIK proof level (issue 15) is judged on the person's NIK as it stands now (a NIK lost in a
    # dispute since the sign-in no longer counts), like acr_values (idp.oauth.authorize).
    nik = citizen.nik_assurance(person_id) if required and assurance.is_nik_proof(required) else None
    if required and not assurance.satisfies(acr, [required], nik):
        reasons.append(LEVEL)
    return reasons


def only_level_missing(reasons: list[str], metadata: dict[str, Any]) -> bool:
    """Whether a second factor alone would let the person pass (a step-up, not a refusal)."""
    return reasons == [LEVEL] and metadata.get("required_acr") == assurance.MFA
