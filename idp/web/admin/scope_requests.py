"""Scope requests: pending ones (approve, refuse) and approvals in force (revoke); the purposes shown on
the consent page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, flash
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from idp.consoles import admin, scope_requests
from idp.extensions import db
from idp.models import Client, Person, ScopeRequest
from idp.oauth import authorize as authz
from idp.people import session as login_session
from idp.people.claims import SCOPE_TEXT
from idp.web.admin import GONE, bp, int_id, message
from idp.web.common import EXPIRED, mfa, page, requires, see_other
from idp.web.common import admin as admin_only


# --- forms ---------------------------------------------------------------------------------------------
class NoteForm(FlaskForm):
    note = TextAreaField(_l("Note to the team"), validators=[Optional(), Length(max=scope_requests.NOTE_MAX)])


class RefuseForm(FlaskForm):
    note = TextAreaField(_l("Why (told to the team)"),
                         validators=[InputRequired(_l("Say why the request is refused.")),
                                     Length(max=scope_requests.NOTE_MAX)])




# --- scope requests -------------------------------------------------------------------------------------
@bp.get("/scope-requests")
@requires(admin_only, mfa)
def requests_page(*, current: login_session.LoginSession, person: Person) -> Response:
    """Pending requests (approve / refuse) and approvals in force (revoke)."""
    people: dict[int, Person] = {}
    pending = scope_requests.pending()
    approved = scope_requests.approved()
    ids = {r.requested_by for r, _c, _t in pending + approved if r.requested_by is not None}
    if ids:
        people = {p.id: p for p in db.session.execute(select(Person).where(Person.id.in_(ids))).scalars()}
    return page("admin/scope_requests.html", pending=pending, approved=approved, people=people,
                 scope_text=SCOPE_TEXT, client_name=admin.client_name, note_form=NoteForm(formdata=None),
                 refuse_form=RefuseForm(formdata=None), active="requests")


def _decision(request_id: int, form: FlaskForm, decide: Callable[[ScopeRequest, str | None], Client],
              done: Any) -> Response:
    if not form.validate():
        if form.errors.get("csrf_token"):
            return message(400, EXPIRED)
        return message(400, next(iter(form.errors.values()))[0])
    row = db.session.get(ScopeRequest, request_id) if int_id(request_id) else None
    if row is None:
        return message(404, GONE)
    try:
        client = decide(row, form.note.data)
    except scope_requests.DecisionError:
        db.session.rollback()
        return message(409, GONE)
    db.session.commit()
    scope_requests.notify(client, row)
    flash(done, "success")
    return see_other("admin.requests_page")


@bp.post("/scope-requests/<int:request_id>/approve")
@requires(admin_only, mfa)
def approve(request_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Approve a pending request (the scope joins the client's approved scopes); the team is told."""
    return _decision(request_id, NoteForm(),
                     lambda row, note: scope_requests.approve(row, admin_id=person.id, note=note),
                     _l("Approved. The team is told by e-mail."))


@bp.post("/scope-requests/<int:request_id>/refuse")
@requires(admin_only, mfa)
def refuse(request_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Refuse a pending request with a note; the team is told."""
    return _decision(request_id, RefuseForm(),
                     lambda row, note: scope_requests.refuse(row, admin_id=person.id, note=note or ""),
                     _l("Refused. The team is told by e-mail."))


@bp.post("/scope-requests/<int:request_id>/revoke")
@requires(admin_only, mfa)
def revoke(request_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Withdraw an approval: the client stops receiving the scope at once; the team is told."""
    return _decision(request_id, NoteForm(),
                     lambda row, note: scope_requests.revoke(row, admin_id=person.id, note=note),
                     _l("The approval is withdrawn. The team is told by e-mail."))


# --- the consent page -----------------------------------------------------------------------------------
@bp.app_template_global()
def purposes_for(client_pk: int) -> dict[str, str]:
    """``{scope: purpose}`` of the client's approved sensitive scopes (see :mod:`idp.consoles.scope_requests`)."""
    return scope_requests.purposes_for(client_pk)


@bp.app_template_global()
def consent_purposes(req_id: str) -> dict[str, str]:
    """``{scope text: purpose}`` for the consent page of pending request ``req_id`` (its client's approvals).

    The consent page lists the scopes in words (``SCOPE_TEXT``); the purpose is looked up by the same
    words so the page needs nothing more than it has.
    """
    if not isinstance(req_id, str) or not req_id or len(req_id) > 100:
        return {}
    stored = authz.pending(req_id)
    client_id = stored.get("client_id") if isinstance(stored, dict) else None
    if not isinstance(client_id, str):
        return {}
    pk = db.session.execute(select(Client.id).where(Client.client_id == client_id)).scalar_one_or_none()
    if pk is None:
        return {}
    return {str(SCOPE_TEXT[scope]): purpose for scope, purpose in scope_requests.purposes_for(pk).items()
            if scope in SCOPE_TEXT}
