"""The account's mobile number page (``/account/phone``); the rules are :mod:`idp.people.phone`."""

from __future__ import annotations

from flask import Blueprint, Response, flash, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError

from idp import sms
from idp.models import Person
from idp.people import phone
from idp.people import session as login_session
from idp.web.common import page, requires, see_other, signed_in
from idp.web.forms import required

bp = Blueprint("phone", __name__, url_prefix="/account/phone")


class NumberForm(FlaskForm):
    number = StringField(_l("Mobile number"), description=_l("For example 0812-3456-7890. We send a code by SMS."))
    normalized: str = ""

    def validate_number(self, field: StringField) -> None:
        found = phone.normalize(field.data or "")
        if found is None:
            raise ValidationError(_l("Enter an Indonesian mobile number, for example 0812-3456-7890."))
        self.normalized = found


class CodeForm(FlaskForm):
    code = StringField(_l("Code from the text message"), validators=[required])  # empty: not a wrong try


class RemoveForm(FlaskForm):
    """The "remove the number" button."""


def _page(person: Person, status: int = 200, *, form: NumberForm | None = None, code_form: CodeForm | None = None,
          error: str | None = None) -> Response:
    waiting = phone.pending(person)
    # A number another account holds (409) is a dead end only the help desk resolves: its contact is shown.
    return page("account/phone.html", status, form=form or NumberForm(formdata=None),
                code_form=code_form or CodeForm(formdata=None), remove_form=RemoveForm(formdata=None),
                person=person, waiting=sms.mask_number(waiting) if waiting else None,
                number=person.phone_number, error=error, active="phone", show_helpdesk=status == 409)


@bp.route("", methods=["GET", "POST"])
@requires(signed_in)
def number(*, current: login_session.LoginSession, person: Person) -> Response:
    """Show the number; POST a new one: a code goes to it by SMS."""
    if request.method == "GET":
        return _page(person)
    form = NumberForm()
    if not form.validate():
        return _page(person, 400, form=form)
    try:
        phone.request_code(person, form.normalized, ip=request.remote_addr)
    except phone.PhoneError as error:
        return _page(person, error.status, form=form, error=error.message)
    return see_other("phone.number")


@bp.post("/verify")
@requires(signed_in)
def verify(*, current: login_session.LoginSession, person: Person) -> Response:
    form = CodeForm()
    if not form.validate():
        return _page(person, 400, code_form=form)
    try:
        phone.confirm(person, form.code.data or "")
    except phone.PhoneError as error:
        return _page(person, error.status, code_form=form, error=error.message)
    flash(_l("Your mobile number is confirmed."), "success")
    return see_other("phone.number")


@bp.post("/remove")
@requires(signed_in)
def remove(*, current: login_session.LoginSession, person: Person) -> Response:
    if not RemoveForm().validate():
        return _page(person, 400)
    phone.remove(person)
    flash(_l("Your mobile number is removed."), "success")
    return see_other("phone.number")
