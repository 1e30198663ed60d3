"""Civil servants from the directory: just-in-time provisioning, ``staff`` claims, and the directory sync.

A successful LDAP sign-in (:mod:`idp.sources.ldap`) yields an :class:`Identity` whose subject is
the entry's entryUUID/objectGUID.  :func:`provision` resolves the person through
:func:`idp.people.identity.person_for` (the same ``sub`` for the same entry, whatever its DN) and keeps the
latest directory attributes in :class:`StaffAccount`, where :func:`staff_claims` reads them.
:func:`sync` pages through the directory and disables the people whose entry was deleted or disabled
(revoking their refresh token families), so that access ends without waiting for a sign-in.
Callers commit: every function here joins the caller's one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from idp import audit, events
from idp.extensions import db, state
from idp.models import IdentityLink, Person, StaffAccount, utcnow
from idp.people import session as login_session
from idp.people import signout
from idp.people.identity import apply_profile, person_for
from idp.sources.base import Identity
from idp.sources.ldap import LdapConnector

log = logging.getLogger(__name__)

# Claims of the future ``staff`` scope (OIDC Core 5.1 names where one exists, custom names otherwise).
STAFF_CLAIMS = ("name", "email", "nip", "unit", "title", "groups", "roles")
# Encryption context of a staff member's NIK (the lookup hash uses the contract's "nik" purpose, so a
# citizen account and a staff account of the same person can be linked later).
NIK_CONTEXT = "staff.nik"
# The sync refuses to disable more than this share of the active staff at once (a wrong search base or
# filter returns nobody; --force overrides) ...
SYNC_MAX_SHARE = 0.5
# ... unless only this many people are concerned.
SYNC_SMALL = 5


def _copy(account: StaffAccount, attributes: dict[str, Any]) -> None:
    """Copy directory attributes onto ``account``; the NIK is stored encrypted with its keyed hash."""
    account.dn = str(attributes.get("dn") or account.dn or "")
    account.username = attributes.get("username")
    account.nip = attributes.get("nip")
    account.unit = (attributes.get("unit") or None) and str(attributes["unit"])[:200]
    account.title = (attributes.get("title") or None) and str(attributes["title"])[:200]
    groups = list(attributes.get("groups") or [])
    roles = list(attributes.get("roles") or [])
    if account.groups != groups:
        account.groups = groups
    if account.roles != roles:
        account.roles = roles
    nik = attributes.get("nik")
    crypto = state().crypto
    if nik:
        nik_hash = crypto.keyed_hash("nik", nik)
        if account.nik_hash != nik_hash:
            account.nik_hash = nik_hash
            account.nik_enc = crypto.encrypt(nik, NIK_CONTEXT)
    else:
        account.nik_hash = account.nik_enc = None


def account_for(entry_uuid: str) -> StaffAccount | None:
    return db.session.execute(select(StaffAccount).where(StaffAccount.entry_uuid == entry_uuid)).scalar_one_or_none()


def provision(identity: Identity, *, person: Person | None = None) -> Person:
    """The person behind an LDAP ``identity`` (created on first sign-in), with its staff record refreshed.

    A person whom the sync disabled because the directory said so is enabled again here: this sign-in
    just proved that the directory accepts the entry again.  ``person`` attaches a directory entry
    nobody holds yet to an existing person (linking, :mod:`idp.people.linking`).
    """
    if identity.source != "ldap":
        raise ValueError("provision() takes identities of the ldap source")
    if person is not None:

        db.session.add(IdentityLink(person_id=person.id, source=identity.source, subject=identity.subject))
        db.session.flush()
        if not person.name:
            apply_profile(person, {"name": identity.attributes.get("name")})
    else:
        person = person_for(identity)
    account = account_for(identity.subject)
    if account is None:
        account = StaffAccount(person_id=person.id, entry_uuid=identity.subject, dn="", groups=[], roles=[])
        db.session.add(account)
    elif account.status in ("disabled", "deleted") and person.status == "disabled":
        person.status = "active"
        log.info("staff account %s is accepted by the directory again; person %s enabled", account.entry_uuid,
                 person.id)
    _copy(account, identity.attributes)
    account.status = "active"
    account.last_seen_at = utcnow()
    db.session.flush()
    return person


def staff_claims(person: Any) -> dict[str, Any]:
    """Claims of the ``staff`` scope for ``person`` (empty for people who are not staff): a person id, a
    :class:`Person`, or a row with the person's ``id``, ``name`` and ``email``."""
    person_id = person if isinstance(person, int) else person.id
    account = db.session.execute(
        select(StaffAccount).where(StaffAccount.person_id == person_id, StaffAccount.status == "active")
        .order_by(StaffAccount.last_seen_at.desc().nulls_last(), StaffAccount.id.desc()).limit(1)
    ).scalar_one_or_none()
    if account is None:
        return {}
    person_row = db.session.get(Person, person_id) if isinstance(person, int) else person
    claims: dict[str, Any] = {
        "name": person_row.name if person_row is not None else None,
        "email": person_row.email if person_row is not None else None,
        "nip": account.nip,
        "unit": account.unit,
        "title": account.title,
        "groups": list(account.groups or []),
        "roles": list(account.roles or []),
    }
    return {k: v for k, v in claims.items() if v not in (None, "")}


@dataclass
class SyncReport:
    """What :func:`sync` found and did (entry UUIDs and user names only: no personal data beyond that)."""

    directory_entries: int = 0
    accounts: int = 0
    disabled: list[str] = field(default_factory=list)  # "uuid (username): reason"
    enabled: list[str] = field(default_factory=list)
    moved: int = 0
    revoked_families: int = 0
    ended_sessions: int = 0
    refused: str | None = None  # why nothing was changed
    dry_run: bool = False


def _revoke_tokens(person_id: int) -> int:
    """Revoke every live token family of ``person_id`` (event ``person_tokens_revoked``, handled by
    idp.oauth.tokens in this transaction); the count."""
    results = events.emit(events.PERSON_TOKENS_REVOKED, person_id=person_id, reason="ldap-sync")
    return sum(r for r in results if isinstance(r, int))


def _end_sessions(person_id: int) -> int:
    """End every sign-in session of ``person_id`` and notify its applications (idp.people.signout)."""
    ended = login_session.end_all(person_id)
    signout.sessions_ended(ended, reason="ldap-sync", keep_offline=False)
    return len(ended)


def sync(connector: LdapConnector, *, dry_run: bool = False, force: bool = False) -> SyncReport:
    """Compare every staff account with the directory; disable the deleted and disabled ones.

    Idempotent (a second run changes nothing).  Reads the whole directory FIRST: when the directory
    does not answer (:class:`SourceUnavailable` propagates) nothing is changed.  The caller commits.
    """
    report = SyncReport(dry_run=dry_run)
    # subject -> (DN, "active" | "disabled"): only this is kept per entry, page by page.
    entries: dict[str, tuple[str, str]] = {
        subject: (dn, state) for subject, dn, state in connector.people(
            lambda e: (connector.subject_of(e), e.dn, "disabled" if connector.state_of(e) == "disabled" else "active"))
        if subject
    }
    report.directory_entries = len(entries)
    accounts = db.session.execute(select(StaffAccount).order_by(StaffAccount.id)).scalars().all()
    report.accounts = len(accounts)

    plan: list[tuple[StaffAccount, str, str | None]] = []  # account, status, DN in the directory
    for account in accounts:
        found = entries.get(account.entry_uuid)
        plan.append((account, found[1], found[0]) if found else (account, "deleted", None))

    active = sum(1 for a in accounts if a.status == "active")
    to_disable = [(a, s) for a, s, _e in plan if s != "active" and a.status == "active"]
    if to_disable and not force and len(to_disable) > SYNC_SMALL and len(to_disable) > active * SYNC_MAX_SHARE:
        report.refused = (f"{len(to_disable)} of {active} active staff accounts would be disabled; check "
                          "IDP_LDAP_USER_BASE and IDP_LDAP_USER_FILTER, or run again with --force")
        return report

    now = utcnow()
    for account, status, entry_dn in plan:
        label = f"{account.entry_uuid} ({account.username or '-'})"
        if entry_dn is not None and account.dn and entry_dn != account.dn:
            report.moved += 1
            if not dry_run:
                account.dn = entry_dn
        if status != "active" and account.status == "active":
            report.disabled.append(f"{label}: {status}")
            if not dry_run:
                account.status = status
                person = db.session.get(Person, account.person_id)
                if person is not None and person.status == "active":
                    person.status = "disabled"
                report.revoked_families += _revoke_tokens(account.person_id)
                report.ended_sessions += _end_sessions(account.person_id)
                audit.record("staff.disabled", person_id=account.person_id, reason=f"ldap-sync:{status}",
                             entry_uuid=account.entry_uuid)
        elif status == "active" and account.status in ("disabled", "deleted"):
            report.enabled.append(label)
            if not dry_run:
                account.status = "active"
                person = db.session.get(Person, account.person_id)
                if person is not None and person.status == "disabled":
                    person.status = "active"
                audit.record("staff.enabled", person_id=account.person_id, reason="ldap-sync",
                             entry_uuid=account.entry_uuid)
        elif status != "active" and account.status != status and not dry_run:
            account.status = status  # disabled <-> deleted: already off, keep the record accurate
        if not dry_run:
            account.last_synced_at = now
    db.session.flush()
    return report
