"""The portal's start page and the teams: members, owners, leaving."""

from __future__ import annotations

from typing import Any

from flask import Response, flash
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from idp.consoles import grants as grant_rules
from idp.consoles import portal as logic
from idp.extensions import db
from idp.models import Person, Team
from idp.people import session as login_session
from idp.web.common import EXPIRED, known_ids, page, requires, see_other, staff
from idp.web.forms import ActionForm
from idp.web.portal import bp, message, team_of
from idp.web.portal.forms import MemberForm, TeamForm


# --- start page ----------------------------------------------------------------------------------
@bp.get("")
@requires(staff, known_ids)
def index(*, current: login_session.LoginSession, person: Person) -> Response:
    """The developer's teams and their applications, and a form to start a team."""
    return page("portal/index.html", teams=logic.teams_of(person.id), apps=logic.clients_of(person.id),
                 form=TeamForm(formdata=None), person=person)


@bp.post("/teams")
@requires(staff, known_ids)
def create_team(*, current: login_session.LoginSession, person: Person) -> Response:
    form = TeamForm()
    if not form.validate():
        return message(400, EXPIRED)
    try:
        team = logic.create_team(form.name.data or "", person.id)
    except logic.PortalError as exc:
        db.session.rollback()
        form.name.errors = [exc.message]
        return page("portal/index.html", 400, teams=logic.teams_of(person.id), apps=logic.clients_of(person.id),
                     form=form, person=person)
    db.session.commit()
    flash(_l("The team is created; you are its owner."), "success")
    return see_other("portal.team", team_id=team.id)


# --- teams -----------------------------------------------------------------------------------------
def _team_page(team: Team, role: str, person: Person, status: int = 200,
               member_form: MemberForm | None = None, error: Any = None) -> Response:
    apps = [(c, t) for c, t in logic.clients_of(person.id) if t.id == team.id]
    return page("portal/team.html", status, team=team, role=role, person=person, members=logic.members(team.id),
                 apps=apps, grants=grant_rules.grants(team_id=team.id, role="portal"),
                 member_form=member_form or MemberForm(formdata=None), form=ActionForm(), error=error)


@bp.get("/teams/<int:team_id>")
@requires(staff, known_ids)
def team(team_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """The team's members and applications; owners manage the membership here."""
    found, role = team_of(team_id, person)
    return _team_page(found, role, person)


def _owner_action(team_id: int, person: Person, form: FlaskForm) -> tuple[Team, str] | Response:
    found, role = team_of(team_id, person)
    if not form.validate():
        return _team_page(found, role, person, 400, error=EXPIRED)
    if role != logic.OWNER:
        return _team_page(found, role, person, 403, error=_l("Only an owner of the team can do this."))
    return found, role


@bp.post("/teams/<int:team_id>/members")
@requires(staff, known_ids)
def add_member(team_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    form = MemberForm()
    checked = _owner_action(team_id, person, form)
    if isinstance(checked, Response):
        return checked
    found, role = checked
    try:
        added = logic.add_member(found, form.who.data or "", by=person.id)
    except logic.PortalError as exc:
        db.session.rollback()
        form.who.errors = [exc.message]
        return _team_page(found, role, person, 400, member_form=form)
    db.session.commit()
    flash(_l("%(name)s is now in the team.", name=added.name or added.email or ""), "success")
    return see_other("portal.team", team_id=found.id)


@bp.post("/teams/<int:team_id>/members/<int:member_id>/remove")
@requires(staff, known_ids)
def remove_member(team_id: int, member_id: int, *, current: login_session.LoginSession,
                  person: Person) -> Response:
    """Owners remove anyone; every member may leave (the last owner hands over first)."""
    form = ActionForm()
    found, role = team_of(team_id, person)
    if not form.validate():
        return _team_page(found, role, person, 400, error=EXPIRED)
    if role != logic.OWNER and member_id != person.id:
        return _team_page(found, role, person, 403, error=_l("Only an owner of the team can do this."))
    try:
        logic.remove_member(found, member_id, by=person.id)
    except logic.PortalError as exc:
        db.session.rollback()
        return _team_page(found, role, person, 400, error=exc.message)
    db.session.commit()
    flash(_l("The team is updated."), "success")
    if member_id == person.id:
        return see_other("portal.index")
    return see_other("portal.team", team_id=found.id)


@bp.post("/teams/<int:team_id>/members/<int:member_id>/owner")
@requires(staff, known_ids)
def hand_over(team_id: int, member_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Hand the ownership to another member (the previous owner stays as a member)."""
    form = ActionForm()
    checked = _owner_action(team_id, person, form)
    if isinstance(checked, Response):
        return checked
    found, role = checked
    try:
        logic.hand_over(found, member_id, by=person.id)
    except logic.PortalError as exc:
        db.session.rollback()
        return _team_page(found, role, person, 400, error=exc.message)
    db.session.commit()
    flash(_l("The ownership is handed over."), "success")
    return see_other("portal.team", team_id=found.id)



@bp.post("/teams/<int:team_id>/grants/<int:grant_id>/revoke")
@requires(staff, known_ids)
def revoke_grant(team_id: int, grant_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """An owner ends a vendor's portal access to the team now (issue 18)."""
    form = ActionForm()
    checked = _owner_action(team_id, person, form)
    if isinstance(checked, Response):
        return checked
    found, _role = checked
    grant = grant_rules.portal_grant(grant_id, found.id)
    if grant is None:
        return message(404, _l("There is no such access for this team."))
    grant_rules.revoke_portal(grant, by=f"portal owner {person.sub}", actor_id=person.id)
    db.session.commit()
    flash(_l("The access is revoked."), "success")
    return see_other("portal.team", team_id=found.id)
