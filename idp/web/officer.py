"""The service-counter console at ``/officer``: find a citizen by exact NIK, check the KTP-el, verify in person.

Officers only (the ``officer`` role from ``IDP_LDAP_GROUP_ROLES``), and only in a session that used a second
factor; the rules are :mod:`idp.consoles.officer`.  The NIK is only ever typed into a POST form, never put
in a URL; a citizen's page is addressed by the account's public id.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField

from idp import assurance
from idp.consoles import officer as counter
from idp.models import Person
from idp.people import session as login_session
from idp.web.common import EXPIRED, Check, page, requires, see_other

bp = Blueprint("officer", __name__, url_prefix="/officer")

officer_only = Check(lambda current, person: None if counter.is_officer(person.id)
                     else page("officer/forbidden.html", 403), console=True)
officer_mfa = Check(lambda current, person: None if current.acr == assurance.MFA
                    else page("officer/second_factor.html", 403), console=True)

REFUSED = {
    "invalid_nik": _l("Type the whole NIK: 16 digits."),
    "reason": _l("Give the reason (for example the queue number), at most 200 characters on one line."),
    "unconfirmed": _l("Confirm that you checked the KTP-el."),
    "gone": _l("That account no longer exists or is not active."),
    "own": _l("You cannot verify your own NIK. Ask another officer."),
    "email": _l("The account's e-mail address is not confirmed yet. Ask the person to open the confirmation "
                "link first."),
    "already": _l("This NIK is already verified in person."),
    "contested": _l("The account holding this NIK was verified in person too. Refer the case to Dukcapil."),
    "rate_limited": _l("Too many searches in the last hour. Please wait a moment."),
}


class FindForm(FlaskForm):
    nik = StringField(_l("NIK (all 16 digits)"))
    reason = StringField(_l("Reason (kept in the audit log)"))


class VerifyForm(FlaskForm):
    public_id = HiddenField()
    checked = BooleanField(_l("I checked the KTP-el: the photo is this person, and the NIK, name and date of "
                              "birth on the card are those shown here."))
    reason = StringField(_l("Reason (kept in the audit log)"))


def _home(status: int = 200, **context: Any) -> Response:
    find_form = context.pop("find_form", None) or FindForm(formdata=None)
    find_form.nik.data = ""  # never echoed back into the page
    return page("officer/index.html", status, find_form=find_form, reviews=counter.review_queue(), **context)


def _citizen(view: counter.CitizenView, status: int = 200, **context: Any) -> Response:
    form = context.pop("form", None) or VerifyForm(formdata=None, data={"public_id": view.public_id})
    return page("officer/citizen.html", status, citizen=view, form=form, **context)


@bp.route("", methods=["GET", "POST"])
@requires(officer_only, officer_mfa)
def index(*, current: login_session.LoginSession, person: Person) -> Response:
    """The search form (POST: by exact NIK) and the accounts waiting for review."""
    if request.method != "POST":
        return _home()
    form = FindForm()
    if not form.validate():
        return _home(400, error=EXPIRED)
    try:
        found = counter.find(person, form.nik.data or "", form.reason.data or "")
    except counter.OfficerRefused as exc:
        return _home(400 if exc.reason != "rate_limited" else 429, error=REFUSED[exc.reason], find_form=form)
    if not found:
        return _home(200, not_found=True, find_form=form)
    if len(found) == 1:
        return _citizen(found[0])
    return page("officer/choose.html", accounts=found)  # the holder and who claims the NIK: ask the person


@bp.get("/citizen/<public_id>")
@requires(officer_only, officer_mfa)
def citizen(public_id: str, *, current: login_session.LoginSession, person: Person) -> Response:
    """One citizen account (from the review list or after a verification)."""
    view = counter.get(public_id)
    if view is None:
        return _home(404, error=REFUSED["gone"])
    return _citizen(view)


@bp.post("/verify")
@requires(officer_only, officer_mfa)
def verify(*, current: login_session.LoginSession, person: Person) -> Response:
    """Mark the NIK verified in person (the officer confirms the KTP-el check and gives the reason)."""
    form = VerifyForm()
    view = counter.get(form.public_id.data or "")
    if view is None:
        return _home(404, error=REFUSED["gone"])
    if not form.validate():
        return _citizen(view, 400, error=EXPIRED, form=form)
    try:
        counter.verify_in_person(person, view.public_id, form.reason.data or "", bool(form.checked.data))
    except counter.OfficerRefused as exc:
        return _citizen(view, 409 if exc.reason in ("already", "own", "contested") else 400,
                        error=REFUSED[exc.reason],
                        form=form)
    flash(_l("The NIK is marked verified in person."), "success")
    return see_other("officer.citizen", public_id=view.public_id)
