"""Security notices: the person is told when the password, the e-mail address, the mobile number or the
second factor changes, and when someone signs in from a device not seen before.

:func:`notify` mails the confirmed address (or, when only a mobile number is confirmed, sends an SMS),
from a thread so that no page waits for the mail server.  Every notice carries a "this was not me" link
(a random token kept :data:`NOT_ME_TTL` in the store): :func:`not_me` ends every session of the person,
revokes every refresh token (Back-Channel Logout notices go out as for any sign-out) and the page then
starts the forgotten-password recovery (:mod:`idp.people.recovery`).

Devices are told apart by a random, long-lived cookie (:data:`DEVICE_COOKIE`); the store keeps the
device ids each person signed in from (:data:`DEVICE_TTL`).  The very first sign-in of a person is no
"new device" (there is nothing to compare with).
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

from flask import Flask, Response, current_app, g, request, url_for
from flask_babel import force_locale, gettext

from idp import audit, events, mail, sms
from idp.extensions import db, state
from idp.models import Person
from idp.people import session as login_session
from idp.people import signout
from idp.people.session import device_of
from idp.store import StoreUnavailable

log = logging.getLogger(__name__)

NOT_ME_KIND = "not-me"
NOT_ME_TTL = 14 * 86400
DEVICE_COOKIE = "idp_device"
DEVICE_KIND = "devices"
DEVICE_TTL = 365 * 86400

PASSWORD, EMAIL, PHONE, SECOND_FACTOR, NEW_DEVICE = "password", "email", "phone", "second_factor", "new_device"
EVENTS = (PASSWORD, EMAIL, PHONE, SECOND_FACTOR, NEW_DEVICE)


def notify(person: Person, event: str, *, to_email: str | None = None, replaced_phone: str | None = None) -> None:
    """Tell ``person`` that ``event`` happened (one of :data:`EVENTS`); ``to_email`` overrides the address
    (an e-mail change tells the address that was replaced).  ``replaced_phone``: the number a change of
    number replaced or removed; when the person is told by SMS (no confirmed e-mail address), that number
    is told too, as it is the one the real owner holds.  Each recipient gets a "this was not me" link of
    its own (a link used up by the holder of the new number leaves the owner's working).  Never raises: a
    notice that cannot be sent is logged."""
    device = device_of(request.user_agent.string if request else None) or ""
    address = to_email or (person.email if person.email and person.email_verified else None)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    audit.record("security.notice", person_id=person.id, notice=event)
    if address:
        link = _not_me_link(person, event)
        subject, body = mail.render("auth/mail/security_notice.txt", name=person.name or "", event=event,
                                    device=device, not_me_url=link,
                                    forgot_url=url_for("auth.forgot_password", _external=True))
        _later(app, lambda: mail.send(address, subject, body, kind=f"notice_{event}"))
        return
    ip = request.remote_addr
    for number in dict.fromkeys(n for n in (person.phone_number, replaced_phone) if n):
        _sms_notice(app, number, event, _not_me_link(person, event), ip)


def _not_me_link(person: Person, event: str) -> str:
    """A fresh "this was not me" link (its token kept :data:`NOT_ME_TTL` in the store)."""
    token = secrets.token_urlsafe(32)
    state().store.put(NOT_ME_KIND, token, {"person": person.id, "event": event}, NOT_ME_TTL)
    return str(url_for("auth.not_me", token=token, _external=True))


def _sms_notice(app: Flask, number: str, event: str, link: str, ip: str | None) -> None:
    texts = []
    for lang in mail.LANGUAGES:
        with force_locale(lang):
            texts.append(gettext("Banten SSO: %(what)s. Not you? %(link)s", what=_sms_what(event), link=link))
    text = " / ".join(dict.fromkeys(texts))
    _later(app, lambda: sms.send(number, text, kind=f"notice_{event}", ip=ip))


def _sms_what(event: str) -> str:
    return {PASSWORD: gettext("your password was changed"), EMAIL: gettext("your e-mail address was changed"),
            PHONE: gettext("your mobile number was changed"),
            SECOND_FACTOR: gettext("your two-step verification was changed"),
            NEW_DEVICE: gettext("new sign-in from another device")}[event]


def _later(app: Flask, send: Any) -> None:
    def run() -> None:
        with app.app_context():
            try:
                send()
            except (mail.MailError, sms.SmsError, StoreUnavailable) as exc:
                # The request that changed the account has already answered: a notice that cannot leave
                # is logged (without personal data), never raised in this thread.
                log.warning("could not send a security notice: %s", exc.__class__.__name__)

    threading.Thread(target=run, name="idp-security-notice", daemon=True).start()


def peek(token: Any) -> bool:
    """Whether a "this was not me" link is still good (the GET page, which changes nothing)."""
    return isinstance(token, str) and 0 < len(token) <= 128 and state().store.get(NOT_ME_KIND, token) is not None


def not_me(token: Any) -> Person | None:
    """Use a "this was not me" link: end every session and revoke every token of the person.  Commits."""
    if not isinstance(token, str) or not token or len(token) > 128:
        return None
    value = state().store.take(NOT_ME_KIND, token)
    person = db.session.get(Person, int(value["person"])) if isinstance(value, dict) else None
    if person is None:
        return None
    ended = login_session.end_all(person.id)
    signout.sessions_ended(ended, reason="not_me", keep_offline=False)
    events.emit(events.PERSON_TOKENS_REVOKED, person_id=person.id, reason="not_me")
    audit.record("security.not_me", person_id=person.id, notice=value.get("event") if value else None,
                 sessions_ended=len(ended))
    db.session.commit()
    return person


# --- devices -------------------------------------------------------------------------------------
def device_seen(person: Person) -> None:
    """At a finished sign-in: remember this browser for the person; a notice when it is new (and the person
    signed in before from another one)."""
    device = request.cookies.get(DEVICE_COOKIE)
    if not isinstance(device, str) or not 16 <= len(device) <= 64:
        device = secrets.token_urlsafe(24)
        g.new_device_cookie = device
    store = state().store
    known = store.set_members(DEVICE_KIND, str(person.id))
    if device in known:
        return
    store.set_add(DEVICE_KIND, str(person.id), device, DEVICE_TTL)
    if known:
        notify(person, NEW_DEVICE)


def init_app(app: Flask) -> None:
    """Set the device cookie chosen during the request (:func:`device_seen`)."""

    @app.after_request
    def _device_cookie(resp: Response) -> Response:
        device = g.get("new_device_cookie")
        if device:
            resp.set_cookie(DEVICE_COOKIE, device, max_age=DEVICE_TTL, httponly=True, samesite="Lax",
                            secure=request.is_secure)
        return resp
