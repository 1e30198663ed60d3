"""What the browser that registered may still do: correct a mistyped address, and be signed in by the link.

After a registration the browser's cookie session holds a random *handle* (:func:`remember`), whose
store record names the new account, or nothing for a duplicate registration (whose page is the same:
no enumeration), for ``EMAIL_VERIFY_TTL``.

- :func:`correct_email`: the "check your mail" page lets the person fix a mistyped address while the
  account is unconfirmed: the account takes the new address, the old links stop working (they name the
  old address) and a new link goes to the new one.  An address another account uses gets that owner
  the "address in use" notice instead (rate-limited), the page says the same.  A duplicate's handle
  changes nothing.  At most :data:`CORRECTIONS_PER_HOUR` per handle.
- :func:`resend_phone_code` and :func:`correct_phone`: the same for a registration with a mobile number
  (the "check your phone" page): the code again, or to a corrected number, under the SMS cost guards.
- :func:`sign_in_after_verification`: the link opened in the same browser (the handle names the account
  it confirmed) starts the session: the person set the password in this browser a moment ago and has
  just shown control of the mailbox.  Not when a second factor is needed (an application asking for
  it): the person then signs in as usual.  The handle is used up either way.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import url_for
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from idp import assurance, audit, mail, ratelimit
from idp.extensions import db, setting, state
from idp.models import CitizenAccount
from idp.people import phone, signin
from idp.sources import citizen

KIND = "reg-handle"
CORRECTIONS_PER_HOUR = 3


def remember(account: CitizenAccount | None, req: str | None) -> str:
    """A handle for this browser's registration (``account`` None for a duplicate)."""
    handle = secrets.token_urlsafe(24)
    state().store.put(KIND, handle, {"account": account.public_id if account is not None else None, "req": req},
                      int(setting("EMAIL_VERIFY_TTL")))
    return handle


def _record(handle: Any) -> dict[str, Any] | None:
    if not isinstance(handle, str) or not handle or len(handle) > 64:
        return None
    value = state().store.get(KIND, handle)
    return value if isinstance(value, dict) else None


class TooMany(Exception):
    """More corrections this hour than :data:`CORRECTIONS_PER_HOUR`."""


def correct_email(handle: Any, new_email: str, browser: str | None = None) -> bool:
    """Move the unconfirmed account of ``handle`` to ``new_email`` (normalised by the caller) and mail a
    new link (``browser``: the registering browser's value, so that its link needs no password, as at
    registration); False when the handle is unknown or expired (the page starts again), True otherwise,
    whatever happened (see the module doc).  Raises :class:`TooMany`, :class:`idp.mail.MailError`."""
    record = _record(handle)
    if record is None:
        return False
    if not ratelimit.allow("reg-correct", str(handle), CORRECTIONS_PER_HOUR, 3600):
        raise TooMany()
    account = citizen.find_by_public_id(str(record.get("account") or ""))
    new_email = citizen.normalize_email(new_email)
    if account is None or account.email_verified_at is not None or account.status != "active":
        return True  # a duplicate's handle, or an address already confirmed: nothing to correct
    if account.email == new_email:
        citizen.resend_verification(new_email, record.get("req"), browser)
        return True
    owner = citizen.find_by_email(new_email)
    if owner is not None:
        if owner.email and ratelimit.allow("owner-notice", owner.public_id, citizen.OWNER_NOTICES_PER_HOUR, 3600):
            mail.send_template(owner.email, "auth/mail/email_in_use.txt", name=owner.full_name,
                               login_url=url_for("auth.login", _external=True))
        audit.record("citizen.email_corrected", outcome="in_use", person_id=account.person_id, commit=True)
        return True
    account.email = new_email
    account.person.email = new_email
    audit.record("citizen.email_corrected", person_id=account.person_id)
    try:
        db.session.flush()
    except IntegrityError:  # a registration with this address won a race
        db.session.rollback()
        return True
    token = citizen.new_verification_token(account, record.get("req"), browser)
    try:
        citizen.send_verification(account, token)
        db.session.commit()
    except mail.MailError:
        db.session.rollback()
        state().store.delete(citizen.VERIFY_KIND, token)
        raise
    return True


def sign_in_after_verification(handle: Any, account: CitizenAccount,
                               pending: dict[str, Any] | None) -> signin.Finished | None:
    """Start the session when ``handle`` (this browser's registration) names ``account``; else None."""
    record = _record(handle)
    if record is None or record.get("account") != account.public_id:
        return None
    state().store.delete(KIND, str(handle))
    person = account.person
    if person.status != "active" or account.status != "active" or \
            signin.second_factor_needed(person, citizen.SOURCE, pending):
        return None
    return signin.finish(person, acr=account.assurance, amr=[assurance.AMR_PASSWORD], source=citizen.SOURCE,
                         remember=False, pending=pending)


def send_phone_code(handle: Any, number: str, *, ip: str | None) -> None:
    """A phone registration: the SMS code to the new account's number (from a thread); nothing for a
    duplicate's handle (the page is the same).  The handle remembers the number (to send again)."""
    record = _record(handle)
    if record is None:
        return
    _keep(str(handle), {**record, "phone": number})
    account = citizen.find_by_public_id(str(record.get("account") or ""))
    if account is not None:
        phone.request_code(account.person, number, ip=ip, background=True)


def _keep(handle: str, record: dict[str, Any]) -> None:
    store = state().store
    store.put(KIND, handle, record, max(1, store.ttl(KIND, handle) or int(setting("EMAIL_VERIFY_TTL"))))


def _unconfirmed_phone_account(record: dict[str, Any]) -> CitizenAccount | None:
    """The handle's account while its number waits for the code (None for a duplicate or once confirmed)."""
    account = citizen.find_by_public_id(str(record.get("account") or ""))
    if account is None or account.status != "active" or account.person.phone_number is not None:
        return None
    return account


def resend_phone_code(handle: Any, *, ip: str | None) -> bool:
    """"Send the code again" on the "check your phone" page: a new code to the registration's number,
    from a thread, under the SMS cost guards (per number, per address, the daily cap: a text over them is
    not sent and the earlier code keeps working).  False when the handle is unknown or expired; True
    otherwise, whatever happened (a duplicate's handle sends nothing: the page is the same).  At most
    :data:`CORRECTIONS_PER_HOUR` per handle (:class:`TooMany`)."""
    record = _record(handle)
    if record is None or not record.get("phone"):
        return False
    if not ratelimit.allow("reg-phone-resend", str(handle), CORRECTIONS_PER_HOUR, 3600):
        raise TooMany()
    account = _unconfirmed_phone_account(record)
    if account is not None:
        phone.request_code(account.person, str(record["phone"]), ip=ip, background=True)
        audit.record("citizen.phone_code_resent", person_id=account.person_id, commit=True)
    return True


def correct_phone(handle: Any, new_number: str, *, ip: str | None) -> bool:
    """"Wrong number? Correct it": the code goes to ``new_number`` (E.164, normalised by the caller)
    instead, and the earlier code stops working (it was bound to the old number).  A number another
    account holds is found out only when the code is typed (the person then proved they hold it; the page
    names the help desk).  False when the handle is unknown or expired; True otherwise (a duplicate's
    handle sends nothing).  Shares the :data:`CORRECTIONS_PER_HOUR` of the e-mail corrections."""
    record = _record(handle)
    if record is None or not record.get("phone"):
        return False
    if not ratelimit.allow("reg-correct", str(handle), CORRECTIONS_PER_HOUR, 3600):
        raise TooMany()
    _keep(str(handle), {**record, "phone": new_number})
    account = _unconfirmed_phone_account(record)
    if account is not None:
        state().store.delete(phone.KIND, str(account.person_id))  # the old number's code is void
        phone.request_code(account.person, new_number, ip=ip, background=True)
        audit.record("citizen.phone_corrected", person_id=account.person_id, commit=True)
    return True


def confirm_phone(handle: Any, code: str, pending: dict[str, Any] | None) -> signin.Finished | None:
    """The SMS code typed on the "check your phone" page: the number is confirmed (the account can sign
    in) and the person is signed in as by the e-mail link; :class:`idp.people.phone.PhoneError` otherwise."""
    record = _record(handle)
    account = citizen.find_by_public_id(str((record or {}).get("account") or ""))
    if account is None:
        # A duplicate's (or an expired) handle: a wrong code, limited like one.
        if not ratelimit.allow("reg-phone-dup", str(handle)[:64], phone.MAX_TRIES, 3600):
            raise phone.PhoneError(gettext("Too many wrong codes. Please ask for a new one."), 429)
        raise phone.PhoneError(gettext("This code is not right."), 401)
    phone.confirm(account.person, code, registering=True)
    audit.record("citizen.phone_verified", person_id=account.person_id, commit=True)
    return sign_in_after_verification(handle, account, pending)
