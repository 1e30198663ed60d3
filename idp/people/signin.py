"""The sign-in: prove a credential under the brute-force limits, find the person, ask for the second
factor when one is needed, start the session.

The pages are :mod:`idp.web.auth` (password) and :mod:`idp.web.mfa` (code); account linking
(:mod:`idp.web.linking`) proves its second credential with :func:`prove` too.  After the password, a
person who needs a second factor (:func:`second_factor_needed`) is *parked*: the proof waits in the
store under a random token (kind ``mfa-pending``, five minutes) named in the browser's cookie session,
and the session starts only after the code (:func:`finish`).  What the pages show of a failure is a
:class:`Refusal`: an HTTP status and public text, the same for an unknown account as for a wrong
password (no enumeration).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, request, session, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.routing import BuildError

from idp import assurance, audit, mail, metrics, passwords, ratelimit, sms, sources
from idp.crypto import random_token
from idp.extensions import db, state
from idp.models import CitizenAccount, Person, StaffAccount
from idp.people import linking, mfa, notices, passkeys, provisioning, roles, signout
from idp.people import session as login_session
from idp.sources import citizen, nik
from idp.sources.base import BadCredentials, Connector, Identity, SourceUnavailable

log = logging.getLogger(__name__)

MAX_FIELD = 254
PARKED_TTL = 300
PARKED_KEY = "mfa_pending"  # the cookie session's entry naming the parked proof


# --- login kinds (the identity sources, idp.sources.registry) ----------------------------------------
AUTO = "auto"


def login_kinds() -> list[tuple[str, Any, Callable[[], Connector]]]:
    """The kinds of sign-in this provider offers now (staff only when a directory is configured)."""
    return [(source.name, source.label, source.connector) for source in sources.available()]


def auto_kind(identifier: str, offered: list[str]) -> str:
    """The kind for a sign-in where the person chose none (the rule documented in the README).

    The first offered source that recognizes the identifier (``Source.recognizes``): 16 digits (spaces,
    dots and dashes ignored) or anything with "@" is a citizen, anything else a staff user name when a
    directory is configured.  An explicit choice always wins (Active Directory staff who type
    ``name@domain`` choose "Pegawai").
    """
    for name in sources.names():
        if name in offered and sources.get(name).recognizes(identifier):
            return name
    return sources.names()[0]


# What the page says for a wrong credential, per kind (the same text for an unknown user: no enumeration).
WRONG_CREDENTIALS: dict[str, Any] = {source.name: source.wrong_credentials for source in sources.SOURCES}
# Why an existing account cannot sign in (BadCredentials.reason), shown with HTTP 403.
REFUSED: dict[str, Any] = {
    "disabled": _l("This account has been disabled. Please contact the help desk."),
    "locked": _l("This directory account is locked. Ask your agency's directory administrator to unlock it."),
    "password_expired": _l("Your directory password has expired. Change it the way your agency provides "
                           "(for example on a work computer), then sign in again."),
    "must_change": _l("You must change your directory password before you can sign in. Change it the way "
                      "your agency provides (for example on a work computer), then sign in again."),
}
UNAVAILABLE: dict[str, Any] = {source.name: source.unavailable for source in sources.SOURCES}


# --- outcomes ------------------------------------------------------------------------------------
class Refusal(Exception):
    """A credential check that did not prove anybody: the HTTP status and what the page shows.

    ``error`` is public text; ``locked_minutes`` says how long the limits pause sign-in; ``unavailable``
    marks a source that did not answer; ``unverified_email`` is set for a citizen whose address is not
    confirmed yet (the page offers to send the link again); ``missing`` names the empty fields of a form
    that was not complete (:func:`missing`: nothing was checked or counted).
    """

    def __init__(self, status: int, *, error: Any = None, locked_minutes: int | None = None,
                 unavailable: bool = False, unverified_email: str | None = None,
                 missing: tuple[str, ...] = ()) -> None:
        super().__init__(status)
        self.status = status
        self.error = error
        self.locked_minutes = locked_minutes
        self.unavailable = unavailable
        self.unverified_email = unverified_email
        self.missing = missing  # the empty fields of an incomplete form (status 400, nothing was checked)


@dataclass(frozen=True)
class Parked:
    """A proved first factor waiting for the code (:func:`park`); ``req`` is the authorization request."""

    person_id: int
    acr: str
    amr: list[str]
    source: str
    remember: bool
    req: str | None = None


@dataclass(frozen=True)
class Finished:
    """A started (or renewed) session: where the page goes on is the page's affair.

    ``offer_link``: a staff sign-in whose directory data suggest a citizen account here (offer the
    link); ``recovery_codes_left``: set when a recovery code was used.
    """

    person: Person
    offer_link: bool = False
    recovery_codes_left: int | None = None


# --- empty fields ------------------------------------------------------------------------------------
REQUIRED = _l("Required.")


def blank(value: str | None) -> bool:
    """Whether a typed value is empty: nothing at all, or white space only (a field left empty)."""
    return not (value or "").strip()


def missing(**fields: str | None) -> tuple[str, ...]:
    """The names of the empty fields (:func:`blank`) among ``fields``, in their order.

    An empty user name, NIK, password or code is an incomplete form, not a failed attempt: the pages
    answer "Required." at the field (:func:`idp.web.forms.required`), no source is asked (an empty
    password is an anonymous bind on many directories), no counter moves, and the answer is the same
    whether or not an account exists.  The checks below refuse it again for every other caller.
    """
    return tuple(name for name, value in fields.items() if blank(value))


# --- proving a credential ----------------------------------------------------------------------------
def _normalized_identifier(identifier: str) -> str:
    if nik.looks_like_nik(identifier):
        return nik.normalize(identifier) or ""
    # Every way of typing one mobile number counts on one counter (its E.164 form).
    return sms.normalize_mobile(identifier) or identifier[:MAX_FIELD].strip().lower()


def prove(kind: str, identifier: str, password: str) -> Identity:
    """Check a credential of ``kind`` under the brute-force limits; the :class:`Identity` or :class:`Refusal`.

    Used by the sign-in page and by account linking (which proves a second credential).  The limits
    are checked BEFORE the connector: a locked-out user name costs the directory nothing.  An empty
    identifier or password (:func:`missing`) is refused before both (400, ``Refusal.missing``): it
    neither reaches the source nor counts as a failure.
    """
    empty = missing(identifier=identifier, password=password)
    if empty:
        raise Refusal(400, error=REQUIRED, missing=empty)
    factory = {value: f for value, _, f in login_kinds()}[kind]
    ident_key = ratelimit.identifier_key(f"{kind}:{_normalized_identifier(identifier)}")
    ip = request.remote_addr
    generic = WRONG_CREDENTIALS[kind]
    wait = ratelimit.locked_for(ident_key, ip)
    if wait:
        metrics.sign_in(kind, "locked")
        raise Refusal(429, error=generic, locked_minutes=ratelimit.minutes(wait))
    try:
        proved = factory().authenticate(identifier, password)
    except SourceUnavailable:
        # The connector logged which server failed; citizens are not affected by a directory outage.
        log.warning("sign-in source %s unavailable", kind)
        metrics.sign_in(kind, "unavailable")
        if dependency := sources.get(kind).dependency:
            metrics.dependency_error(dependency)
        raise Refusal(503, error=UNAVAILABLE[kind], unavailable=True) from None
    except BadCredentials as exc:
        person_id = exc.context.get("person_id")
        if exc.reason == "invalid" or (exc.reason == "locked" and sources.get(kind).own_lockout):
            locked = ratelimit.record_failure(ident_key, ip)
            audit.record("login", outcome="failure", person_id=person_id, reason="invalid", source=kind,
                         account_key=ident_key)
            db.session.commit()
            if locked:
                _notify_lock(kind, identifier, person_id, locked)
            raise Refusal(429 if locked else 401, error=generic,
                          locked_minutes=ratelimit.minutes(locked) if locked else None) from None
        ratelimit.record_success(ident_key)
        audit.record("login", outcome="failure", person_id=person_id, reason=exc.reason, source=kind)
        db.session.commit()  # keeps a rehashed password
        if exc.reason == "unverified":
            raise Refusal(403, unverified_email=str(exc.context.get("email", ""))) from None
        raise Refusal(403, error=REFUSED.get(exc.reason, _l("You cannot sign in with this account right now. "
                                                             "Please contact the help desk."))) from None
    ratelimit.record_success(ident_key)
    return proved


def citizen_limit_keys(account: CitizenAccount) -> list[str]:
    """The sign-in page's per-identifier counters of this citizen: one for each identifier the page
    accepts for the account (the NIK, the e-mail address, the verified mobile number)."""
    typed = [citizen.decrypt_nik(account) or "", account.email or "", account.person.phone_number or ""]
    return [ratelimit.identifier_key(f"citizen:{_normalized_identifier(value)}") for value in typed if value]


def check_current_password(account: CitizenAccount, password: str) -> None:
    """The current password of a signed-in citizen (to change it), under the sign-in page's limits.

    The same per-identifier and per-IP counters as :func:`prove`, so a stolen session cannot guess the
    password here more often than at the sign-in page, and failures here lock the sign-in page too.
    Raises :class:`Refusal` (401 wrong, 429 locked; 400 empty, neither checked nor counted).
    """
    if blank(password):
        raise Refusal(400, error=REQUIRED, missing=("password",))
    keys = citizen_limit_keys(account)
    ip = request.remote_addr
    wait = ratelimit.locked_for(keys, ip)
    if wait:
        raise Refusal(429, locked_minutes=ratelimit.minutes(wait))
    if not passwords.verify(account.password_hash, password):
        locked = ratelimit.record_failure(keys, ip)
        if locked:
            _notify_lock("citizen", "", account.person_id, locked)
        raise Refusal(429 if locked else 401, locked_minutes=ratelimit.minutes(locked) if locked else None)
    ratelimit.record_success(keys)


def _notify_lock(kind: str, identifier: str, person_id: int | None, seconds: int) -> None:
    """Tell the owner of a real account that sign-in is paused (the page says the same to everybody).

    The mail goes out from a thread, so that the answer takes no longer for a real account than for an
    unknown one; a failure to send is logged, never shown.
    """
    if person_id is None and kind == "ldap":
        person_id = db.session.execute(select(StaffAccount.person_id).where(
            StaffAccount.username == identifier.strip().lower()[:MAX_FIELD])).scalars().first()
    person = db.session.get(Person, person_id) if person_id is not None else None
    if person is None or not person.email:
        return
    try:
        two_step_url = url_for("mfa.status", _external=True)
    except BuildError:
        two_step_url = state().config["ISSUER"] + "/account/two-step"
    try:
        forgot_url = url_for("auth.forgot_password", _external=True)
    except BuildError:
        forgot_url = state().config["ISSUER"] + "/forgot-password"
    subject, body = mail.render("auth/mail/locked.txt", name=person.name or "", minutes=ratelimit.minutes(seconds),
                                two_step_url=two_step_url, forgot_url=forgot_url)
    app, to = current_app._get_current_object(), person.email  # type: ignore[attr-defined]
    audit.record("login.locked", person_id=person.id, source=kind, seconds=seconds, commit=True)

    def send() -> None:
        with app.app_context():
            try:
                mail.send(to, subject, body, kind="locked")
            except mail.MailError:
                log.warning("could not send the sign-in lock notice")

    threading.Thread(target=send, name="idp-lock-notice", daemon=True).start()


def person_for(proved: Identity) -> Person:
    """The person behind a proved identity; staff also get their directory record refreshed."""
    return provisioning.provision(proved)


# --- the sign-in -----------------------------------------------------------------------------------
def second_factor_needed(person: Person, source: str, pending: dict[str, Any] | None) -> bool:
    """Whether this sign-in needs a second factor: the person has one, the application asks for the MFA
    level (``acr_values`` of the ``pending`` authorization request), or the person holds a role that
    requires it (``IDP_MFA_REQUIRED_ROLES``), whichever credential (``source``) was used."""
    # A role that requires a second factor requires it whatever credential proved the person: an
    # administrator who also linked a citizen account must not skip it by signing in as the citizen.
    has_factor, role_requires = roles.sign_in_facts(person.id)
    if has_factor or role_requires:
        return True
    params = dict((pending or {}).get("params") or [])
    return assurance.MFA in str(params.get("acr_values") or "").split()


def sign_in(kind: str, identifier: str, password: str, *, remember: bool, req: str | None,
            pending: dict[str, Any] | None, link_offer_declined: bool = False) -> Parked | Finished:
    """The password step: prove the credential, then park it for the code (:class:`Parked`) or start the
    session (:class:`Finished`).  ``pending`` is the authorization request ``req`` names, if any; a
    failure raises :class:`Refusal`."""
    proved = prove(kind, identifier, password)
    person = person_for(proved)
    if person.status != "active":
        db.session.rollback()
        raise Refusal(403, error=REFUSED["disabled"])
    remember = remember and state().config["SESSION_REMEMBER_TTL"] > 0
    if second_factor_needed(person, proved.source, pending):
        # The password is proved; the session starts only after the code (idp.web.mfa).
        db.session.commit()  # the person's record as refreshed from the source
        parked = Parked(person_id=person.id, acr=proved.acr, amr=list(proved.amr), source=proved.source,
                        remember=remember, req=req)
        park(parked)
        return parked
    return finish(person, acr=proved.acr, amr=list(proved.amr), source=proved.source, remember=remember,
                  pending=pending, link_offer_declined=link_offer_declined)


def finish(person: Person, *, acr: str, amr: list[str], source: str, remember: bool,
           pending: dict[str, Any] | None, recovery: bool = False, link_offer_declined: bool = False) -> Finished:
    """Start (or renew) the session of a person who proved every factor asked of them."""
    previous = login_session.current()
    if previous is not None and previous.person_id == person.id:
        login_session.reauthenticate(previous, acr=acr, amr=amr, source=source)
    else:
        # Another person signs in in this browser: the previous session ends, with its consequences
        # (refresh tokens of that session revoked, back-channel notices to its applications).
        signout.sessions_ended([login_session.end()], reason="new-sign-in")
        login_session.begin(person_id=person.id, sub=person.sub, acr=acr, amr=amr, source=source,
                            remember=remember)
    person_id = person.id  # read before the commit expires the row (no reload just for its id)
    audit.record("login", person_id=person_id, client_id=(pending or {}).get("client_id"), source=source, acr=acr)
    notices.device_seen(person)  # a sign-in from a browser not seen before: the person is told
    # The directory's NIK, or its NIP's birth date and sex digit, suggests a citizen account here
    # (idp.people.linking.citizen_link_offered): offer the link (it still needs that account's password).
    # Asked inside the sign-in's transaction: after the commit its reads would open another one, ended
    # by a ROLLBACK at the request's end (one more round trip per staff sign-in).
    offer = source == "ldap" and not link_offer_declined and linking.citizen_link_offered(person_id)
    db.session.commit()
    return Finished(person, offer_link=offer,
                    recovery_codes_left=mfa.recovery_codes_left(person_id) if recovery else None)


def with_otp(amr: list[str]) -> list[str]:
    """``amr`` with a one-time code added (RFC 8176 ``otp`` and ``mfa``)."""
    return list(dict.fromkeys([*amr, assurance.AMR_OTP, assurance.AMR_MFA]))


# --- the parked first factor ---------------------------------------------------------------------
def park(parked: Parked) -> str:
    """Keep a proved first factor for the code page; the cookie session names it.  Returns the token."""
    token = random_token(24)
    state().store.put("mfa-pending", token, dataclasses.asdict(parked), PARKED_TTL)
    session[PARKED_KEY] = token
    return token


def parked() -> tuple[str, Parked] | None:
    """This browser's parked first factor (its token and contents), or None."""
    token = session.get(PARKED_KEY)
    if not isinstance(token, str) or len(token) > 64:
        return None
    value = state().store.get("mfa-pending", token)
    if not isinstance(value, dict):
        return None
    return token, Parked(person_id=int(value["person_id"]), acr=str(value.get("acr") or ""),
                         amr=list(value.get("amr") or []), source=str(value.get("source")),
                         remember=bool(value.get("remember")), req=value.get("req"))


def unpark(token: str) -> bool:
    """Use up a parked first factor; False when a parallel request used it meanwhile."""
    taken = state().store.take("mfa-pending", token) is not None
    if taken:
        session.pop(PARKED_KEY, None)
    return taken


def drop_parked(token: str) -> None:
    """Forget a parked first factor (too many wrong codes: start again from the password)."""
    state().store.delete("mfa-pending", token)
    session.pop(PARKED_KEY, None)


def second_factor_passkey(token: str, held: Parked, ceremony: str | None, answer: str | None, *,
                          pending: dict[str, Any] | None, link_offer_declined: bool = False) -> Finished | None:
    """The passkey variant of :func:`second_factor`: the browser's answer to the ceremony started for the
    parked first factor (binding ``parked:<token>``).  Failures count towards the same limits as wrong
    codes; :class:`Refusal` 401/429, and :class:`idp.people.passkeys.PasskeyError` is not leaked."""
    key = ratelimit.identifier_key(f"mfa:{held.person_id}")
    locked = ratelimit.locked_for(key, request.remote_addr)
    used = None
    if not locked:
        try:
            used = passkeys.authenticate("parked:" + token, ceremony, answer, held.person_id)
        except passkeys.PasskeyError as exc:
            log.info("passkey second factor refused: %s (%s)", exc.reason, exc.detail)
    person = _second_step_outcome(token, held, key, locked, proved=used is not None, method="passkey")
    if person is None or used is None:
        return None
    return finish(person, acr=assurance.MFA, amr=passkeys.with_passkey(held.amr, used), source=held.source,
                  remember=held.remember, pending=pending, link_offer_declined=link_offer_declined)


def _second_step_outcome(token: str, held: Parked, key: str, locked: int, *, proved: bool,
                         method: str | None = None) -> Person | None:
    """The shared end of both second-factor steps (code, passkey): a failed proof counts towards the
    limits and raises :class:`Refusal` (401; 429 once locked, when the parked proof goes too); a good
    one uses up the parked first factor.  The person, or None when a parallel request used the proof
    meanwhile or the person is no longer active."""
    if not proved:
        started = locked or ratelimit.record_failure(key, request.remote_addr)
        audit.record("login.second_factor", outcome="failure", person_id=held.person_id, source=held.source,
                     commit=True, **({"method": method} if method else {}))
        if started:
            drop_parked(token)
            raise Refusal(429, locked_minutes=ratelimit.minutes(started))
        raise Refusal(401)
    ratelimit.record_success(key)
    if not unpark(token):
        return None
    person = db.session.get(Person, held.person_id)
    if person is None or person.status != "active":
        return None
    return person


PASSKEY_REFUSED = _l("That passkey did not work here. Try again, or sign in with your password.")
PASSKEY_STAFF = _l("Staff sign in with the directory password first; then the passkey confirms it.")


def passwordless(binding: str, ceremony: str | None, answer: str | None, *, remember: bool,
                 pending: dict[str, Any] | None, link_offer_declined: bool = False) -> Finished:
    """A citizen's sign-in with a passkey alone (a discoverable credential, user verified): the passkey is
    both factors (something the person has, unlocked by their PIN or biometrics), so the session is at the
    MFA level (RFC 8176 ``hwk``, ``user``, ``mfa``).

    Only for a person with an active, confirmed citizen account and no directory account: a staff member's
    directory password stays the first factor, so that the directory can still disable them.  A failure
    raises :class:`Refusal` (401; 403 for staff or a disabled account) and counts against the address.
    """
    ip = request.remote_addr  # no identifier is typed: the address's own limit counts the failures
    wait = ratelimit.locked_for([], ip) if ip else 0
    if wait:
        raise Refusal(429, error=PASSKEY_REFUSED, locked_minutes=ratelimit.minutes(wait))
    try:
        used = passkeys.authenticate(binding, ceremony, answer, None)
    except passkeys.PasskeyError as exc:
        log.info("passwordless sign-in refused: %s (%s)", exc.reason, exc.detail)
        locked = ratelimit.record_failure([], ip) if ip else 0
        audit.record("login", outcome="failure", reason="passkey_" + exc.reason, source="passkey", commit=True)
        raise Refusal(429 if locked else 401, error=PASSKEY_REFUSED,
                      locked_minutes=ratelimit.minutes(locked) if locked else None) from None
    person = db.session.get(Person, used.person_id)
    account = db.session.execute(select(CitizenAccount).where(
        CitizenAccount.person_id == used.person_id)).scalar_one_or_none()
    if db.session.execute(select(StaffAccount.id).where(StaffAccount.person_id == used.person_id)).first():
        audit.record("login", outcome="failure", person_id=used.person_id, reason="passkey_staff",
                     source="passkey", commit=True)
        raise Refusal(403, error=PASSKEY_STAFF)
    if (person is None or person.status != "active" or account is None or account.status != "active"
            or account.email_verified_at is None):
        audit.record("login", outcome="failure", person_id=used.person_id, reason="disabled", source="passkey",
                     commit=True)
        raise Refusal(403, error=REFUSED["disabled"])
    remember = remember and state().config["SESSION_REMEMBER_TTL"] > 0
    return finish(person, acr=assurance.MFA, amr=passkeys.with_passkey([], used), source=citizen.SOURCE,
                  remember=remember, pending=pending, link_offer_declined=link_offer_declined)


def second_factor(token: str, held: Parked, code: str | None, *, pending: dict[str, Any] | None,
                  link_offer_declined: bool = False) -> Finished | None:
    """The code step: check ``code`` for the parked first factor ``held`` (named by ``token``) under the
    limits, then start the session.  A wrong code raises :class:`Refusal` (401; 429 once locked, when the
    parked proof goes too, so that an attacker must start again from the password).  None: the proof
    was used by a parallel request meanwhile, or the person is no longer active."""
    key = ratelimit.identifier_key(f"mfa:{held.person_id}")
    locked = ratelimit.locked_for(key, request.remote_addr)
    method = None if locked else mfa.verify(held.person_id, code)
    person = _second_step_outcome(token, held, key, locked, proved=method is not None)
    if person is None:
        return None
    return finish(person, acr=assurance.MFA, amr=with_otp(held.amr), source=held.source, remember=held.remember,
                  pending=pending, recovery=method == "recovery", link_offer_declined=link_offer_declined)
