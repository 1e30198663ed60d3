"""People: find them (by e-mail, name or exact NIK, in a POST form), see one, lock, unlock, end sessions."""

from __future__ import annotations

from flask import Response, flash, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, StringField
from wtforms.validators import Length, Optional

from idp import audit
from idp.consoles import admin
from idp.consoles import grants as grant_rules
from idp.consoles.account import citizen_account, client_names, when
from idp.extensions import db
from idp.models import IdentityLink, Person, StaffAccount
from idp.people import session as login_session
from idp.web.admin import GONE, bp, fresh, message, reauth
from idp.web.common import EXPIRED, SOURCE_TEXT, mfa, page, requires, see_other
from idp.web.common import admin as admin_only
from idp.web.forms import ActionForm


# --- forms ---------------------------------------------------------------------------------------------
class SearchForm(FlaskForm):
    email = StringField(_l("E-mail address"), validators=[Optional(), Length(max=254)])
    name = StringField(_l("Name (part of it)"), validators=[Optional(), Length(max=200)])
    nik = StringField(_l("NIK (all 16 digits)"), validators=[Optional(), Length(max=40)])


class PortalGrantForm(FlaskForm):
    """Portal access for a person who is not staff, for one team, until it expires (issue 18)."""

    team = StringField(_l("Team (its name in the portal)"), validators=[Optional(), Length(max=200)])
    days = IntegerField(_l("Access ends after (days)"), default=grant_rules.DEFAULT_PORTAL_DAYS,
                        validators=[Optional()])


class LockForm(FlaskForm):
    reason = StringField(_l("Reason (kept in the audit log)"), validators=[Optional(), Length(max=200)])



# --- people ---------------------------------------------------------------------------------------------
@bp.route("/people", methods=["GET", "POST"])
@requires(admin_only, mfa)
def people(*, current: login_session.LoginSession, person: Person) -> Response:
    """Find people by e-mail, by name, or by exact NIK (a POST form: the NIK never goes into a URL)."""
    if request.method != "POST":
        return page("admin/people.html", form=SearchForm(formdata=None), results=None, active="people")
    form = SearchForm()
    if not form.validate():
        return page("admin/people.html", 400, form=form, results=None, active="people",
                     error=EXPIRED if form.errors.get("csrf_token") else None)
    email, name, typed_nik = (form.email.data or "").strip(), (form.name.data or "").strip(), form.nik.data or ""
    form.nik.data = ""  # never echoed back into the page
    if sum(bool(x) for x in (email, name, typed_nik.strip())) != 1:
        return page("admin/people.html", 400, form=form, results=None, active="people",
                     error=_l("Fill in exactly one field."))
    if typed_nik.strip():
        results = admin.find_by_nik(typed_nik)
        how = "nik"
    elif email:
        results, how = admin.find_by_email(email), "email"
    else:
        results, how = admin.find_by_name(name), "name"
    audit.record("admin.people_searched", admin=person.id, by=how, found=len(results))
    db.session.commit()
    return page("admin/people.html", form=form, results=results, limit=admin.SEARCH_LIMIT, active="people")


@bp.get("/people/<int:person_id>")
@requires(admin_only, mfa)
def person_page(person_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """One person: linked accounts (NIK masked), status, live sessions with their applications."""
    subject = admin.get_person(person_id)
    if subject is None:
        return message(404, GONE)
    links = db.session.execute(select(IdentityLink).where(IdentityLink.person_id == subject.id)
                               .order_by(IdentityLink.id)).scalars().all()
    citizen = citizen_account(subject.id)
    staff = db.session.execute(select(StaffAccount).where(StaffAccount.person_id == subject.id)).scalars().first()
    live = login_session.sessions_of(subject.id)
    names = client_names(sorted({c for s in live for c in s.clients}))
    sessions = [{"sid": s.sid, "created": when(s.created), "auth_time": when(s.auth_time), "acr": s.acr,
                 "source": SOURCE_TEXT.get(s.source, s.source), "device": s.device, "ip": s.ip,
                 "clients": [names.get(c, c) for c in s.clients]} for s in live]
    return page("admin/person.html", subject=subject, links=links, sources=SOURCE_TEXT, citizen=citizen,
                 staff=staff, staff_nik=admin.masked_staff_nik(staff) if staff else None, sessions=sessions,
                 form=ActionForm(), lock_form=LockForm(formdata=None), fresh=fresh(current),
                 grants=grant_rules.grants(person_id=subject.id), portal_form=PortalGrantForm(formdata=None),
                 is_self=subject.id == person.id, active="people")


def _subject_action(person_id: int, form: FlaskForm, current: login_session.LoginSession) -> Person | Response:
    if not form.validate():
        return message(400, EXPIRED)
    if not fresh(current):
        return reauth()
    subject = admin.get_person(person_id)
    if subject is None or subject.status == "deleted":
        return message(404, GONE)
    return subject


@bp.post("/people/<int:person_id>/lock")
@requires(admin_only, mfa)
def lock(person_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Lock the person: sessions end (applications told), refresh tokens revoked, sign-in refused."""
    form = LockForm()
    subject = _subject_action(person_id, form, current)
    if isinstance(subject, Response):
        return subject
    if subject.id == person.id:
        return message(400, _l("You cannot lock yourself out."))
    ended = admin.lock(subject, admin_id=person.id, reason=form.reason.data)
    db.session.commit()
    flash(_l("Locked. %(n)d session(s) ended.", n=ended), "success")
    return see_other("admin.person_page", person_id=subject.id)


@bp.post("/people/<int:person_id>/unlock")
@requires(admin_only, mfa)
def unlock(person_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Unlock the person (sign-in works again)."""
    if not ActionForm().validate():
        return message(400, EXPIRED)
    subject = admin.get_person(person_id)
    if subject is None or subject.status == "deleted":
        return message(404, GONE)
    admin.unlock(subject, admin_id=person.id)
    db.session.commit()
    flash(_l("Unlocked."), "success")
    return see_other("admin.person_page", person_id=subject.id)


@bp.post("/people/<int:person_id>/end-sessions")
@requires(admin_only, mfa)
def end_sessions(person_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """End every session of the person (or one, ``sid`` in the form); applications are told."""
    subject = _subject_action(person_id, ActionForm(), current)
    if isinstance(subject, Response):
        return subject
    sid = request.form.get("sid") or None
    if sid is not None and (len(sid) > 100 or not sid.isprintable()):
        return message(400, GONE)
    ended = admin.end_sessions(subject, admin_id=person.id, sid=sid)
    db.session.commit()
    flash(_l("%(n)d session(s) ended.", n=ended), "success")
    return see_other("admin.person_page", person_id=subject.id)
