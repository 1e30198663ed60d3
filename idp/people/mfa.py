"""Second factor: TOTP authenticators (RFC 6238) and one-time recovery codes (passkeys: :mod:`idp.people.passkeys`).

The shared secret is encrypted at rest like the NIK (``crypto.encrypt``, context ``totp.secret``); a
recovery code is kept only as a keyed hash.  A TOTP code is accepted for the current 30-second step and
one step either side (RFC 6238 5.2: allow for clock drift and typing time), and never twice: the step of
the last accepted code is stored, and acceptance is a compare-and-set update (``last_step < step``), so
two requests racing with the same code cannot both win (RFC 6238 5.2, "the verifier MUST NOT accept the
second attempt of the same OTP").  Wrong codes count towards a per-person temporary lock
(:mod:`idp.ratelimit`).
"""

from __future__ import annotations

import hmac
import secrets
import time

import pyotp
import segno
from sqlalchemy import ColumnElement, delete, exists, func, select, update

from idp import audit
from idp.extensions import db, state
from idp.i18n import PRODUCT_NAME
from idp.models import Passkey, Person, RecoveryCode, TotpCredential, utcnow
from idp.people import notices, passkeys

STEP = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_CODES = 10
ISSUER_NAME = PRODUCT_NAME  # the entry in the authenticator app: one language, the default's
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or typed from paper



def second_factor_exists(person_id: int) -> ColumnElement[bool]:
    """SQL: the person has a TOTP authenticator or a passkey (one statement asks both, and the sign-in asks
    it together with the role facts, :func:`idp.people.roles.sign_in_facts`)."""
    return exists().where(TotpCredential.person_id == person_id) | exists().where(Passkey.person_id == person_id)


def has_second_factor(person_id: int) -> bool:
    """Whether the person has a TOTP authenticator or a passkey (and so must use one at every sign-in)."""
    # A statement of bare EXISTS clauses is not an ORM query, so the session would not flush before it; the
    # two queries it replaces did, and a caller may just have deleted a passkey (drop_unused_recovery_codes).
    db.session.flush()
    return bool(db.session.execute(select(second_factor_exists(person_id))).scalar())


def has_totp(person_id: int) -> bool:
    """Whether the person has a TOTP authenticator (and so must use it at every sign-in)."""
    return db.session.execute(
        select(TotpCredential.id).where(TotpCredential.person_id == person_id)).first() is not None


def new_secret() -> str:
    """A fresh 160-bit base32 secret (RFC 4226 4 recommends at least 160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account_name: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return str(pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(name=account_name,
                                                                                  issuer_name=ISSUER_NAME))


def qr_data_uri(uri: str) -> str:
    """The QR code of ``uri`` as an SVG ``data:`` URI (the page's CSP allows ``data:`` images)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def normalize(code: str | None) -> str:
    """The code without spaces and dashes, lower-cased, at most 32 characters kept."""
    return "".join(ch for ch in (code or "")[:64] if ch not in " -\t").lower()[:32]


def _matching_step(secret: str, code: str, now: float) -> int | None:
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):  # "٠١٢٣٤٥" is digits too
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    current = int(now // STEP)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate (constant work whichever one matches).
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def code_matches_secret(secret: str, code: str | None, now: float | None = None) -> int | None:
    """The step of ``code`` for a secret not yet stored (enrolment), or None."""
    return _matching_step(secret, normalize(code), time.time() if now is None else now)


def enrol(person_id: int, secret: str, step: int) -> list[str]:
    """Store the authenticator (its first code, of ``step``, already checked) and new recovery codes.

    Returns the recovery codes in clear, to be shown once.  The caller commits.
    """
    db.session.execute(delete(TotpCredential).where(TotpCredential.person_id == person_id))
    db.session.add(TotpCredential(person_id=person_id, secret_enc=state().crypto.encrypt(secret, "totp.secret"),
                                  last_step=step, last_used_at=utcnow()))
    codes = new_recovery_codes(person_id)
    audit.record("mfa.enrolled", person_id=person_id, method="totp")
    _notify(person_id)
    return codes


def _notify(person_id: int) -> None:
    """The security notice of a second-factor change (idp.people.notices)."""
    person = db.session.get(Person, person_id)
    if person is not None:
        notices.notify(person, notices.SECOND_FACTOR)


def new_recovery_codes(person_id: int) -> list[str]:
    """Replace the person's recovery codes with fresh ones; the codes in clear (shown once). Caller commits."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.person_id == person_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(person_id=person_id, code_hash=state().crypto.keyed_hash("recovery", raw)))
    return codes


def recovery_codes_left(person_id: int) -> int:
    return int(db.session.execute(select(func.count(RecoveryCode.id)).where(
        RecoveryCode.person_id == person_id, RecoveryCode.used_at.is_(None))).scalar_one())


def verify(person_id: int, code: str | None, now: float | None = None) -> str | None:
    """Check a TOTP code or a recovery code and consume it; the method used (``"otp"``,
    ``"recovery"``) or None.  Commits on success (the code is spent even if the caller fails later)."""
    typed = normalize(code)
    if not typed:
        return None
    rows = db.session.execute(select(TotpCredential).where(TotpCredential.person_id == person_id)
                              .order_by(TotpCredential.id)).scalars().all()
    if rows and len(typed) == DIGITS and typed.isascii() and typed.isdigit():
        # A merged person may hold several authenticators (one per linked human account): any of them.
        moment = time.time() if now is None else now
        matches = [(row, _matching_step(state().crypto.decrypt(row.secret_enc, "totp.secret"), typed, moment))
                   for row in rows]
        found = next(((row, step) for row, step in matches if step is not None), None)
        if found is None:
            return None
        row, step = found
        won = db.session.execute(
            update(TotpCredential).where(TotpCredential.id == row.id, TotpCredential.last_step < step)
            .values(last_step=step, last_used_at=utcnow()).execution_options(synchronize_session=False))
        if getattr(won, "rowcount", 0) != 1:  # this code (or a later one) was already used
            db.session.rollback()
            return None
        db.session.commit()
        return "otp"
    if len(typed) == 10 and has_second_factor(person_id) and all(ch in _RECOVERY_ALPHABET for ch in typed):
        spent = db.session.execute(
            update(RecoveryCode).where(RecoveryCode.person_id == person_id, RecoveryCode.used_at.is_(None),
                                       RecoveryCode.code_hash == state().crypto.keyed_hash("recovery", typed))
            .values(used_at=utcnow()).execution_options(synchronize_session=False))
        if getattr(spent, "rowcount", 0) != 1:
            db.session.rollback()
            return None
        audit.record("mfa.recovery_code_used", person_id=person_id, left=recovery_codes_left(person_id))
        db.session.commit()
        return "recovery"
    return None


def drop_unused_recovery_codes(person_id: int) -> None:
    """Delete the recovery codes when no second factor is left for them to stand in for; caller commits."""
    if not has_second_factor(person_id):
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.person_id == person_id))


def disable(person_id: int) -> None:
    """Remove the authenticator, and the recovery codes unless a passkey still needs them; the caller
    commits."""
    db.session.execute(delete(TotpCredential).where(TotpCredential.person_id == person_id))
    if not passkeys.has_passkey(person_id):
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.person_id == person_id))
    audit.record("mfa.disabled", person_id=person_id, method="totp")
    _notify(person_id)
