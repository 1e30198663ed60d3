"""Citizen self-registration and e-mail verification pages (the work is in :mod:`idp.sources.citizen`).

The answers are the same for new accounts and duplicates, and for known and unknown addresses (no
enumeration); ``req`` travels along so that the person ends up back at the application.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Response, flash, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, HiddenField, PasswordField, StringField
from wtforms.validators import ValidationError

from idp import mail, passwords, pow, ratelimit, sms
from idp.extensions import db, setting, state
from idp.people import phone
from idp.people import registration as registration_flow
from idp.people.signin import REQUIRED, blank
from idp.sources import citizen, nik
from idp.sources.nik import Nik
from idp.web.auth import bp
from idp.web.auth.signin import after_sign_in
from idp.web.common import clean_req, page, pending_request
from idp.web.forms import MAX_FIELD, ResendForm, email_rule, full_name_rule, no_control, required


def _nik_rule(form: FlaskForm, field: Field) -> None:
    """A structurally valid NIK (:mod:`idp.sources.nik`); the parsed number goes to ``form.parsed_nik``."""
    result = nik.parse(field.data or "")
    if isinstance(result, list):
        raise ValidationError(" ".join(str(f.message) for f in result))
    form.parsed_nik = result


class NikForm(FlaskForm):
    """Step 1: the NIK alone, so that its birth date and sex can be shown before anything else is asked."""

    nik = StringField(_l("NIK (16 digits)"), description=_l("The number on your KTP or family card (KK)."))
    req = HiddenField()

    parsed_nik: Nik | None = None
    validate_nik = _nik_rule


class RegisterForm(FlaskForm):
    """Step 2: the NIK from step 1 (confirmed by the person), the name, the address and the password."""

    nik = HiddenField()
    confirmed = BooleanField(_l("This is my date of birth and sex"))
    full_name = StringField(_l("Full name"), description=_l("As written on your KTP."))
    email = StringField(_l("E-mail address"), description=_l("We send a link to confirm it. You may leave it "
                                                             "empty if you give a mobile number."))
    phone = StringField(_l("Mobile number (optional)"), description=_l("For example 0812-3456-7890. We send a "
                                                                       "code by SMS to confirm it."))
    password = PasswordField(_l("Password"), description=_l("At least %(n)d characters. A few unrelated words "
                                                            "are easy to remember and hard to guess.", n=10),
                             validators=[required])
    password_confirm = PasswordField(_l("Repeat the password"))
    req = HiddenField()

    parsed_nik: Nik | None = None
    normalized_email: str = ""
    normalized_phone: str = ""

    validate_nik = _nik_rule
    validate_full_name = full_name_rule

    def validate_email(self, field: StringField) -> None:
        """An address, or nothing when a mobile number is given (registration works with either or both)."""
        if not (field.data or "").strip() and (self.phone.data or "").strip():
            return
        if not (field.data or "").strip():
            raise ValidationError(_l("Enter your e-mail address or your mobile number (or both)."))
        email_rule(self, field)

    def validate_phone(self, field: StringField) -> None:
        if not (field.data or "").strip():
            return
        found = sms.normalize_mobile(field.data or "")
        if found is None:
            raise ValidationError(_l("Enter an Indonesian mobile number, for example 0812-3456-7890."))
        self.normalized_phone = found

    def validate_confirmed(self, field: BooleanField) -> None:
        if not field.data:
            raise ValidationError(_l("Confirm your date of birth and sex, or correct the NIK if they are wrong."))

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


class PhoneCodeForm(FlaskForm):
    """The SMS code of a phone registration (an empty code is "Required.", not a wrong try)."""

    code = StringField(_l("Code from the text message"), validators=[required])


class CorrectPhoneForm(FlaskForm):
    """The "check your phone" page: the number was mistyped, send the code to this one instead."""

    number = StringField(_l("Correct mobile number"), description=_l("For example 0812-3456-7890."))
    normalized: str = ""

    def validate_number(self, field: StringField) -> None:
        if not (field.data or "").strip():
            raise ValidationError(REQUIRED)
        found = sms.normalize_mobile(field.data or "")
        if found is None:
            raise ValidationError(_l("Enter an Indonesian mobile number, for example 0812-3456-7890."))
        self.normalized = found


class ResendCodeForm(FlaskForm):
    """The "send the code again" button."""


class CorrectEmailForm(FlaskForm):
    """The "check your mail" page: the address was mistyped, send the link to this one instead."""

    email = StringField(_l("Correct e-mail address"))
    normalized_email: str = ""
    validate_email = email_rule


# --- registration --------------------------------------------------------------------------------
def _nik_step(form: NikForm, status: int, pending: dict[str, Any] | None, req: str | None) -> Response:
    return page("auth/register_nik.html", status, form=form, pending=pending, req=req)


def _limits() -> list[tuple[str, str, int]]:
    """The registration's hourly limits (bucket, key, limit): the proof of work appears near them."""
    return [("register-ip", request.remote_addr or "-", int(setting("REGISTRATIONS_PER_IP"))),
            ("register-all", "all", int(setting("REGISTRATIONS_PER_HOUR")))]


def _details_step(form: RegisterForm, parsed: Nik, status: int, pending: dict[str, Any] | None,
                  req: str | None, pow_error: Any = None) -> Response:
    form.nik.data = parsed.value
    form.password.description = _l("At least %(n)d characters. A few unrelated words are easy to remember "
                                   "and hard to guess.", n=state().config["PASSWORD_MIN_LENGTH"])
    return page("auth/register.html", status, form=form, parsed=parsed, pending=pending, req=req,
                pow=pow.challenge() if pow.needed(_limits()) else None, pow_error=pow_error)


@bp.route("/register-account", methods=["GET", "POST"])
def register() -> Response:
    """Step 1 (the NIK) and step 2 (its birth date and sex to confirm, and the rest); ``step`` says which
    form was sent (``nik``, ``edit``: back to step 1 with the NIK, anything else: step 2)."""
    req = clean_req(request.values.get("req"))
    pending = pending_request(req)
    step = request.form.get("step") if request.method == "POST" else None
    if request.method == "GET" or step in ("nik", "edit"):
        first = NikForm()
        if request.method == "GET":
            first.req.data = req or ""
            return _nik_step(first, 200, pending, req)
        if step == "edit":  # "not my birth date": the NIK has a wrong digit; the person corrects it
            if first.validate():
                first.nik.errors = [_l("Check the digits of your NIK: digits 7 to 12 are your date of birth "
                                       "(for women the day plus 40).")]
            return _nik_step(first, 200, pending, req)
        if not first.validate() or first.parsed_nik is None:
            return _nik_step(first, 400, pending, req)
        return _details_step(RegisterForm(formdata=None, req=req or ""), first.parsed_nik, 200, pending, req)
    form = RegisterForm()
    valid = form.validate()
    if form.parsed_nik is None:  # the NIK itself is wrong: back to step 1, the error at its field
        first = NikForm(formdata=None, nik=form.nik.data or "", req=req or "")
        first.nik.errors = list(form.nik.errors)
        return _nik_step(first, 400, pending, req)
    if not valid:
        form.password.data = form.password_confirm.data = ""
        return _details_step(form, form.parsed_nik, 400, pending, req)
    parsed = form.parsed_nik
    if pow.needed(_limits()) and not pow.verify(request.form.get("altcha")):
        form.password.data = form.password_confirm.data = ""
        return _details_step(form, parsed, 400, pending, req,
                             pow_error=_l("Your browser has not finished the short check yet. Please wait a few "
                                          "seconds, type the passwords again and press the button again."))
    # Flood guards before any work (the same for every NIK: they reveal nothing about accounts).
    if not ratelimit.allow("register-ip", request.remote_addr or "-", int(setting("REGISTRATIONS_PER_IP")), 3600) \
            or not ratelimit.allow("register-all", "all", int(setting("REGISTRATIONS_PER_HOUR")), 3600):
        form.password.data = form.password_confirm.data = ""
        return page("auth/register_limited.html", 429, req=req)
    # The birth date is the NIK's (confirmed by the person), never typed: nothing to mistype, no review.
    reg = citizen.Registration(nik=parsed, full_name=form.full_name.data or "", birthdate=parsed.birthdate,
                               email=form.normalized_email or None, password=form.password.data or "", req=req,
                               locale=str(g.get("ui_locale") or "") or None, phone=form.normalized_phone or None,
                               browser=_browser())
    try:
        created = citizen.register(reg)
    except mail.MailError:
        db.session.rollback()
        return page("error.html", 503, status=503, code="temporarily_unavailable", ref=None,
                    message=_l("We could not send the confirmation e-mail right now. Nothing was saved; "
                               "please try again in a few minutes."))
    # The same page for new accounts and duplicates (no enumeration): Post/Redirect/Get.  The browser
    # keeps a handle on its registration: to correct the address, and to be signed in by the link.
    account = citizen.find_by_nik(parsed.value)  # asked in both cases (the same time); used only when new
    handle = registration_flow.remember(account if created else None, req)
    session["registered"] = {"to": mail.mask_address(reg.email) if reg.email else None,
                             "phone": sms.mask_number(reg.phone) if reg.phone else None, "handle": handle}
    if reg.phone:
        registration_flow.send_phone_code(handle, reg.phone, ip=request.remote_addr)
    return redirect(url_for("auth.registered", req=req) if req else url_for("auth.registered"),
                    303)  # type: ignore[return-value]


@bp.get("/register-account/sent")
def registered() -> Response:
    info = session.get("registered") or {}
    req = clean_req(request.args.get("req"))
    return _registered_page(info, req)


def _registered_page(info: dict[str, Any], req: str | None, status: int = 200, *,
                     correct_form: CorrectEmailForm | None = None, code_form: PhoneCodeForm | None = None,
                     phone_error: Any = None, correct_phone_form: CorrectPhoneForm | None = None) -> Response:
    """The "check your mail / phone" page: where the link or code went (masked), and how to go on: a new
    link or code, or a corrected address or number."""
    handle = info.get("handle")
    return page("auth/registered.html", status, req=req, sent_to=info.get("to"), sent_phone=info.get("phone"),
                correct_form=correct_form or (CorrectEmailForm(formdata=None) if handle and info.get("to")
                                              else None),
                correct_phone_form=correct_phone_form or (CorrectPhoneForm(formdata=None)
                                                          if handle and info.get("phone") else None),
                resend_code_form=ResendCodeForm(formdata=None) if handle and info.get("phone") else None,
                code_form=code_form or PhoneCodeForm(formdata=None), phone_error=phone_error,
                resend_form=ResendForm(formdata=None, req=req or ""))


def _to_registered(req: str | None) -> Response:
    return redirect(url_for("auth.registered", req=req) if req else url_for("auth.registered"),
                    303)  # type: ignore[return-value]


def _expired_registration() -> Response:
    flash(_l("This registration has expired. Please register again."), "info")
    return redirect(url_for("auth.register"), 303)  # type: ignore[return-value]


@bp.post("/register-account/resend-code")
def resend_phone_code() -> Response:
    """"Send the code again": a new SMS code to the registration's number (the SMS cost guards apply)."""
    info = session.get("registered") or {}
    req = clean_req(request.values.get("req"))
    if not ResendCodeForm().validate() or not info.get("phone"):
        return _registered_page(info, req, 400)
    try:
        known = registration_flow.resend_phone_code(info.get("handle"), ip=request.remote_addr)
    except registration_flow.TooMany:
        return page("error.html", 429, status=429, code="too_many_requests", ref=None,
                    message=_l("You asked for a new code too often. Please wait an hour, or register again."))
    if not known:
        return _expired_registration()
    flash(_l("We sent a new code to %(number)s. It replaces the earlier one.", number=info["phone"]), "success")
    return _to_registered(req)


@bp.post("/register-account/correct-phone")
def correct_phone() -> Response:
    """The number was mistyped: the code goes to the corrected one (see :mod:`idp.people.registration`)."""
    info = session.get("registered") or {}
    req = clean_req(request.values.get("req"))
    form = CorrectPhoneForm()
    if not form.validate() or not info.get("phone"):
        return _registered_page(info, req, 400, correct_phone_form=form)
    try:
        known = registration_flow.correct_phone(info.get("handle"), form.normalized, ip=request.remote_addr)
    except registration_flow.TooMany:
        return page("error.html", 429, status=429, code="too_many_requests", ref=None,
                    message=_l("You corrected the number too often. Please wait an hour, or register again."))
    if not known:
        return _expired_registration()
    session["registered"] = {**info, "phone": sms.mask_number(form.normalized)}
    flash(_l("We sent a new code to the corrected number."), "success")
    return _to_registered(req)


@bp.post("/register-account/verify-phone")
def verify_phone() -> Response:
    """The SMS code of a phone registration: the number is confirmed and this browser signed in."""
    info = session.get("registered") or {}
    req = clean_req(request.values.get("req"))
    form = PhoneCodeForm()
    if not form.validate() or not info.get("phone"):
        return _registered_page(info, req, 400, code_form=form)
    pending = pending_request(req)
    try:
        done = registration_flow.confirm_phone(info.get("handle"), form.code.data or "", pending)
    except phone.PhoneError as error:
        return _registered_page(info, req, error.status, code_form=form, phone_error=error.message)
    session.pop("registered", None)
    if done is None:
        flash(_l("Your mobile number is confirmed. You can sign in now."), "success")
        return redirect(url_for("auth.login", req=req) if req else url_for("auth.login"), 303)  # type: ignore[return-value]
    flash(_l("Your mobile number is confirmed and you are signed in."), "success")
    return after_sign_in(done, req, pending)


@bp.post("/register-account/correct-email")
def correct_email() -> Response:
    """The address was mistyped: the link goes to the corrected one (see :mod:`idp.people.registration`)."""
    info = session.get("registered") or {}
    req = clean_req(request.values.get("req"))
    form = CorrectEmailForm()
    if not form.validate():
        return _registered_page(info, req, 400, correct_form=form)
    try:
        known = registration_flow.correct_email(info.get("handle"), form.normalized_email, _browser())
    except registration_flow.TooMany:
        return page("error.html", 429, status=429, code="too_many_requests", ref=None,
                    message=_l("You corrected the address too often. Please wait an hour, or register again."))
    except mail.MailError:
        return page("error.html", 503, status=503, code="temporarily_unavailable", ref=None,
                    message=_l("We could not send the confirmation e-mail right now. Please try again in a few "
                               "minutes."))
    if not known:
        flash(_l("This registration has expired. Please register again."), "info")
        return redirect(url_for("auth.register"), 303)  # type: ignore[return-value]
    session["registered"] = {**info, "to": mail.mask_address(form.normalized_email)}
    flash(_l("We sent a new confirmation link to the corrected address."), "success")
    return redirect(url_for("auth.registered", req=req) if req else url_for("auth.registered"),
                    303)  # type: ignore[return-value]


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
        # White space only is an empty field: asked for again, not tried (a wrong try uses the link up).
        account, req = citizen.confirm_email(form.token.data or "", None if blank(form.password.data) else
                                             form.password.data, session.get("reg_browser"))
    except citizen.PasswordNeeded as exc:
        if not exc.wrong and "password" in request.form:  # the field was on the page and left empty
            form.password.errors = [REQUIRED]
        form.password.data = ""
        return page("auth/verify.html", 400, form=form, needs_password=True,
                    error=WRONG_PASSWORD if exc.wrong else PASSWORD_NEEDED)
    if account is None:
        return page("auth/verify_invalid.html", 400, resend_form=ResendForm(formdata=None))
    req = clean_req(req)
    pending = pending_request(req)
    # Opened in the browser that registered: signed in, on to the application (idp.people.registration).
    done = registration_flow.sign_in_after_verification((session.get("registered") or {}).get("handle"),
                                                        account, pending)
    if done is not None:
        session.pop("registered", None)
        flash(_l("Your e-mail address is confirmed and you are signed in."), "success")
        return after_sign_in(done, req, pending)
    flash(_l("Your e-mail address is confirmed. You can sign in now."), "success")
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
