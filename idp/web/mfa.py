"""Two-step verification: the account pages that set it up and the sign-in step that asks for the code.

Setting up: the secret is made on the server and kept in the store under the session's ``sid`` for ten
minutes (never in the browser cookie); the person scans the QR code, types the first code, and sees ten
recovery codes once.  Signing in: after the password, a person with an authenticator (or an application
asking for the MFA level with ``acr_values``, or an administrator) gets the code page; the proof of the
password waits in the store under a random token (five minutes), and the session starts only after the
code.  Step-up: a signed-in person whose session lacks the level an application asks for types only
the code (OpenID Connect Core 3.1.2.1 ``acr_values``; RFC 8176 ``otp``/``mfa`` in ``amr``).  The
parking, the code check and the session are :mod:`idp.people.signin`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import ValidationError

from idp import assurance, audit, ratelimit
from idp.extensions import db, state
from idp.models import Person
from idp.people import identity, mfa, passkeys, signin
from idp.people import session as login_session
from idp.web.auth.signin import after_sign_in
from idp.web.common import EXPIRED, clean_req, page, pending_request, requires, resume_url, see_other, signed_in
from idp.web.forms import CeremonyForm

bp = Blueprint("mfa", __name__)

SETUP_TTL = 600
WRONG_CODE = _l("That code is not right. Type the 6-digit code your authenticator app shows now, "
                "or one of your recovery codes.")


class CodeForm(FlaskForm):
    code = StringField(_l("Code"), description=_l("6 digits from your authenticator app, or a recovery code."))
    req = HiddenField()
    # A passkey may stand in for the current code (static/js/passkeys.js fills these in).
    ceremony = HiddenField()
    credential = HiddenField()

    def validate_code(self, field: StringField) -> None:
        if not mfa.normalize(field.data) and not self.credential.data:
            raise ValidationError(_l("Type the code."))


class SetupForm(CodeForm):
    current_code = StringField(_l("Code of your current authenticator"),
                               description=_l("Replacing your authenticator needs a code from the one you use "
                                              "now, or one of your recovery codes."))



def _account_name(person: Person) -> str:
    return (person.email or person.name or "akun")[:80]


# --- account pages -------------------------------------------------------------------------------
@bp.get("/account/two-step")
@requires(signed_in)
def status(*, current: login_session.LoginSession, person: Person) -> Response:
    """Whether two-step verification is on, and the actions."""
    enabled = mfa.has_second_factor(person.id)
    return page("mfa/status.html", active="two-step", enabled=enabled, form=CodeForm(), **_factors(person.id),
                 left=mfa.recovery_codes_left(person.id) if enabled else 0)


def _factors(person_id: int) -> dict[str, bool]:
    """Which second factors the person has (for the pages: the code field, the passkey button)."""
    return {"totp": mfa.has_totp(person_id), "passkey": passkeys.enabled() and passkeys.has_passkey(person_id)}


def current_factor(current: login_session.LoginSession, person_id: int, code: str | None, form: CodeForm) -> bool:
    """Whether this request proves a current second factor: a passkey's answer to a ceremony of this
    session, or a current code (or a recovery code), spent either way."""
    if form.credential.data:
        try:
            passkeys.authenticate("sid:" + current.sid, form.ceremony.data, form.credential.data, person_id)
        except passkeys.PasskeyError:
            return False
        return True
    return mfa.verify(person_id, code) is not None


@bp.route("/account/two-step/setup", methods=["GET", "POST"])
def setup() -> Response:
    """Show the QR code of a new secret; the first correct code turns two-step verification on.

    Open to a signed-in person, and to a person whose password is proved but whose sign-in waits for a
    second factor they do not have yet (an administrator, or an application asking for the MFA level):
    their session starts once the new authenticator is proved.
    """
    form = SetupForm()
    req = clean_req(request.values.get("req"))
    found = identity.signed_in()
    parked = None if found is not None else signin.parked()
    if found is not None:
        current: login_session.LoginSession | None = found[0]
        person: Person | None = found[1]
        slot = found[0].sid
    elif parked is not None and not mfa.has_second_factor(parked[1].person_id):
        current, person = None, db.session.get(Person, parked[1].person_id)
        slot = "parked:" + parked[0]
        req = req or parked[1].req
    else:
        args: dict[str, Any] = {"req": req} if req else {}
        return redirect(url_for("auth.login", **args), 303)  # type: ignore[return-value]
    if person is None or person.status != "active":
        return redirect(url_for("auth.login"), 303)  # type: ignore[return-value]
    secret = state().store.get("totp-setup", slot)
    if request.method == "GET" or not isinstance(secret, str):
        if not isinstance(secret, str) or request.method == "GET" and request.args.get("new"):
            secret = mfa.new_secret()
            state().store.put("totp-setup", slot, secret, SETUP_TTL)
        form.req.data = req or ""
        status_code = 200 if request.method == "GET" else 400
        return _setup_page(form, secret, person, status_code, req=req, signed_in=current is not None,
                           error=None if request.method == "GET" else EXPIRED,
                           replacing=current is not None and mfa.has_second_factor(person.id))
    # Adding or replacing an authenticator beside an existing second factor (a TOTP app or a passkey).
    replacing = current is not None and mfa.has_second_factor(person.id)
    if not form.validate():
        return _setup_page(form, secret, person, 400, req=req, signed_in=current is not None, replacing=replacing)
    step = mfa.code_matches_secret(secret, form.code.data)
    if step is None:
        form.code.errors = [_l("That code is not right. Check the time on your phone and type the code "
                               "shown now.")]
        return _setup_page(form, secret, person, 400, req=req, signed_in=current is not None, replacing=replacing)
    if replacing:
        # Checked after the new code (which spends nothing), so a typo there does not burn this one.
        # Replacing an authenticator is a change of credential: it needs a current code (or a recovery
        # code) in this very request, whatever the session's level (a stolen session cookie alone must
        # not swap the owner's authenticator for the attacker's).
        if not form.credential.data and signin.blank(form.current_code.data):
            form.current_code.errors = [signin.REQUIRED]  # left empty: asked for, not counted as a wrong code
            return _setup_page(form, secret, person, 400, req=req, signed_in=True, replacing=True)
        key = ratelimit.identifier_key(f"mfa:{person.id}")
        assert current is not None
        if ratelimit.locked_for(key, request.remote_addr) or not current_factor(current, person.id,
                                                                                form.current_code.data, form):
            ratelimit.record_failure(key, request.remote_addr)
            audit.record("mfa.change_refused", outcome="failure", person_id=person.id, action="replace", commit=True)
            form.current_code.errors = [WRONG_CODE]
            return _setup_page(form, secret, person, 400, req=req, signed_in=True, replacing=True)
        ratelimit.record_success(key)
    codes = mfa.enrol(person.id, secret, step)
    state().store.delete("totp-setup", slot)
    if current is not None:
        # Proving the new authenticator is a second factor in this session (RFC 8176 "otp").
        login_session.reauthenticate(current, acr=assurance.MFA, amr=signin.with_otp(current.amr),
                                     source=current.source)
        db.session.commit()
        next_url = resume_url(req) if req and pending_request(req) is not None else None
    else:
        assert parked is not None
        db.session.commit()
        if not signin.unpark(parked[0]):  # used by a parallel request meanwhile
            return see_other("auth.login")
        held, pending = parked[1], pending_request(req)
        done = signin.finish(person, acr=assurance.MFA, amr=signin.with_otp(held.amr), source=held.source,
                             remember=held.remember, pending=pending,
                             link_offer_declined=bool(session.get("link_offer_declined")))
        next_url = after_sign_in(done, req, pending).headers.get("Location")
    return page("mfa/recovery_codes.html", active="two-step", codes=codes, next_url=next_url,
                 signed_in=current is not None, first_time=True)


def _setup_page(form: CodeForm, secret: str, person: Person, status_code: int, **context: Any) -> Response:
    uri = mfa.provisioning_uri(secret, _account_name(person))
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return page("mfa/setup.html", status_code, active="two-step", form=form, qr=mfa.qr_data_uri(uri), otpauth=uri,
                **_factors(person.id),
                 secret=grouped, pending=pending_request(context.get("req")), **context)


@bp.post("/account/two-step/recovery-codes")
@requires(signed_in)
def recovery_codes(*, current: login_session.LoginSession, person: Person) -> Response:
    """New recovery codes (the old ones stop working); needs a current code."""
    form = CodeForm()
    if not mfa.has_second_factor(person.id):
        return redirect(url_for("mfa.status"), 303)  # type: ignore[return-value]
    refusal = _check_code(form, current, person.id, "recovery_codes")
    if refusal is not None:
        return refusal
    codes = mfa.new_recovery_codes(person.id)
    audit.record("mfa.recovery_codes_replaced", person_id=person.id)
    db.session.commit()
    return page("mfa/recovery_codes.html", active="two-step", codes=codes, first_time=False, next_url=None,
                 signed_in=True)


@bp.post("/account/two-step/disable")
@requires(signed_in)
def disable(*, current: login_session.LoginSession, person: Person) -> Response:
    """Turn two-step verification off; needs a current code (or a recovery code)."""
    form = CodeForm()
    if not mfa.has_totp(person.id):
        return redirect(url_for("mfa.status"), 303)  # type: ignore[return-value]
    refusal = _check_code(form, current, person.id, "disable")
    if refusal is not None:
        return refusal
    mfa.disable(person.id)
    db.session.commit()
    flash(_l("Two-step verification is off."), "success")
    return redirect(url_for("mfa.status"), 303)  # type: ignore[return-value]


def _check_code(form: CodeForm, current: login_session.LoginSession, person_id: int, action: str) -> Response | None:
    """None when the form carries a valid, unused code (or a passkey's answer); else the page to show
    (counted as a failure)."""
    if not form.validate():
        return page("mfa/status.html", 400, active="two-step", enabled=True, form=form, **_factors(person_id),
                     left=mfa.recovery_codes_left(person_id), error=EXPIRED if form.csrf_token.errors else None)
    key = ratelimit.identifier_key(f"mfa:{person_id}")
    if ratelimit.locked_for(key, request.remote_addr) or not current_factor(current, person_id, form.code.data, form):
        ratelimit.record_failure(key, request.remote_addr)
        audit.record("mfa.change_refused", outcome="failure", person_id=person_id, action=action, commit=True)
        form.code.errors = [WRONG_CODE]
        return page("mfa/status.html", 400, active="two-step", enabled=True, form=form, **_factors(person_id),
                     left=mfa.recovery_codes_left(person_id))
    ratelimit.record_success(key)
    return None


# --- the sign-in step ------------------------------------------------------------------------------
@bp.route("/login/two-step", methods=["GET", "POST"])
def second_step() -> Response:
    """Ask for the code of a person who just proved a password (or is stepping up)."""
    form = CodeForm()
    found = signin.parked()
    req = clean_req(request.values.get("req"))
    args: dict[str, Any] = {"req": req} if req else {}
    if found is None:
        flash(_l("Your sign-in took too long. Please sign in again."), "info")
        return see_other("auth.login", **args)
    token, held = found
    pending = pending_request(held.req)
    context: dict[str, Any] = {"pending": pending, "req": held.req, "enrolled": mfa.has_second_factor(held.person_id),
                               "has_totp": mfa.has_totp(held.person_id), "passkey_form": CeremonyForm(),
                               "has_passkey": passkeys.enabled() and passkeys.has_passkey(held.person_id)}
    if not context["enrolled"]:
        # Asked for the MFA level but no authenticator yet: set one up first (setup() continues).
        return see_other("mfa.setup", **args)
    if request.method == "GET":
        form.req.data = context["passkey_form"].req.data = held.req or ""
        return page("mfa/second_step.html", form=form, **context)
    if not form.validate():
        return page("mfa/second_step.html", 400, form=form, **context)
    try:
        done = signin.second_factor(token, held, form.code.data, pending=pending,
                                    link_offer_declined=bool(session.get("link_offer_declined")))
    except signin.Refusal as refusal:
        if refusal.status == 429:
            return page("mfa/second_step.html", 429, form=form, locked_minutes=refusal.locked_minutes, **context)
        form.code.errors = [WRONG_CODE]
        return page("mfa/second_step.html", 401, form=form, **context)
    if done is None:
        return see_other("auth.login")
    return after_sign_in(done, held.req, pending)
