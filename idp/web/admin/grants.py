"""Roles operators grant on a person's page (issue 18): administrator, and portal access for a team."""

from __future__ import annotations

from flask import Response, flash
from flask_babel import lazy_gettext as _l

from idp.consoles import grants as rules
from idp.extensions import db
from idp.models import Person, RoleGrant
from idp.people import roles
from idp.people import session as login_session
from idp.web.admin import GONE, bp, message
from idp.web.admin.people import PortalGrantForm, _subject_action
from idp.web.common import admin as admin_only
from idp.web.common import mfa, requires, see_other
from idp.web.forms import ActionForm


def _by(person: Person) -> str:
    return f"console {person.sub}"


@bp.post("/people/<int:person_id>/admin-role")
@requires(admin_only, mfa)
def grant_admin(person_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Make the person an administrator (a second factor is required at their next sign-in)."""
    subject = _subject_action(person_id, ActionForm(), current)
    if isinstance(subject, Response):
        return subject
    if subject.status != "active":
        return message(400, GONE)
    rules.grant_admin(subject, by=_by(person), admin_id=person.id)
    db.session.commit()
    flash(_l("The person is an administrator now; a second factor is required at their next sign-in."), "success")
    return see_other("admin.person_page", person_id=subject.id)


@bp.post("/people/<int:person_id>/admin-role/revoke")
@requires(admin_only, mfa)
def revoke_admin(person_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    subject = _subject_action(person_id, ActionForm(), current)
    if isinstance(subject, Response):
        return subject
    if subject.id == person.id:
        return message(400, _l("You cannot withdraw your own administrator role."))
    if not rules.revoke_admin(subject, by=_by(person), admin_id=person.id):
        return message(404, GONE)
    db.session.commit()
    flash(_l("The administrator role is withdrawn."), "success")
    return see_other("admin.person_page", person_id=subject.id)


@bp.post("/people/<int:person_id>/portal-access")
@requires(admin_only, mfa)
def grant_portal(person_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Let the person (a vendor's developer) use the portal for a team until the access expires."""
    form = PortalGrantForm()
    subject = _subject_action(person_id, form, current)
    if isinstance(subject, Response):
        return subject
    if subject.status != "active":
        return message(400, GONE)
    try:
        team = rules.find_team(form.team.data or "")
        rules.grant_portal(subject, team, rules.portal_expiry(form.days.data), by=_by(person), admin_id=person.id)
    except rules.GrantError as exc:
        db.session.rollback()
        return message(400, exc.message)
    db.session.commit()
    flash(_l("Portal access granted for the team %(team)s.", team=team.name), "success")
    return see_other("admin.person_page", person_id=subject.id)


@bp.post("/people/<int:person_id>/portal-access/<int:grant_id>/revoke")
@requires(admin_only, mfa)
def revoke_portal(person_id: int, grant_id: int, *, current: login_session.LoginSession,
                  person: Person) -> Response:
    subject = _subject_action(person_id, ActionForm(), current)
    if isinstance(subject, Response):
        return subject
    grant = db.session.get(RoleGrant, grant_id)
    if grant is None or grant.person_id != subject.id or grant.role != roles.PORTAL:
        return message(404, GONE)
    rules.revoke_portal(grant, by=_by(person), actor_id=person.id)
    db.session.commit()
    flash(_l("The access is revoked."), "success")
    return see_other("admin.person_page", person_id=subject.id)
