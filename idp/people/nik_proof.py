"""Proving a NIK through the population registry: the durable queue of verification requests and its work pass.

A person asks (:func:`request_verification`, from the account page) with the data the registry checks
beyond the account's own name and birth date: the birth place and, optionally, the mother's maiden
name.  The request is a :class:`~idp.models.NikVerification` row and nothing more: the person never
waits for the registry, and sign-in never depends on it.  :func:`work` (the background thread of
:mod:`idp.oauth.backchannel`, or ``idp registry work``) claims due rows like the back-channel queue
does (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, compare-and-set on SQLite), asks the registry through
the :class:`~idp.sources.population_registry.RegistryVerifier` seam and records the outcome; an
unavailable registry means a retry with exponential backoff, and the circuit breaker holds the whole
queue while the registry keeps failing.

Data minimisation (UU PDP): the typed data are kept encrypted only while the request waits and erased
with the answer; the row then says only the outcome, the names of the matched fields, the time and the
registry's request id.  A match raises the account to ``citizen-registry`` (never lowers a higher proof).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import unicodedata
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select

from idp import assurance, audit, leases, ratelimit
from idp.extensions import db, setting, state
from idp.models import CitizenAccount, NikVerification, utcnow
from idp.people import nik_dispute
from idp.sources import citizen
from idp.sources import population_registry as registry

log = logging.getLogger(__name__)

PAYLOAD_CONTEXT = "registry.query"
REQUESTS_PER_DAY = 3  # per person: each request costs the agency a registry call
MAX_BACKOFF = 3600
MAX_TEXT = 100


class RequestRefused(Exception):
    """The request cannot be queued; ``reason`` is ``unavailable`` | ``no_nik`` | ``already`` | ``pending`` |
    ``rate_limited`` | ``invalid``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _clean(value: str | None) -> str:
    text = " ".join((value or "").split())
    if len(text) > MAX_TEXT or any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in text):
        raise RequestRefused("invalid")
    return text


def request_verification(person_id: int, birthplace: str, mother_name: str | None = None) -> NikVerification:
    """Queue a registry check of the person's NIK with the account's name and birth date and the given data."""
    if not registry.configured():
        raise RequestRefused("unavailable")
    place, mother = _clean(birthplace), _clean(mother_name)
    if not place:
        raise RequestRefused("invalid")
    account = db.session.execute(select(CitizenAccount).where(CitizenAccount.person_id == person_id)
                                 ).scalar_one_or_none()
    if account is None or account.status != "active":
        raise RequestRefused("no_nik")
    if account.nik_hash is not None and (
            assurance.nik_level(account.assurance) >= assurance.NIK_LEVELS[assurance.CITIZEN_REGISTRY]):
        raise RequestRefused("already")
    pending = db.session.execute(select(NikVerification.id).where(
        NikVerification.person_id == person_id, NikVerification.status == "pending")).first()
    if pending is not None:
        raise RequestRefused("pending")
    if not ratelimit.allow("nik-registry", str(person_id), REQUESTS_PER_DAY, 86400):
        raise RequestRefused("rate_limited")
    payload = {"full_name": account.full_name, "birthdate": account.birthdate.isoformat(), "birthplace": place,
               "mother_name": mother or None}
    # A claimant asks about the NIK it claims (idp.people.nik_dispute): a match may move it to them.
    row = NikVerification(person_id=person_id, nik_hash=account.nik_hash or account.claimed_nik_hash, status="pending",
                          payload_enc=state().crypto.encrypt(json.dumps(payload), PAYLOAD_CONTEXT))
    db.session.add(row)
    db.session.flush()
    audit.record("nik.registry_requested", person_id=person_id, nik=account.nik_masked, request=row.id)
    db.session.commit()
    return row


def latest(person_id: int) -> NikVerification | None:
    """The person's newest registry request (the account and data pages show it)."""
    return db.session.execute(select(NikVerification).where(NikVerification.person_id == person_id)
                              .order_by(NikVerification.id.desc()).limit(1)).scalar_one_or_none()


@dataclass
class _Claimed:
    id: int
    attempts: int


def _claim(now: dt.datetime, limit: int) -> list[_Claimed]:
    """Take up to ``limit`` due requests: count the attempt and lease them, then commit (idp.leases)."""
    lease = now + dt.timedelta(seconds=int(setting("REGISTRY_TIMEOUT")) + 30)
    return leases.claim_due(NikVerification, now, limit, lease, lambda row, attempts: _Claimed(row.id, attempts))


def _query_for(row: NikVerification, account: CitizenAccount) -> registry.Query:
    payload = json.loads(str(state().crypto.decrypt(row.payload_enc or "", PAYLOAD_CONTEXT)))
    return registry.Query(nik=citizen.decrypt_nik(account), full_name=str(payload["full_name"]),
                          birthdate=dt.date.fromisoformat(str(payload["birthdate"])),
                          birthplace=str(payload["birthplace"]), mother_name=payload.get("mother_name") or None)


def _close(row: NikVerification, status: str, now: dt.datetime, *, error: str | None = None) -> None:
    row.status, row.completed_at, row.payload_enc, row.last_error = status, now, None, error


def _attempt(item: _Claimed, verifier: registry.RegistryVerifier, now: dt.datetime) -> str:
    """Ask the registry about one request and record the outcome; the new status."""
    row = db.session.get(NikVerification, item.id)
    if row is None or row.status != "pending":
        return "gone"
    account = db.session.execute(select(CitizenAccount).where(CitizenAccount.person_id == row.person_id)
                                 ).scalar_one_or_none()
    if account is None or (account.nik_hash or account.claimed_nik_hash) != row.nik_hash or row.payload_enc is None:
        # The account or its NIK changed while the request waited: nothing to prove any more.
        _close(row, "failed", now, error="account changed")
        db.session.commit()
        return "failed"
    query = _query_for(row, account)
    try:
        answer = verifier.verify(query)
    except registry.RegistryUnavailable as exc:
        if registry.record_failure():
            log.warning("population registry: circuit breaker opened after repeated failures (%s)", exc.reason)
        return _retry_or_give_up(row, item, exc.reason, now, account)
    registry.record_success()
    proved = answer.proves(query)
    row.matched, row.request_id = list(answer.matched), answer.request_id
    _close(row, "matched" if proved else "mismatch", now)
    if proved and account.nik_hash is None:
        _claim_won(account, query)
    elif proved and assurance.nik_level(account.assurance) < assurance.NIK_LEVELS[assurance.CITIZEN_REGISTRY]:
        account.assurance = assurance.CITIZEN_REGISTRY
        account.nik_verified_at = now
        account.review_reason = None  # the registry confirmed the typed birth date: nothing left to review
    audit.record("nik.registry_checked", outcome="success" if proved else "failure", person_id=row.person_id,
                 nik=account.nik_masked, nik_hash=row.nik_hash, matched=list(answer.matched),
                 request_id=answer.request_id)
    db.session.commit()
    return str(row.status)


def _claim_won(account: CitizenAccount, query: registry.Query) -> None:
    """A claimant's registry match: the NIK moves to them when it beats the holder's proof AND the holder's
    own data differ (a holder who gave the same name and birth date may be the same family; the counter
    decides between them: README "Disputes")."""
    holder = nik_dispute.holder_of(account.claimed_nik_hash or "")
    same_data = holder is not None and (_norm(holder.full_name) == _norm(query.full_name)
                                        and holder.birthdate == query.birthdate)
    if nik_dispute.wins(assurance.CITIZEN_REGISTRY, holder) and not same_data:
        nik_dispute.transfer(account, assurance.CITIZEN_REGISTRY, via="registry")
    else:
        audit.record("nik.dispute_contested", person_id=account.person_id, nik=account.nik_masked,
                     nik_hash=account.claimed_nik_hash, via="registry")


def _norm(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _retry_or_give_up(row: NikVerification, item: _Claimed, reason: str, now: dt.datetime,
                      account: CitizenAccount) -> str:
    if item.attempts >= int(setting("REGISTRY_MAX_ATTEMPTS")):
        _close(row, "failed", now, error=reason[:200])
        audit.record("nik.registry_checked", outcome="error", person_id=row.person_id, nik=account.nik_masked,
                     nik_hash=row.nik_hash, reason=reason[:200])
        log.warning("population registry: request %d given up after %d attempts: %s", row.id, item.attempts,
                    reason)
    else:
        delay = min(int(setting("REGISTRY_RETRY_SECONDS")) * 2 ** (item.attempts - 1), MAX_BACKOFF)
        row.next_attempt_at, row.last_error = now + dt.timedelta(seconds=delay), reason[:200]
        log.info("population registry: request %d attempt %d failed (%s); retry in %d s", row.id, item.attempts,
                 reason, delay)
    db.session.commit()
    return str(row.status)


def work(now: dt.datetime | None = None, limit: int | None = None,
         verifier: registry.RegistryVerifier | None = None) -> Counter[str]:
    """One pass over the due requests; counts of the outcomes (``matched``, ``mismatch``, ``pending``,
    ``failed``, and ``held`` when the circuit breaker is open)."""
    outcomes: Counter[str] = Counter()
    if not registry.configured():
        return outcomes
    now = now or utcnow()
    verifier = verifier or registry.verifier()
    remaining = limit
    while remaining is None or remaining > 0:
        if registry.breaker_open():
            # Nothing is sent while the breaker is open; the rows stay due and the next pass tries again.
            outcomes["held"] += pending_count()
            break
        batch = _claim(now, 1)  # one at a time: the breaker is read again between requests
        if not batch:
            break
        outcomes[_attempt(batch[0], verifier, now)] += 1
        if remaining is not None:
            remaining -= 1
    return outcomes


def pending_count() -> int:
    value = db.session.execute(select(func.count()).select_from(NikVerification)
                               .where(NikVerification.status == "pending")).scalar()
    return int(value or 0)


def status_counts() -> dict[str, int]:
    """{status: count} over every request (operators)."""
    rows = db.session.execute(select(NikVerification.status, func.count()).group_by(NikVerification.status)).all()
    return {str(status): int(count) for status, count in rows}
