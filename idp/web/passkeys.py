"""Passkeys: the account page that registers and removes them, and the sign-in steps that use one.

Every ceremony is two requests from the same form (``static/js/passkeys.js``): the form is posted to an
``options`` URL, which starts the ceremony (:mod:`idp.people.passkeys`) and answers its token and the
WebAuthn options as JSON; the browser asks the authenticator, puts its answer in the form and posts the
form itself.  Both posts carry the form's CSRF token.  Without JavaScript or WebAuthn the passkey
buttons stay hidden and the password (and code) forms work as before.

Adding a passkey when the person already has a second factor, and removing one, is a change of
credential: it needs a sign-in with a second factor in the last five minutes (the same freshness as
deleting one's account); the page offers that sign-in.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, flash, jsonify, request, session, url_for
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField
from wtforms.validators import Length, ValidationError

from idp import assurance, audit
from idp.crypto import random_token
from idp.extensions import db
from idp.models import Person
from idp.people import mfa, passkeys, signin
from idp.people import session as login_session
from idp.web.auth.signin import after_sign_in
from idp.web.common import EXPIRED, clean_req, page, pending_request, requires, see_other, signed_in
from idp.web.forms import CeremonyForm, no_control

bp = Blueprint("passkeys", __name__)

FRESH_SECONDS = 300
BROWSER_KEY = "passkey_browser"  # the cookie session's random value a passwordless ceremony is bound to
FAILED: dict[str, Any] = {
    "off": _l("Passkeys are not available on this service."),
    "expired": _l("The passkey request has expired. Please try again."),
    "duplicate": _l("This passkey is already registered."),
    "limit": _l("You have too many passkeys. Remove one you no longer use first."),
}
NOT_ACCEPTED = _l("The passkey was not accepted. Please try again.")


class RegisterForm(CeremonyForm):
    name = StringField(_l("Name of this passkey"), validators=[Length(max=passkeys.MAX_NAME)],
                       description=_l("For example \"My phone\", so that you recognise it in the list."))

    def validate_name(self, field: StringField) -> None:
        if not no_control(field.data or ""):
            raise ValidationError(_l("The name must not contain control characters."))


class SignInForm(CeremonyForm):
    remember = BooleanField(_l("Keep me signed in on this device"))


def _options(token: str, options: str) -> Response:
    resp = jsonify(ceremony=token, options=options)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _json_refusal(reason: str, status: int = 400) -> Response:
    resp = jsonify(error=str(FAILED.get(reason, NOT_ACCEPTED)))
    resp.status_code = status
    return resp


def _fresh_with_second_factor(current: login_session.LoginSession) -> bool:
    return current.acr == assurance.MFA and time.time() - current.auth_time <= FRESH_SECONDS


def may_change(current: login_session.LoginSession, person: Person) -> bool:
    """Whether this session may add or remove a passkey: a first one always; else only after a fresh
    sign-in with a second factor (a stolen session cookie must not swap the owner's authenticators)."""
    return not mfa.has_second_factor(person.id) or _fresh_with_second_factor(current)


# --- account pages -------------------------------------------------------------------------------
def _list_page(current: login_session.LoginSession, person: Person, status: int = 200, **context: Any) -> Response:
    context.setdefault("form", RegisterForm(formdata=None))
    return page("passkeys/list.html", status, active="passkeys", passkeys=passkeys.of(person.id),
                enabled=passkeys.enabled(), may_change=may_change(current, person), remove_form=CeremonyForm(),
                reauth_url=url_for("auth.login", next=url_for("passkeys.index")), **context)


@bp.get("/account/passkeys")
@requires(signed_in)
def index(*, current: login_session.LoginSession, person: Person) -> Response:
    """The person's passkeys (name, when added, last use) and the form to add one."""
    return _list_page(current, person)


@bp.post("/account/passkeys/options")
@requires(signed_in)
def registration_options(*, current: login_session.LoginSession, person: Person) -> Response:
    """Start registering a passkey (JSON for the page's script)."""
    if not may_change(current, person):
        return _json_refusal("reauth", 403)
    try:
        token, options = passkeys.registration_options(person, "sid:" + current.sid)
    except passkeys.PasskeyError as exc:
        return _json_refusal(exc.reason)
    return _options(token, options)


@bp.post("/account/passkeys")
@requires(signed_in)
def register(*, current: login_session.LoginSession, person: Person) -> Response:
    """Store the passkey the authenticator just made; the first second factor also gets recovery codes."""
    form = RegisterForm()
    if not form.validate():
        return _list_page(current, person, 400, form=form, error=EXPIRED if form.csrf_token.errors else None)
    if not may_change(current, person):
        return _list_page(current, person, 403, form=form)
    first = not mfa.has_second_factor(person.id)
    try:
        passkeys.register(person, "sid:" + current.sid, form.ceremony.data, form.credential.data,
                          form.name.data or "")
    except passkeys.PasskeyError as exc:
        db.session.rollback()
        audit.record("passkey.refused", outcome="failure", person_id=person.id, action="register",
                     reason=exc.reason, commit=True)
        return _list_page(current, person, 400, form=form, error=FAILED.get(exc.reason, NOT_ACCEPTED))
    codes = mfa.new_recovery_codes(person.id) if first and mfa.recovery_codes_left(person.id) == 0 else None
    db.session.commit()
    if codes:
        # Losing every passkey must not lock the person out: recovery codes, shown once.
        return page("mfa/recovery_codes.html", active="passkeys", codes=codes, next_url=url_for("passkeys.index"),
                    signed_in=True, first_time=True)
    flash(_l("Your passkey is ready."), "success")
    return see_other("passkeys.index")


@bp.post("/account/passkeys/<int:passkey_id>/remove")
@requires(signed_in)
def remove(passkey_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Remove one passkey; needs a fresh sign-in with a second factor."""
    form = CeremonyForm()
    if not form.validate():
        return _list_page(current, person, 400, error=EXPIRED)
    if not _fresh_with_second_factor(current):
        audit.record("mfa.change_refused", outcome="failure", person_id=person.id, action="remove_passkey",
                     commit=True)
        return _list_page(current, person, 403)
    if not passkeys.remove(person.id, passkey_id):
        return _list_page(current, person, 404, error=_l("That passkey no longer exists."))
    mfa.drop_unused_recovery_codes(person.id)
    db.session.commit()
    flash(_l("The passkey was removed."), "success")
    return see_other("passkeys.index")


@bp.post("/account/passkeys/confirm/options")
@requires(signed_in)
def confirm_options(*, current: login_session.LoginSession, person: Person) -> Response:
    """Start a passkey ceremony that confirms a change on the two-step pages (JSON; bound to the session)."""
    if not passkeys.has_passkey(person.id):
        return _json_refusal("off")
    try:
        token, options = passkeys.authentication_options("sid:" + current.sid, person.id)
    except passkeys.PasskeyError as exc:
        return _json_refusal(exc.reason)
    return _options(token, options)


# --- the second factor at sign-in (and step-up) -------------------------------------------------------
@bp.post("/login/two-step/passkey/options")
def second_step_options() -> Response:
    """Start the passkey ceremony of the parked first factor (JSON)."""
    found = signin.parked()
    if found is None:
        return _json_refusal("expired")
    try:
        token, options = passkeys.authentication_options("parked:" + found[0], found[1].person_id)
    except passkeys.PasskeyError as exc:
        return _json_refusal(exc.reason)
    return _options(token, options)


@bp.post("/login/two-step/passkey")
def second_step() -> Response:
    """Finish the sign-in (or step-up) with the passkey's answer."""
    form = CeremonyForm()
    found = signin.parked()
    req = clean_req(request.values.get("req"))
    if found is None or not form.validate():
        flash(_l("Your sign-in took too long. Please sign in again."), "info")
        return see_other("auth.login", **({"req": req} if req else {}))
    token, held = found
    pending = pending_request(held.req)
    try:
        done = signin.second_factor_passkey(token, held, form.ceremony.data, form.credential.data, pending=pending,
                                            link_offer_declined=bool(session.get("link_offer_declined")))
    except signin.Refusal as refusal:
        if refusal.status == 429:
            return see_other("auth.login", **({"req": held.req} if held.req else {}))
        flash(NOT_ACCEPTED, "error")
        return see_other("mfa.second_step", **({"req": held.req} if held.req else {}))
    if done is None:
        return see_other("auth.login")
    return after_sign_in(done, held.req, pending)


# --- passwordless sign-in (citizens) -------------------------------------------------------------------
def _browser() -> str:
    value = session.get(BROWSER_KEY)
    if not isinstance(value, str) or len(value) > 64:
        value = session[BROWSER_KEY] = random_token(16)
    return "browser:" + value


@bp.post("/login/passkey/options")
def passwordless_options() -> Response:
    """Start a passwordless ceremony bound to this browser (JSON)."""
    try:
        token, options = passkeys.authentication_options(_browser(), None)
    except passkeys.PasskeyError as exc:
        return _json_refusal(exc.reason)
    return _options(token, options)


@bp.post("/login/passkey")
def passwordless() -> Response:
    """Sign in with the passkey's answer; a refusal goes back to the sign-in page with the reason."""
    form = SignInForm()
    req = clean_req(request.values.get("req"))
    args: dict[str, Any] = {"req": req} if req else {}
    if not form.validate():
        flash(EXPIRED, "error")
        return see_other("auth.login", **args)
    pending = pending_request(req)
    try:
        done = signin.passwordless(_browser(), form.ceremony.data, form.credential.data,
                                   remember=bool(form.remember.data), pending=pending,
                                   link_offer_declined=bool(session.get("link_offer_declined")))
    except signin.Refusal as refusal:
        flash(refusal.error or NOT_ACCEPTED, "error")
        resp = see_other("auth.login", **args)
        return resp
    return after_sign_in(done, req, pending)
