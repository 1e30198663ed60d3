"""A person's mobile number: normalised to E.164 (Indonesian numbers), stored only once proved by a code.

:func:`normalize` reads what people type (``0812-3456-7890``, ``+62 812 3456 7890``, ``62812...``,
``812...``) with the ``phonenumbers`` library (Indonesia as the default region) and accepts mobile
numbers only (a landline cannot receive the code).  :func:`request_code` sends a 6-digit code by
:mod:`idp.sms` (the cost guards apply) and keeps it, hashed and bound to the person and the number, in
the store for ``CODE_TTL`` with at most ``MAX_TRIES`` wrong codes; :func:`confirm` stores the number on
the person, which makes it the ``phone_number`` claim with ``phone_number_verified`` true (OpenID Connect
Core 5.1, scope ``phone``, 5.4).  A number another person already holds is refused with the same words
as a wrong code would not be (the person proved control of it; they should know to ask the help desk,
whose contact the page shows).  Adding, replacing and removing a number are security notices.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp import audit, mail, sms
from idp.extensions import db, state
from idp.models import Person
from idp.people import notices
from idp.store import StoreUnavailable

log = logging.getLogger(__name__)

KIND = "phone-verify"
CODE_TTL = 600
MAX_TRIES = 5


class PhoneError(Exception):
    """A refused step; ``message`` is the public text, ``status`` the page's HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def normalize(raw: str) -> str | None:
    """The E.164 form of an Indonesian mobile number as people type it, or None (:func:`idp.sms.normalize_mobile`)."""
    return sms.normalize_mobile(raw)


def find_person(number: str) -> Person | None:
    """The person whose verified number this is."""
    return db.session.execute(select(Person).where(Person.phone_number == number)).scalar_one_or_none()


def _hash(person_id: int, number: str, code: str) -> str:
    return str(state().crypto.keyed_hash("phone-code", f"{person_id}:{number}:{code}"))


def request_code(person: Person, number: str, *, ip: str | None, background: bool = False) -> None:
    """Send a code to ``number`` (E.164) for ``person``; :class:`PhoneError` when it cannot be sent.

    ``background``: store the code and send from a thread, failures logged (registration: the page must
    not take longer for a new account than for a duplicate, which gets no message)."""
    code = f"{secrets.randbelow(10 ** 6):06d}"
    texts = []
    for lang in mail.LANGUAGES:  # Indonesian first, as in the mails
        with force_locale(lang):
            texts.append(gettext("Banten SSO code: %(code)s. It confirms this number for your account; valid for "
                                 "10 minutes. Never tell it to anybody.", code=code))
    text = " / ".join(dict.fromkeys(texts))
    if background:
        store, key = state().store, str(person.id)  # the thread must not touch the ORM object
        previous, left = store.get(KIND, key), store.ttl(KIND, key)
        record = {"number": number, "code": _hash(person.id, number, code), "tries": 0}
        store.put(KIND, key, record, CODE_TTL)
        app = current_app._get_current_object()  # type: ignore[attr-defined]

        def run() -> None:
            with app.app_context():
                try:
                    sms.send(number, text, kind="phone_verify", ip=ip)
                except sms.SmsError as exc:
                    log.warning("could not send the registration code by SMS: %s", exc)
                    # A code that never left must not replace one the person may already hold (a resend
                    # over the SMS limits keeps the earlier code working).
                    if isinstance(previous, dict) and store.get(KIND, key) == record:
                        store.put(KIND, key, previous, max(1, left or 1))
                except StoreUnavailable:  # the SMS limits could not be counted: nothing was sent
                    log.warning("could not send the registration code by SMS: the store is unavailable")

        threading.Thread(target=run, name="idp-phone-code", daemon=True).start()
        return
    try:
        sms.send(number, text, kind="phone_verify", ip=ip)
    except sms.SmsLimited:
        raise PhoneError(gettext("Too many codes were sent. Please try again later."), 429) from None
    except sms.SmsError:
        raise PhoneError(gettext("We could not send the text message right now. Please try again in a few "
                                 "minutes."), 503) from None
    state().store.put(KIND, str(person.id), {"number": number, "code": _hash(person.id, number, code), "tries": 0},
                      CODE_TTL)
    audit.record("phone.code_sent", person_id=person.id, commit=True)


def pending(person: Person) -> str | None:
    """The number waiting for its code, if any."""
    value = state().store.get(KIND, str(person.id))
    return str(value["number"]) if isinstance(value, dict) else None


def confirm(person: Person, code: str, *, registering: bool = False) -> str:
    """Check the code; store the number on the person.  Returns the number; :class:`PhoneError` otherwise.

    A number added, replaced or removed is a security notice (it is a recovery channel and a sign-in
    identifier; :mod:`idp.people.notices`), to the replaced number too when the person has only a phone;
    ``registering``: the number of a registration, confirmed by the person who just registered with it
    (nothing changed on an existing account)."""
    store = state().store
    value = store.get(KIND, str(person.id))
    if not isinstance(value, dict):
        raise PhoneError(gettext("The code has expired. Please ask for a new one."), 400)
    number = str(value["number"])
    typed = "".join(ch for ch in (code or "") if not ch.isspace())[:16]
    if not hmac.compare_digest(_hash(person.id, number, typed), str(value["code"])):
        tries = int(value.get("tries", 0)) + 1
        if tries >= MAX_TRIES:
            store.delete(KIND, str(person.id))
            raise PhoneError(gettext("Too many wrong codes. Please ask for a new one."), 429)
        store.put(KIND, str(person.id), {**value, "tries": tries}, max(1, store.ttl(KIND, str(person.id)) or 1))
        raise PhoneError(gettext("This code is not right."), 401)
    store.delete(KIND, str(person.id))
    holder = find_person(number)
    if holder is not None and holder.id != person.id:
        raise PhoneError(gettext("This number belongs to another account. If it is yours, please contact the "
                                 "help desk."), 409)
    replaced = person.phone_number
    person.phone_number = number
    audit.record("profile.updated", person_id=person.id, fields=["phone_number"])
    if not registering and replaced != number:  # added or replaced: a new recovery channel and identifier
        notices.notify(person, notices.PHONE, replaced_phone=replaced)
    try:
        db.session.commit()
    except IntegrityError:  # another person confirmed the number at the same moment
        db.session.rollback()
        raise PhoneError(gettext("This number belongs to another account. If it is yours, please contact the "
                                 "help desk."), 409) from None
    return number


def remove(person: Person) -> None:
    """Forget the person's number (the claim goes with it)."""
    removed = person.phone_number
    person.phone_number = None
    audit.record("profile.updated", person_id=person.id, fields=["phone_number"])
    notices.notify(person, notices.PHONE, replaced_phone=removed)  # a phone-only person: told at that number
    db.session.commit()
