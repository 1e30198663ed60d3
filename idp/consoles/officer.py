"""The service-counter console's rules (``/officer``): find a citizen by exact NIK, verify the NIK in person.

An officer (a help-desk or counter officer at the Mal Pelayanan Publik: staff whose directory groups map
to the ``officer`` role, ``IDP_LDAP_GROUP_ROLES``, with a second factor in the session since ``officer`` is
in ``IDP_MFA_REQUIRED_ROLES`` by default) looks a citizen up by the whole NIK only (a keyed hash answers
equality, never a prefix), checks the physical KTP-el and marks the NIK *verified in person*.  The same
console lists the ``citizen-review`` accounts (typed birth date disagreeing with the NIK) to resolve the
same way.  A search also lists the accounts that only claim the NIK: verifying one of them in person moves
the NIK to it (:mod:`idp.people.nik_dispute`, the better proof wins).  Every lookup and every
verification is audited with the officer and the reason they typed;
the audit log holds the NIK's keyed hash and masked form, never the NIK.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select

from idp import assurance, audit, ratelimit
from idp.extensions import db
from idp.models import CitizenAccount, Person, utcnow
from idp.people import nik_dispute, roles
from idp.sources import nik
from idp.sources.citizen import nik_hash

OFFICER = "officer"
LOOKUPS_PER_HOUR = 120  # per officer: a counter serves people one by one; more looks like harvesting
MAX_REASON = 200
REVIEW_LIMIT = 100


class OfficerRefused(Exception):
    """The action is refused; ``reason`` is ``invalid_nik`` | ``reason`` | ``unconfirmed`` | ``gone`` |
    ``own`` | ``email`` | ``already`` | ``contested`` | ``rate_limited``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CitizenView:
    """What the counter shows about a citizen account: enough to compare with the KTP-el, nothing more."""

    public_id: str
    name: str
    birthdate: dt.date
    gender: str
    nik_masked: str
    method: str  # self-declared | registry | in-person
    verified_at: dt.datetime | None
    review_reason: str | None
    email_verified: bool
    active: bool
    holds: bool  # False: the account only claims this NIK (idp.people.nik_dispute)


def is_officer(person_id: int) -> bool:
    return roles.has_role(person_id, OFFICER)


def _view(account: CitizenAccount) -> CitizenView:
    return CitizenView(public_id=account.public_id, name=account.full_name, birthdate=account.birthdate,
                       gender=account.gender, nik_masked=account.nik_masked,
                       method=assurance.NIK_METHODS.get(account.assurance, "self-declared"),
                       verified_at=account.nik_verified_at, review_reason=account.review_reason,
                       email_verified=account.email_verified_at is not None,
                       active=account.status == "active" and account.person.status == "active",
                       holds=account.nik_hash is not None)


def clean_reason(value: str | None) -> str:
    """The officer's reason (a queue number, "KTP-el checked at MPP Serang"): required, one line, bounded."""
    text = " ".join((value or "").split())
    if not text or len(text) > MAX_REASON or any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in text):
        raise OfficerRefused("reason")
    return text


def find(officer: Person, raw_nik: str, reason: str) -> list[CitizenView]:
    """The citizen account holding exactly this NIK, then the accounts claiming it ([]: none); audited."""
    why = clean_reason(reason)
    digits = nik.normalize(raw_nik or "")
    if digits is None or len(digits) != nik.LENGTH:
        raise OfficerRefused("invalid_nik")
    if not ratelimit.allow("officer-lookup", str(officer.id), LOOKUPS_PER_HOUR, 3600):
        raise OfficerRefused("rate_limited")
    hashed = nik_hash(digits)
    holder = nik_dispute.holder_of(hashed)
    accounts = ([holder] if holder is not None else []) + nik_dispute.claimants(hashed)
    audit.record("officer.lookup", outcome="success" if accounts else "failure",
                 person_id=accounts[0].person_id if accounts else None, officer=officer.id, nik=nik.mask(digits),
                 nik_hash=hashed, reason=why, accounts=[a.person_id for a in accounts])
    db.session.commit()
    return [_view(a) for a in accounts]


def get(public_id: str) -> CitizenView | None:
    account = _account(public_id)
    return _view(account) if account is not None else None


def _account(public_id: str) -> CitizenAccount | None:
    if not isinstance(public_id, str) or not 0 < len(public_id) <= 40:
        return None
    return db.session.execute(select(CitizenAccount).where(CitizenAccount.public_id == public_id)
                              ).scalar_one_or_none()


def review_queue() -> list[CitizenView]:
    """The ``citizen-review`` accounts, oldest first (an officer resolves them with the KTP-el in hand)."""
    rows = db.session.execute(select(CitizenAccount).where(CitizenAccount.assurance == assurance.CITIZEN_REVIEW)
                              .order_by(CitizenAccount.created_at, CitizenAccount.id).limit(REVIEW_LIMIT)).scalars()
    return [_view(a) for a in rows]


def verify_in_person(officer: Person, public_id: str, reason: str, checked: bool) -> CitizenView:
    """Mark the account's NIK verified in person: the officer confirmed they checked the KTP-el."""
    why = clean_reason(reason)
    if not checked:
        raise OfficerRefused("unconfirmed")
    account = _account(public_id)
    if account is None or account.status != "active" or account.person.status != "active":
        raise OfficerRefused("gone")
    if account.person_id == officer.id:
        raise OfficerRefused("own")  # nobody vouches for their own NIK
    if account.email_verified_at is None:
        raise OfficerRefused("email")  # an unconfirmed registration is deleted after a while: confirm it first
    if account.nik_hash is not None and account.assurance == assurance.CITIZEN_IN_PERSON:
        raise OfficerRefused("already")
    previous = account.assurance
    if account.nik_hash is None:
        # A claimant with the KTP-el in hand: the NIK moves to them unless the holder was verified in person
        # too (two cards for one NIK: a case for Dukcapil, not for the counter).
        holder = nik_dispute.holder_of(account.claimed_nik_hash or "")
        if not nik_dispute.wins(assurance.CITIZEN_IN_PERSON, holder):
            raise OfficerRefused("contested")
        nik_dispute.transfer(account, assurance.CITIZEN_IN_PERSON, via="counter", actor=officer.id)
    else:
        account.assurance = assurance.CITIZEN_IN_PERSON
        account.nik_verified_at = utcnow()
        account.review_reason = None  # the KTP-el settles what the typed data left open
    audit.record("nik.verified_in_person", person_id=account.person_id, officer=officer.id, reason=why,
                 nik=account.nik_masked, nik_hash=account.nik_hash, previous=previous)
    db.session.commit()
    return _view(account)
