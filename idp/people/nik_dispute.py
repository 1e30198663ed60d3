"""Disputes over a NIK: the better proof wins (issue 15).

An account HOLDS its NIK (``CitizenAccount.nik_hash``: sign-in by NIK, the ``nik`` claim) or only CLAIMS it
(``claimed_nik_hash``): a second registration of a NIK whose holder has proven nothing beyond
self-declaration, or a former holder.  When a claimant proves the NIK at a higher level than the holder
(:data:`idp.assurance.NIK_LEVELS`: a registry match with data the holder never gave, or an officer's
check of the KTP-el), :func:`transfer` moves it: the holder keeps the account and e-mail sign-in but only
claims the NIK from then on (so they can contest at the counter); their sessions end (applications are
told through back-channel logout) and their refresh tokens for the ``nik`` scope are revoked; they get a
mail.  Both sides are audited (``nik.dispute_won`` / ``nik.dispute_lost``), with the keyed hash and the
masked NIK only.  The caller commits.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from idp import assurance, audit, events, mail
from idp.extensions import db
from idp.models import CitizenAccount, utcnow
from idp.people import session as login_session
from idp.people import signout

log = logging.getLogger(__name__)

LOST = "nik_lost"
CLAIMED = "nik_claimed"
HOW = {assurance.CITIZEN_REGISTRY: "registry", assurance.CITIZEN_IN_PERSON: "in-person"}


def holder_of(nik_hash: str) -> CitizenAccount | None:
    return db.session.execute(select(CitizenAccount).where(CitizenAccount.nik_hash == nik_hash)
                              ).scalar_one_or_none()


def claimants(nik_hash: str) -> list[CitizenAccount]:
    """The accounts that claim this NIK without holding it, oldest first."""
    return list(db.session.execute(select(CitizenAccount).where(CitizenAccount.claimed_nik_hash == nik_hash)
                                   .order_by(CitizenAccount.id)).scalars())


def wins(prover_level: str, holder: CitizenAccount | None) -> bool:
    """True when a proof at ``prover_level`` beats the holder's (no holder: nothing to beat)."""
    if holder is None:
        return True
    return assurance.nik_level(prover_level) > assurance.nik_level(holder.assurance)


def transfer(prover: CitizenAccount, level: str, *, via: str, actor: int | None = None) -> CitizenAccount | None:
    """Give ``prover`` its claimed NIK at ``level``; the former holder (returned) keeps only a claim."""
    hashed = prover.claimed_nik_hash or prover.nik_hash
    assert hashed is not None
    holder = holder_of(hashed)
    if holder is not None and holder.id != prover.id:
        holder.nik_hash = None
        holder.claimed_nik_hash = hashed
        previous = holder.assurance
        holder.assurance = assurance.CITIZEN_REVIEW
        holder.review_reason = LOST
        holder.nik_verified_at = None
        db.session.flush()  # the unique NIK hash is free before the prover takes it
        _consequences(holder, level)
        audit.record("nik.dispute_lost", person_id=holder.person_id, nik=holder.nik_masked, nik_hash=hashed,
                     winner=prover.person_id, via=via, actor=actor, previous=previous)
        audit.record("nik.dispute_won", person_id=prover.person_id, nik=prover.nik_masked, nik_hash=hashed,
                     loser=holder.person_id, via=via, actor=actor)
    prover.nik_hash = hashed
    prover.claimed_nik_hash = None
    prover.assurance = level
    prover.nik_verified_at = utcnow()
    prover.review_reason = None
    db.session.flush()
    return holder if holder is not None and holder.id != prover.id else None


def _consequences(holder: CitizenAccount, level: str) -> None:
    """End the former holder's sessions (back-channel logout), revoke their NIK tokens, tell them."""
    ended = login_session.end_all(holder.person_id)
    signout.sessions_ended(ended, reason="nik_moved")
    # Offline refresh tokens outlive sessions: those that carry the nik scope are revoked too.
    events.emit(events.PERSON_TOKENS_REVOKED, person_id=holder.person_id, reason="nik_moved", scope="nik")
    if not holder.email:  # a phone-only account (issue 16): the sessions' end is what it notices
        log.warning("dispute: the former holder has no e-mail address for the notice")
        return
    try:
        mail.send_template(holder.email, "auth/mail/nik_lost.txt", name=holder.full_name, nik=holder.nik_masked,
                           how=HOW.get(level, "in-person"))
    except mail.MailError:
        # The move stands (the better proof won); the notice is logged as undelivered.
        log.warning("dispute: the notice to the former holder could not be sent")
