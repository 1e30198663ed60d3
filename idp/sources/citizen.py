"""Citizen accounts keyed by NIK: self-registration, e-mail verification and password sign-in.

The NIK is stored encrypted (``crypto.encrypt(nik, "citizen.nik")``) and found through a keyed hash
(``crypto.keyed_hash("nik", nik)``); the database never holds it in clear and no log line names it.
Nothing here reveals whether an account exists: a duplicate registration looks exactly like a new
one (the owner gets a mail instead), unknown accounts cost one dummy argon2 verification.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from flask import url_for
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import contains_eager, joinedload

from idp import assurance, audit, mail, passwords, ratelimit, sms
from idp.extensions import db, state
from idp.models import CitizenAccount, IdentityLink, Person, utcnow
from idp.sources import nik
from idp.sources.base import BadCredentials, Identity, SourceUnavailable, encodable

log = logging.getLogger(__name__)

SOURCE = "citizen"
VERIFY_KIND = "email-verify"
REVIEW_BIRTHDATE = "birthdate_mismatch"
# At most this many "someone tried to register with your data" mails per account and hour.
OWNER_NOTICES_PER_HOUR = 3
RESENDS_PER_HOUR = 3
VERIFY_PASSWORD_TRIES = 5  # wrong passwords on one confirmation link before it is used up
# At most this many registrations may claim one NIK that another account holds unproven (README "Disputes").
MAX_CLAIMANTS = 3
MAX_IDENTIFIER = 254
# Separators people type inside a NIK ("3603 0155 0190 0001", "3603.0155..."): the automatic choice ignores them.
_NIK_SEPARATORS = re.compile(r"[\s.\-]")



def recognizes(identifier: str) -> bool:
    """True when the sign-in page's automatic choice sends ``identifier`` here: 16 digits (spaces, dots and
    dashes ignored) is a NIK, anything with "@" an e-mail address (the rule documented in the README)."""
    compact = _NIK_SEPARATORS.sub("", identifier)
    return ((len(compact) == 16 and compact.isascii() and compact.isdigit()) or "@" in identifier
            or sms.normalize_mobile(identifier) is not None)


def normalize_email(value: str) -> str:
    return value.strip().lower()


def nik_hash(digits: str) -> str:
    return str(state().crypto.keyed_hash("nik", digits))


# The person comes with the account in the same statement: the sign-in reads its status right after the
# password (a lazy load would be one more round trip per sign-in; bench/FINDINGS.md, issue 20).
_WITH_PERSON = joinedload(CitizenAccount.person)


def find_by_nik(digits: str) -> CitizenAccount | None:
    return db.session.execute(
        select(CitizenAccount).where(CitizenAccount.nik_hash == nik_hash(digits)).options(_WITH_PERSON)
    ).scalar_one_or_none()


def find_by_email(email: str) -> CitizenAccount | None:
    return db.session.execute(
        select(CitizenAccount).where(CitizenAccount.email == normalize_email(email)).options(_WITH_PERSON)
    ).scalar_one_or_none()


def find_by_public_id(public_id: str) -> CitizenAccount | None:
    if not public_id or len(public_id) > 64:
        return None
    return db.session.execute(
        select(CitizenAccount).where(CitizenAccount.public_id == public_id)
    ).scalar_one_or_none()


def find_by_identifier(identifier: str) -> tuple[str | None, CitizenAccount | None]:
    """``(normalised identifier, account)``: 16 digits are a NIK, anything with ``@`` an e-mail, an Indonesian
    mobile number (E.164 after :func:`idp.sms.normalize_mobile`) the person's verified number.

    A malformed identifier gives ``(None, None)``.
    """
    if not isinstance(identifier, str) or len(identifier) > MAX_IDENTIFIER:
        return None, None
    if nik.looks_like_nik(identifier):
        digits = nik.normalize(identifier) or ""
        return digits, find_by_nik(digits)
    if "@" in identifier and "\x00" not in identifier:
        email = normalize_email(identifier)
        return email, find_by_email(email)
    number = sms.normalize_mobile(identifier)
    if number is not None:
        return number, find_by_phone(number)
    return None, None


def nik_assurance(person_id: int) -> str:
    """The person's NIK level now (their account's ``assurance``), or "" when they hold no NIK."""
    value = db.session.execute(
        select(CitizenAccount.assurance).where(CitizenAccount.person_id == person_id,
                                               CitizenAccount.nik_hash.is_not(None))
    ).scalar_one_or_none()
    return value or ""


def holds_nik(account: CitizenAccount) -> bool:
    """True when the account holds its NIK (not only claims it: idp.people.nik_dispute)."""
    return account.nik_hash is not None

def find_by_phone(number: str) -> CitizenAccount | None:
    """The citizen account of the person whose verified mobile number (E.164) this is."""
    return db.session.execute(
        select(CitizenAccount).join(Person, Person.id == CitizenAccount.person_id).where(Person.phone_number == number)
        .options(contains_eager(CitizenAccount.person))
    ).scalar_one_or_none()


def decrypt_nik(account: CitizenAccount) -> str:
    return str(state().crypto.decrypt(account.nik_enc, "citizen.nik"))


# --- registration -------------------------------------------------------------------------------

@dataclass
class Registration:
    """What the registration form collected (already validated field by field)."""

    nik: nik.Nik
    full_name: str
    birthdate: dt.date
    email: str | None  # an e-mail address, a mobile number (E.164), or both (issue 16)
    password: str
    req: str | None = None
    locale: str | None = None
    browser: str | None = None  # a random value the registering browser keeps (confirm_email)
    phone: str | None = None


def needs_review(reg: Registration) -> bool:
    """The typed birth date disagrees with the NIK's: accept, but at the lower assurance level."""
    return reg.birthdate != reg.nik.birthdate


def register(reg: Registration) -> bool:
    """Create the account and mail the verification link, or mail the owner of a duplicate.

    Both branches hash the password, send exactly one mail and return the same way, so the caller
    can show one identical page.  Returns True when a new account was created (for tests and audit
    only; callers must not show it).  Raises :class:`idp.mail.MailError` after a rollback when the
    mail cannot be sent: nothing is half-written.
    """
    password_hash = passwords.hash(reg.password)  # in both branches: the same time for duplicates
    email = normalize_email(reg.email) if reg.email else None
    by_nik = find_by_nik(reg.nik.value)
    by_email = find_by_email(email) if email else None
    by_phone = find_by_phone(reg.phone) if reg.phone else None
    claim = by_email is None and by_phone is None and by_nik is not None and _claimable(by_nik)
    if by_nik is not None or by_email is not None or by_phone is not None:
        _notify_owners(by_nik, by_email or by_phone, reg)
        if not claim:
            return False
    account, token = _create(reg, email, password_hash, holds=not claim)
    try:
        # Phone only: the caller sends the SMS code (idp.people.registration), nothing to mail here.
        if email:
            send_verification(account, token)
        db.session.commit()
    except mail.MailError:
        db.session.rollback()
        state().store.delete(VERIFY_KIND, token)
        raise
    except IntegrityError:
        # A concurrent registration with the same NIK or e-mail won the race: same answer as a duplicate.
        db.session.rollback()
        state().store.delete(VERIFY_KIND, token)
        log.info("registration lost a race with a concurrent one; treated as a duplicate")
        return False
    return True


def _claimable(holder: CitizenAccount) -> bool:
    """A NIK whose holder proved nothing beyond self-declaration may be claimed by another registration
    (README "Disputes"): the first to confirm the e-mail address, or the better proof, wins it."""
    if assurance.nik_level(holder.assurance) >= assurance.NIK_LEVELS[assurance.CITIZEN_REGISTRY]:
        return False
    count = db.session.execute(select(func.count()).select_from(CitizenAccount)
                               .where(CitizenAccount.claimed_nik_hash == holder.nik_hash)).scalar()
    return int(count or 0) < MAX_CLAIMANTS


def _create(reg: Registration, email: str | None, password_hash: str, *, holds: bool = True
            ) -> tuple[CitizenAccount, str]:
    crypto = state().crypto
    review = needs_review(reg)
    acr = assurance.CITIZEN_REVIEW if review else assurance.CITIZEN
    public_id = "c_" + secrets.token_urlsafe(24)
    person = Person(sub=secrets.token_urlsafe(32), status="active", name=reg.full_name, email=email,
                    email_verified=False, birthdate=reg.birthdate, gender=reg.nik.sex, locale=reg.locale)
    db.session.add(person)
    db.session.flush()
    db.session.add(IdentityLink(person_id=person.id, source=SOURCE, subject=public_id))
    account = CitizenAccount(
        public_id=public_id, person_id=person.id, nik_hash=nik_hash(reg.nik.value) if holds else None,
        claimed_nik_hash=None if holds else nik_hash(reg.nik.value),
        nik_enc=crypto.encrypt(reg.nik.value, "citizen.nik"), nik_key_id=crypto.active_kid,
        nik_masked=reg.nik.masked, email=email, password_hash=password_hash, full_name=reg.full_name,
        birthdate=reg.birthdate, gender=reg.nik.sex, review_reason=REVIEW_BIRTHDATE if review else None,
        assurance=acr, status="active",
    )
    db.session.add(account)
    db.session.flush()
    audit.record("citizen.register", person_id=person.id, review=review, claim=not holds)
    token = new_verification_token(account, reg.req, reg.browser)
    return account, token


def _notify_owners(by_nik: CitizenAccount | None, by_email: CitizenAccount | None, reg: Registration) -> None:
    owners: dict[int, tuple[CitizenAccount, list[str]]] = {}
    for account, what in ((by_nik, "nik"), (by_email, "email")):
        if account is not None:
            owners.setdefault(account.id, (account, []))[1].append(what)
    for owner, matched in owners.values():
        audit.record("citizen.register", outcome="duplicate", person_id=owner.person_id, matched=matched)
        if not owner.email or not ratelimit.allow("owner-notice", owner.public_id, OWNER_NOTICES_PER_HOUR, 3600):
            continue
        mail.send_template(owner.email, "auth/mail/duplicate.txt", name=owner.full_name,
                           nik_matched="nik" in matched, email_matched="email" in matched,
                           login_url=url_for("auth.login", _external=True),
                           resend_url=url_for("auth.resend_verification", _external=True),
                           verified=owner.email_verified_at is not None)
    db.session.commit()


# --- e-mail verification ------------------------------------------------------------------------

def new_verification_token(account: CitizenAccount, req: str | None, browser: str | None = None) -> str:
    """A single-use token for the verification link; carries ``req`` so the person can continue, and the
    value the browser that asked for it keeps (``browser``: that browser confirms without the password)."""
    token = secrets.token_urlsafe(32)
    state().store.put(VERIFY_KIND, token, {"account": account.public_id, "email": account.email, "req": req,
                                           "browser": browser},
                       int(state().config["EMAIL_VERIFY_TTL"]))
    return token


class PasswordNeeded(Exception):
    """Confirming from another browser needs the password chosen at registration; ``wrong``: it was wrong."""

    def __init__(self, wrong: bool) -> None:
        super().__init__("wrong" if wrong else "needed")
        self.wrong = wrong


def _same_browser(value: dict[str, Any], browser: str | None) -> bool:
    expected = value.get("browser")
    return bool(expected and browser and secrets.compare_digest(str(expected), browser))


def verification_needs_password(token: str, browser: str | None) -> bool:
    """True when the link is opened in another browser than the one that registered (or asked again)."""
    value = peek_verification(token)
    return value is not None and not _same_browser(value, browser)


def send_verification(account: CitizenAccount, token: str) -> None:
    ttl = int(state().config["EMAIL_VERIFY_TTL"])
    if not account.email:
        return
    mail.send_template(account.email, "auth/mail/verify.txt", name=account.full_name,
                       link=url_for("auth.verify_email", token=token, _external=True),
                       hours=max(1, ttl // 3600))


def peek_verification(token: str) -> dict[str, Any] | None:
    if not token or len(token) > 128:
        return None
    value = state().store.get(VERIFY_KIND, token)
    return value if isinstance(value, dict) else None


def confirm_email(token: str, password: str | None = None, browser: str | None = None
                  ) -> tuple[CitizenAccount | None, str | None]:
    """Consume the token (single use) and mark the address verified; ``(account, req)`` or ``(None, None)``.

    The e-mail pre-registration trick (someone registers a victim's address with a password of their own
    and waits for the victim to press the link) is closed: the link activates the account only in the
    browser that registered, or together with the password chosen at registration, so whoever confirms
    both holds the mailbox and knows the password (:class:`PasswordNeeded` otherwise; a few wrong
    passwords use the link up).
    """
    value = peek_verification(token)
    if value is None:
        return None, None
    account = db.session.execute(
        select(CitizenAccount).where(CitizenAccount.public_id == value.get("account"))
    ).scalar_one_or_none()
    if account is None or account.email != value.get("email"):
        state().store.delete(VERIFY_KIND, token)
        return None, None
    if account.email_verified_at is None and not _same_browser(value, browser):
        if not password or not encodable(password) or len(password) > passwords.MAX_LENGTH:
            raise PasswordNeeded(wrong=False)
        if not passwords.verify(account.password_hash, password):
            if not ratelimit.allow("verify-password", token, VERIFY_PASSWORD_TRIES - 1, int(
                    state().config["EMAIL_VERIFY_TTL"])):
                state().store.delete(VERIFY_KIND, token)
            audit.record("citizen.email_verified", outcome="failure", person_id=account.person_id,
                         reason="wrong password", commit=True)
            raise PasswordNeeded(wrong=True)
    if not isinstance(state().store.take(VERIFY_KIND, token), dict):
        return None, None  # used meanwhile (single use)
    if account.email_verified_at is None:
        account.email_verified_at = utcnow()
        account.person.email = account.email
        account.person.email_verified = True
        audit.record("citizen.email_verified", person_id=account.person_id)
        _first_to_verify_wins(account)
    try:
        db.session.commit()
    except IntegrityError:
        # Another claimant confirmed the same NIK at the same moment and took it: this address is still
        # confirmed, the account keeps its claim (the unique NIK hash decided the race).
        db.session.rollback()
        log.info("confirmation lost a race for a claimed NIK; the account keeps its claim")
        account = db.session.get(CitizenAccount, account.id)
        if account is None:
            return None, None
        account.email_verified_at = utcnow()
        account.person.email, account.person.email_verified = account.email, True
        audit.record("citizen.email_verified", person_id=account.person_id)
        db.session.commit()
    return account, value.get("req")


def _first_to_verify_wins(account: CitizenAccount) -> None:
    """A claimant confirming its address takes the NIK from a holder that has not confirmed its own yet."""
    if account.nik_hash is not None or account.claimed_nik_hash is None:
        return
    hashed = account.claimed_nik_hash
    holder = db.session.execute(select(CitizenAccount).where(CitizenAccount.nik_hash == hashed)).scalar_one_or_none()
    if holder is not None and holder.email_verified_at is not None:
        return  # a confirmed holder keeps it until a better proof (idp.people.nik_dispute)
    if holder is not None:
        holder.nik_hash, holder.claimed_nik_hash = None, hashed
        db.session.flush()  # the unique hash is free before the claimant takes it
        audit.record("nik.claim_lost", person_id=holder.person_id, nik=holder.nik_masked, nik_hash=hashed,
                     winner=account.person_id)
    account.nik_hash, account.claimed_nik_hash = hashed, None
    audit.record("nik.claim_won", person_id=account.person_id, nik=account.nik_masked, nik_hash=hashed)


def purge_unverified(now: dt.datetime | None = None, *, seconds: int | None = None) -> int:
    """Delete registrations whose address stayed unconfirmed (and no mobile number was confirmed either)
    longer than ``seconds`` (default ``IDP_UNVERIFIED_ACCOUNT_TTL``): their NIK, address and number are
    free again; the number deleted.  The person row goes too: nothing ever signed in with it."""
    age = int(state().config["UNVERIFIED_ACCOUNT_TTL"]) if seconds is None else seconds
    cutoff = (now or utcnow()) - dt.timedelta(seconds=age)
    stale = db.session.execute(
        select(CitizenAccount).join(Person, Person.id == CitizenAccount.person_id).where(
            CitizenAccount.email_verified_at.is_(None), Person.phone_number.is_(None),
            CitizenAccount.created_at < cutoff).limit(500)).scalars().all()
    for account in stale:
        person = account.person
        audit.record("citizen.registration_expired", person_id=person.id, nik=account.nik_masked,
                     nik_hash=account.nik_hash or account.claimed_nik_hash)
        db.session.execute(delete(IdentityLink).where(IdentityLink.source == SOURCE,
                                                      IdentityLink.subject == account.public_id))
        db.session.delete(account)
        links = db.session.execute(select(func.count()).select_from(IdentityLink)
                                   .where(IdentityLink.person_id == person.id)).scalar()
        if not links:
            db.session.delete(person)
        if account.nik_hash is not None:
            db.session.flush()  # the NIK is free: the first claimant that confirmed its address takes it
            _hand_on(account.nik_hash)
    db.session.commit()
    return len(stale)


def _hand_on(hashed: str) -> None:
    heir = db.session.execute(select(CitizenAccount).where(
        CitizenAccount.claimed_nik_hash == hashed, CitizenAccount.email_verified_at.is_not(None))
        .order_by(CitizenAccount.email_verified_at, CitizenAccount.id).limit(1)).scalar_one_or_none()
    if heir is not None:
        heir.nik_hash, heir.claimed_nik_hash = hashed, None
        audit.record("nik.claim_won", person_id=heir.person_id, nik=heir.nik_masked, nik_hash=hashed,
                     reason="holder_expired")


def resend_verification(email: str, req: str | None, browser: str | None = None) -> None:
    """Send a new link when an unverified account has this address; otherwise nothing (same answer)."""
    account = find_by_email(email) if email and len(email) <= MAX_IDENTIFIER else None
    if account is None or account.email_verified_at is not None or account.status != "active":
        return
    if not ratelimit.allow("resend", account.public_id, RESENDS_PER_HOUR, 3600):
        return
    token = new_verification_token(account, req, browser)
    try:
        send_verification(account, token)
    except mail.MailError:
        state().store.delete(VERIFY_KIND, token)
        raise


# --- sign-in ------------------------------------------------------------------------------------

class CitizenConnector:
    """Password sign-in with NIK or e-mail; implements :class:`idp.sources.base.Connector`."""

    source = SOURCE

    def authenticate(self, identifier: str, password: str) -> Identity:
        # An unusable password is refused before the database is asked (the same answer, and about the
        # same time, as an unknown account: the dummy verification).
        if not encodable(password) or not password or len(password) > passwords.MAX_LENGTH:
            passwords.dummy_verify("x")
            raise BadCredentials("invalid", detail="unusable password input")
        try:
            return self._authenticate(identifier, password)
        except OperationalError as exc:
            # The database did not answer: the sign-in page says "try again later" (503), like any source.
            db.session.rollback()
            log.error("citizen sign-in: database unavailable (%s)", type(exc).__name__)
            raise SourceUnavailable("database unavailable") from None

    def _authenticate(self, identifier: str, password: str) -> Identity:
        _, account = find_by_identifier(identifier)
        if account is None:
            passwords.dummy_verify(password)
            raise BadCredentials("invalid", detail="no such account")
        if not passwords.verify(account.password_hash, password):
            raise BadCredentials("invalid", detail="wrong password", person_id=account.person_id)
        # The password is right: from here on the messages may be specific.
        if passwords.needs_rehash(account.password_hash):
            account.password_hash = passwords.hash(password)
        if account.status != "active" or account.person.status != "active":
            raise BadCredentials("disabled", person_id=account.person_id)
        if account.email_verified_at is None and not account.person.phone_number:
            # Neither the address nor a mobile number is confirmed (a phone-only registration confirms the
            # number with its SMS code, idp.people.registration).
            raise BadCredentials("unverified", person_id=account.person_id, email=account.email or "")
        # An account that only claims its NIK proves the e-mail address alone (README "Assurance levels").
        acr = account.assurance if holds_nik(account) else assurance.CITIZEN_REVIEW
        return Identity(
            source=SOURCE, subject=account.public_id, acr=acr, amr=[assurance.AMR_PASSWORD],
            # An address not yet confirmed (a person signed in by a confirmed mobile number) is no claim.
            attributes={"name": account.full_name,
                        "email": account.email if account.email_verified_at is not None else None,
                        "email_verified": account.email_verified_at is not None,
                        "birthdate": account.birthdate.isoformat(), "gender": account.gender},
        )
