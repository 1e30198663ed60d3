"""Citizen self-registration and e-mail verification pages (the work is in :mod:`idp.sources.citizen`).

The answers are the same for new accounts and duplicates, and for known and unknown addresses (no
enumeration); ``req`` travels along so that the person ends up back at the application.
"""

from __future__ import annotations

import datetime as dt
import secrets

from flask import Response, flash, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import ValidationError

from idp import mail, passwords
from idp.extensions import db, state
from idp.sources import citizen, nik
from idp.sources.nik import Nik
from idp.web.auth import bp
from idp.web.common import clean_req, page, pending_request
from idp.web.forms import MAX_FIELD, ResendForm, email_rule, full_name_rule, no_control


class RegisterForm(FlaskForm):
    nik = StringField(_l("NIK (16 digits)"), description=_l("The number on your KTP or family card (KK)."))
    full_name = StringField(_l("Full name"), description=_l("As written on your KTP."))
    birthdate = StringField(_l("Date of birth"), description=_l("For example 1990-05-17."))
    email = StringField(_l("E-mail address"), description=_l("We send a link to confirm it."))
    password = PasswordField(_l("Password"), description=_l("At least %(n)d characters. A few unrelated words "
                                                            "are easy to remember and hard to guess.", n=10))
    password_confirm = PasswordField(_l("Repeat the password"))
    req = HiddenField()

    parsed_nik: Nik | None = None
    parsed_birthdate: dt.date | None = None
    normalized_email: str = ""

    validate_full_name = full_name_rule
    validate_email = email_rule

    def validate_nik(self, field: StringField) -> None:
        result = nik.parse(field.data or "")
        if isinstance(result, list):
            raise ValidationError(" ".join(str(f.message) for f in result))
        self.parsed_nik = result

    def validate_birthdate(self, field: StringField) -> None:
        raw = (field.data or "").strip()
        if not raw:
            raise ValidationError(_l("Enter your date of birth."))
        try:
            value = dt.date.fromisoformat(raw) if len(raw) == 10 else None
        except ValueError:
            value = None
        if value is None:
            raise ValidationError(_l("Enter a real date as year-month-day, for example 1990-05-17."))
        if value > dt.date.today() or value.year < 1900:
            raise ValidationError(_l("The date of birth must be in the past (after 1900)."))
        self.parsed_birthdate = value

    def validate_password(self, field: PasswordField) -> None:
        found = passwords.problems(field.data or "", nik=nik.normalize(self.nik.data or ""),
                                   email=(self.email.data or "").strip(), name=self.full_name.data or "")
        if found:
            raise ValidationError(str(found[0]))

    def validate_password_confirm(self, field: PasswordField) -> None:
        if not field.data:
            raise ValidationError(_l("Repeat the password."))
        if field.data != self.password.data:
            raise ValidationError(_l("The two passwords are not the same."))


PASSWORD_NEEDED = _l("This link was opened in another browser than the one you registered with: type the "
                     "password you chose when you registered.")
WRONG_PASSWORD = _l("That is not the password chosen when this address was registered. If you did not register, "
                    "ignore this link: the registration is deleted by itself.")


class ConfirmForm(FlaskForm):
    token = HiddenField()
    # Only asked when the link is opened in another browser than the registering one (idp.sources.citizen).
    password = PasswordField(_l("The password you chose when you registered"))


def _browser() -> str:
    """A random value this browser keeps in its session: its own confirmation links need no password."""
    if not isinstance(session.get("reg_browser"), str):
        session["reg_browser"] = secrets.token_urlsafe(16)
    return str(session["reg_browser"])


# --- registration --------------------------------------------------------------------------------
@bp.route("/register-account", methods=["GET", "POST"])
def register() -> Response:
    form = RegisterForm()
    form.password.description = _l("At least %(n)d characters. A few unrelated words are easy to remember "
                                   "and hard to guess.", n=state().config["PASSWORD_MIN_LENGTH"])
    req = clean_req(request.values.get("req"))
    pending = pending_request(req)
    if request.method == "GET":
        form.req.data = req or ""
        return page("auth/register.html", form=form, pending=pending, req=req)
    if not form.validate():
        form.password.data = form.password_confirm.data = ""
        return page("auth/register.html", 400, form=form, pending=pending, req=req)
    assert form.parsed_nik is not None and form.parsed_birthdate is not None
    reg = citizen.Registration(nik=form.parsed_nik, full_name=form.full_name.data or "",
                               birthdate=form.parsed_birthdate, email=form.normalized_email,
                               password=form.password.data or "", req=req,
                               locale=str(g.get("ui_locale") or "") or None, browser=_browser())
    try:
        citizen.register(reg)
    except mail.MailError:
        db.session.rollback()
        return page("error.html", 503, status=503, code="temporarily_unavailable", ref=None,
                    message=_l("We could not send the confirmation e-mail right now. Nothing was saved; "
                               "please try again in a few minutes."))
    # The same page for new accounts and duplicates (no enumeration): Post/Redirect/Get.
    session["registered"] = {"review": citizen.needs_review(reg)}
    return redirect(url_for("auth.registered", req=req) if req else url_for("auth.registered"),
                    303)  # type: ignore[return-value]


@bp.get("/register-account/sent")
def registered() -> Response:
    info = session.get("registered") or {}
    req = clean_req(request.args.get("req"))
    return page("auth/registered.html", review=bool(info.get("review")), req=req,
                resend_form=ResendForm(formdata=None, req=req or ""))


# --- e-mail verification ------------------------------------------------------------------------
@bp.route("/verify-email", methods=["GET", "POST"])
def verify_email() -> Response:
    """GET shows a button; POST consumes the token.  Mail scanners that follow links (GET) therefore
    cannot use up the single-use link before the person does."""
    form = ConfirmForm()
    if request.method == "GET":
        token = request.args.get("token", "")
        if citizen.peek_verification(token) is None:
            return page("auth/verify_invalid.html", 400, resend_form=ResendForm(formdata=None))
        form.token.data = token
        return page("auth/verify.html", form=form,
                    needs_password=citizen.verification_needs_password(token, session.get("reg_browser")))
    if not form.validate():
        return page("auth/verify_invalid.html", 400, resend_form=ResendForm(formdata=None))
    try:
        account, req = citizen.confirm_email(form.token.data or "", form.password.data or None,
                                             session.get("reg_browser"))
    except citizen.PasswordNeeded as exc:
        form.password.data = ""
        return page("auth/verify.html", 400, form=form, needs_password=True,
                    error=WRONG_PASSWORD if exc.wrong else PASSWORD_NEEDED)
    if account is None:
        return page("auth/verify_invalid.html", 400, resend_form=ResendForm(formdata=None))
    flash(_l("Your e-mail address is confirmed. You can sign in now."), "success")
    req = clean_req(req)
    return redirect(url_for("auth.login", req=req) if req else url_for("auth.login"), 303)  # type: ignore[return-value]


@bp.route("/verify-email/resend", methods=["GET", "POST"])
def resend_verification() -> Response:
    """Send the link again; the answer is the same whether or not the address has an account."""
    form = ResendForm()
    req = clean_req(request.values.get("req"))
    if request.method == "GET":
        form.req.data = req or ""
        return page("auth/resend.html", form=form, req=req)
    if not form.validate():
        return page("auth/resend.html", 400, form=form, req=req)
    email = (form.email.data or "").strip()
    if email and len(email) <= MAX_FIELD and no_control(email):
        try:
            citizen.resend_verification(citizen.normalize_email(email), req, _browser())
        except mail.MailError:
            pass  # logged in idp.mail; the answer must not differ
    return page("auth/resend_sent.html", req=req)
