"""The forgotten-password pages ("Lupa kata sandi?"); the steps and their rules are :mod:`idp.people.recovery`.

``/forgot-password`` asks for a NIK or an e-mail address and always answers with the code page (no
enumeration); ``/forgot-password/code``, ``/forgot-password/two-step`` (with
``/forgot-password/two-step/passkey`` and its ``options``: the person's passkey instead of a code) and
``/forgot-password/new`` are the steps of this browser's flow.  A step that cannot go on shows the
failure page with the help desk.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, jsonify, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import ValidationError

from idp import pow
from idp.extensions import setting
from idp.people import notices, passkeys, recovery
from idp.people.signin import blank
from idp.web.auth import bp
from idp.web.common import clean_req, page, see_other
from idp.web.forms import MAX_FIELD, CeremonyForm, no_control


class ForgotForm(FlaskForm):
    identifier = StringField(_l("NIK, e-mail address or mobile number"),
                             description=_l("With a mobile number confirmed on your account we send the code "
                                            "by SMS; otherwise to your confirmed e-mail address."))
    req = HiddenField()

    def validate_identifier(self, field: StringField) -> None:
        value = (field.data or "").strip()
        if not value:
            raise ValidationError(_l("Enter your NIK, your e-mail address or your mobile number."))
        if len(value) > MAX_FIELD or not no_control(value) or recovery.identifier_kind(value) is None:
            raise ValidationError(_l("Enter a NIK (16 digits), an e-mail address or a mobile number. Staff of "
                                     "the provincial government: see below."))


class CodeForm(FlaskForm):
    code = StringField(_l("Code from the e-mail"))

    def validate_code(self, field: StringField) -> None:
        if not (field.data or "").strip():
            raise ValidationError(_l("Enter the code from the e-mail."))


class SecondFactorForm(FlaskForm):
    code = StringField(_l("Code from your authenticator app, or a recovery code"))

    def validate_code(self, field: StringField) -> None:
        if not (field.data or "").strip():
            raise ValidationError(_l("Enter a code."))


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"))
    password_confirm = PasswordField(_l("Repeat the new password"))

    def validate_password(self, field: PasswordField) -> None:
        if blank(field.data):  # white space only too (idp.people.signin.blank)
            raise ValidationError(_l("Enter a new password."))

    def validate_password_confirm(self, field: PasswordField) -> None:
        if not field.data:
            raise ValidationError(_l("Repeat the password."))
        if field.data != self.password.data:
            raise ValidationError(_l("The two passwords are not the same."))


def _failed(error: recovery.RecoveryError) -> Response:
    """The dead end: say why, offer a new code, name the help desk."""
    return page("auth/recovery_failed.html", error.status, message=error.message, restart=error.restart)


def _staff_url() -> str:
    return str(setting("STAFF_PASSWORD_RESET_URL") or "")


def _limits() -> list[tuple[str, str, int]]:
    """The forgotten-password form's hourly limits: the proof of work appears near them."""
    return [("recovery-ip", request.remote_addr or "-", int(setting("RECOVERY_REQUESTS_PER_IP"))),
            ("recovery-all", "all", int(setting("RECOVERY_REQUESTS_PER_HOUR")))]


def _forgot_page(form: ForgotForm, status: int, req: str | None, pow_error: Any = None) -> Response:
    return page("auth/forgot.html", status, form=form, req=req, staff_url=_staff_url(),
                pow=pow.challenge() if pow.needed(_limits()) else None, pow_error=pow_error)


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password() -> Response:
    form = ForgotForm()
    req = clean_req(request.values.get("req"))
    if request.method == "GET":
        form.req.data = req or ""
        return _forgot_page(form, 200, req)
    if not form.validate():
        return _forgot_page(form, 400, req)
    if pow.needed(_limits()) and not pow.verify(request.form.get("altcha")):
        return _forgot_page(form, 400, req, _l("Your browser has not finished the short check yet. Please wait a "
                                               "few seconds and press the button again."))
    try:
        recovery.start(form.identifier.data or "", req)
    except recovery.RecoveryError as error:
        return _failed(error)
    return see_other("auth.recovery_code")


@bp.route("/forgot-password/code", methods=["GET", "POST"])
def recovery_code() -> Response:
    form = CodeForm()
    try:
        recovery.current(recovery.CODE)
    except recovery.RecoveryError as error:
        return _failed(error)
    if request.method == "GET" or not form.validate():
        return page("auth/recovery_code.html", 200 if request.method == "GET" else 400, form=form,
                    minutes=int(setting("RECOVERY_CODE_TTL")) // 60)
    try:
        flow = recovery.check_code(form.code.data or "")
    except recovery.RecoveryError as error:
        if error.restart:
            return _failed(error)
        form.code.data = ""
        return page("auth/recovery_code.html", error.status, form=form, error=error.message,
                    minutes=int(setting("RECOVERY_CODE_TTL")) // 60)
    return see_other("auth.recovery_second" if flow.step == recovery.SECOND else "auth.recovery_password")


def _second_page(flow: recovery.Flow, status: int, form: SecondFactorForm, error: Any = None) -> Response:
    """The second-factor step: what the person can prove (an authenticator code, a recovery code, the
    passkey), or, with none of them left, the help desk."""
    return page("auth/recovery_second.html", status, form=form, error=error, factors=recovery.second_factors(flow),
                passkey_form=CeremonyForm(formdata=None))


@bp.route("/forgot-password/two-step", methods=["GET", "POST"])
def recovery_second() -> Response:
    form = SecondFactorForm()
    try:
        flow = recovery.current(recovery.SECOND)
    except recovery.RecoveryError as error:
        return _failed(error)
    if request.method == "GET" or not form.validate():
        return _second_page(flow, 200 if request.method == "GET" else 400, form)
    try:
        recovery.check_second_factor(form.code.data or "")
    except recovery.RecoveryError as error:
        if error.restart:
            return _failed(error)
        form.code.data = ""
        return _second_page(flow, error.status, form, error.message)
    return see_other("auth.recovery_password")


@bp.post("/forgot-password/two-step/passkey/options")
def recovery_passkey_options() -> Response:
    """Start the passkey ceremony of this browser's flow (JSON for ``static/js/passkeys.js``)."""
    form = CeremonyForm()
    failed = None
    if not form.validate():
        failed = EXPIRED_PASSKEY
    else:
        try:
            token, options = recovery.passkey_options()
        except (recovery.RecoveryError, passkeys.PasskeyError):
            failed = EXPIRED_PASSKEY
    if failed is not None:
        resp = jsonify(error=str(failed))
        resp.status_code = 400
        return resp
    resp = jsonify(ceremony=token, options=options)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/forgot-password/two-step/passkey")
def recovery_passkey() -> Response:
    """The passkey's answer proves the second factor of this browser's flow."""
    form = CeremonyForm()
    try:
        flow = recovery.current(recovery.SECOND)
    except recovery.RecoveryError as error:
        return _failed(error)
    if not form.validate():
        return _second_page(flow, 400, SecondFactorForm(formdata=None), EXPIRED_PASSKEY)
    try:
        recovery.check_passkey(form.ceremony.data, form.credential.data)
    except recovery.RecoveryError as error:
        if error.restart:
            return _failed(error)
        return _second_page(flow, error.status, SecondFactorForm(formdata=None), error.message)
    return see_other("auth.recovery_password")


EXPIRED_PASSKEY = _l("The passkey request has expired. Please try again.")


@bp.route("/forgot-password/new", methods=["GET", "POST"])
def recovery_password() -> Response:
    form = NewPasswordForm()
    try:
        flow = recovery.current(recovery.PASSWORD)
    except recovery.RecoveryError as error:
        return _failed(error)
    minimum = int(setting("PASSWORD_MIN_LENGTH"))
    if request.method == "GET":
        return page("auth/recovery_password.html", form=form, minimum=minimum)
    valid = form.validate()
    problems = recovery.password_problems(flow, form.password.data or "") if valid else []
    if problems:
        form.password.errors = [*form.password.errors, problems[0]]
    if not valid or problems:
        form.password.data = form.password_confirm.data = ""
        return page("auth/recovery_password.html", 400, form=form, minimum=minimum)
    try:
        done = recovery.set_password(form.password.data or "")
    except recovery.RecoveryError as error:
        return _failed(error)
    flash(_l("Your password is changed and you were signed out everywhere. Sign in with the new password."),
          "success")
    req = clean_req(done.req)
    return redirect(url_for("auth.login", req=req) if req else url_for("auth.login"), 303)  # type: ignore[return-value]


# --- "this was not me" (the link of every security notice, idp.people.notices) -----------------------
class NotMeForm(FlaskForm):
    token = HiddenField()


@bp.route("/not-me", methods=["GET", "POST"])
def not_me() -> Response:
    """GET shows a button (mail scanners must not sign the person out); POST ends every session and token
    and goes on to the forgotten-password page."""
    form = NotMeForm()
    if request.method == "GET":
        token = request.args.get("token", "")
        if not notices.peek(token):
            return page("auth/recovery_failed.html", 400, restart=True,
                        message=_l("This link has already been used or has expired."))
        form.token.data = token
        return page("auth/not_me.html", form=form)
    person = notices.not_me(form.token.data) if form.validate() else None
    if person is None:
        return page("auth/recovery_failed.html", 400, restart=True,
                    message=_l("This link has already been used or has expired."))
    flash(_l("You were signed out everywhere and every application lost its access. Now choose a new password."),
          "success")
    return see_other("auth.forgot_password")
