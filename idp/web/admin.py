"""The administration console at ``/admin`` (issue 6): scope requests, people, clients, audit log,
initial access tokens, signing keys.

Only administrators (staff whose directory groups map to ``admin``, :mod:`idp.people.roles`) whose session
used a second factor (``acr`` MFA) get in; a signed-in administrator without it gets a page that
explains how to add one; everyone else signed in gets 403; nobody signed in goes to the sign-in page.
Every change is a POST with a CSRF token followed by a redirect (POST/redirect/GET), and is audited
as ``admin.<action>``; destructive actions (lock, end sessions, disable or delete a client, rotate the
keys) need a sign-in within the last five minutes.  A NIK is only ever typed into a POST form, never
put in a URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, flash, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from idp import audit
from idp.consoles import admin, scope_requests
from idp.consoles.account import citizen_account, client_names, when
from idp.extensions import db, state
from idp.models import Client, IdentityLink, InitialAccessToken, Person, ScopeRequest, StaffAccount
from idp.oauth import keys as signing_keys
from idp.oauth import registration
from idp.people import session as login_session
from idp.people.claims import SCOPE_TEXT
from idp.web.common import EXPIRED, SOURCE_TEXT, mfa, page, requires, see_other
from idp.web.common import admin as admin_only
from idp.web.forms import ActionForm

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Destructive actions need a sign-in this recent (the same rule as deleting one's account).
FRESH_SIGN_IN_SECONDS = 300
GONE = _l("That no longer exists, or was changed meanwhile.")


# --- forms ---------------------------------------------------------------------------------------------
class NoteForm(FlaskForm):
    note = TextAreaField(_l("Note to the team"), validators=[Optional(), Length(max=scope_requests.NOTE_MAX)])


class RefuseForm(FlaskForm):
    note = TextAreaField(_l("Why (told to the team)"),
                         validators=[InputRequired(_l("Say why the request is refused.")),
                                     Length(max=scope_requests.NOTE_MAX)])


class SearchForm(FlaskForm):
    email = StringField(_l("E-mail address"), validators=[Optional(), Length(max=254)])
    name = StringField(_l("Name (part of it)"), validators=[Optional(), Length(max=200)])
    nik = StringField(_l("NIK (all 16 digits)"), validators=[Optional(), Length(max=40)])


class LockForm(FlaskForm):
    reason = StringField(_l("Reason (kept in the audit log)"), validators=[Optional(), Length(max=200)])


class TokenForm(FlaskForm):
    note = StringField(_l("Who it is for"), validators=[Optional(), Length(max=200)])
    expires_hours = IntegerField(_l("Valid for (hours)"), default=24,
                                 validators=[InputRequired(_l("Give a number of hours.")),
                                             NumberRange(1, 365 * 24, _l("From 1 to 8760 hours."))])
    max_uses = IntegerField(_l("How many applications may be registered with it"), default=1,
                            validators=[InputRequired(_l("Give a number.")),
                                        NumberRange(1, 10000, _l("From 1 to 10000."))])


# --- helpers -------------------------------------------------------------------------------------------
def _fresh(current: login_session.LoginSession) -> bool:
    return time.time() - current.auth_time <= FRESH_SIGN_IN_SECONDS


def _message(status: int, error: Any, **context: Any) -> Response:
    return page("admin/message.html", status, error=error, **context)


def _reauth() -> Response:
    return _message(403, _l("For safety, sign in again before this action (then do it within five minutes)."),
                    reauth=True)


def _int_id(value: int) -> bool:
    return 0 < value <= admin.MAX_ID


# --- start page ------------------------------------------------------------------------------------------
@bp.get("")
@requires(admin_only, mfa)
def index(*, current: login_session.LoginSession, person: Person) -> Response:
    """The console's start page: what waits for a decision, and the sections."""
    return page("admin/index.html", counts=admin.counts(), active="index")


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
            return _message(400, EXPIRED)
        return _message(400, next(iter(form.errors.values()))[0])
    row = db.session.get(ScopeRequest, request_id) if _int_id(request_id) else None
    if row is None:
        return _message(404, GONE)
    try:
        client = decide(row, form.note.data)
    except scope_requests.DecisionError:
        db.session.rollback()
        return _message(409, GONE)
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
        return _message(404, GONE)
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
                 form=ActionForm(), lock_form=LockForm(formdata=None), fresh=_fresh(current),
                 is_self=subject.id == person.id, active="people")


def _subject_action(person_id: int, form: FlaskForm, current: login_session.LoginSession) -> Person | Response:
    if not form.validate():
        return _message(400, EXPIRED)
    if not _fresh(current):
        return _reauth()
    subject = admin.get_person(person_id)
    if subject is None or subject.status == "deleted":
        return _message(404, GONE)
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
        return _message(400, _l("You cannot lock yourself out."))
    ended = admin.lock(subject, admin_id=person.id, reason=form.reason.data)
    db.session.commit()
    flash(_l("Locked. %(n)d session(s) ended.", n=ended), "success")
    return see_other("admin.person_page", person_id=subject.id)


@bp.post("/people/<int:person_id>/unlock")
@requires(admin_only, mfa)
def unlock(person_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Unlock the person (sign-in works again)."""
    if not ActionForm().validate():
        return _message(400, EXPIRED)
    subject = admin.get_person(person_id)
    if subject is None or subject.status == "deleted":
        return _message(404, GONE)
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
        return _message(400, GONE)
    ended = admin.end_sessions(subject, admin_id=person.id, sid=sid)
    db.session.commit()
    flash(_l("%(n)d session(s) ended.", n=ended), "success")
    return see_other("admin.person_page", person_id=subject.id)


# --- clients --------------------------------------------------------------------------------------------
@bp.get("/clients")
@requires(admin_only, mfa)
def clients(*, current: login_session.LoginSession, person: Person) -> Response:
    """Every client of every team, filtered by name and team."""
    name = (request.args.get("name") or "")[:200]
    team = (request.args.get("team") or "")[:200]
    return page("admin/clients.html", rows=admin.clients(name, team), name=name, team=team,
                 client_name=admin.client_name, form=ActionForm(), fresh=_fresh(current), active="clients")


def _client_action(client_pk: int, current: login_session.LoginSession) -> Client | Response:
    if not ActionForm().validate():
        return _message(400, EXPIRED)
    if not _fresh(current):
        return _reauth()
    client = db.session.get(Client, client_pk) if _int_id(client_pk) else None
    if client is None:
        return _message(404, GONE)
    return client


@bp.post("/clients/<int:client_pk>/disable")
@requires(admin_only, mfa)
def disable_client(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Disable a client; its refresh tokens (and the access tokens issued with them) are revoked."""
    client = _client_action(client_pk, current)
    if isinstance(client, Response):
        return client
    admin.set_client_disabled(client, True, admin_id=person.id)
    db.session.commit()
    flash(_l("The application is disabled."), "success")
    return see_other("admin.clients")


@bp.post("/clients/<int:client_pk>/enable")
@requires(admin_only, mfa)
def enable_client(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Enable a disabled client."""
    if not ActionForm().validate():
        return _message(400, EXPIRED)
    client = db.session.get(Client, client_pk) if _int_id(client_pk) else None
    if client is None:
        return _message(404, GONE)
    admin.set_client_disabled(client, False, admin_id=person.id)
    db.session.commit()
    flash(_l("The application is enabled."), "success")
    return see_other("admin.clients")


@bp.post("/clients/<int:client_pk>/delete")
@requires(admin_only, mfa)
def delete_client(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Delete a client with its consents and tokens."""
    client = _client_action(client_pk, current)
    if isinstance(client, Response):
        return client
    admin.delete_client(client, admin_id=person.id)
    db.session.commit()
    flash(_l("The application is deleted."), "success")
    return see_other("admin.clients")


# --- audit log ---------------------------------------------------------------------------------------------
BAD_FILTER = {
    "person": _l("The person filter is a person number."), "client": _l("The client filter is too long."),
    "event": _l("The event filter is too long."), "from": _l("Give the start time as YYYY-MM-DD or YYYY-MM-DDTHH:MM."),
    "to": _l("Give the end time as YYYY-MM-DD or YYYY-MM-DDTHH:MM."), "page": _l("That page does not exist."),
}


@bp.get("/audit")
@requires(admin_only, mfa)
def audit_log(*, current: login_session.LoginSession, person: Person) -> Response:
    """The audit log, newest first, filtered and paginated."""
    try:
        flt = admin.parse_filter(request.args)
        number = admin.parse_page(request.args.get("page"))
    except admin.BadFilter as exc:
        return page("admin/audit.html", 400, events=[], page=1, more=False, flt=admin.AuditFilter(),
                     args=request.args, error=BAD_FILTER[exc.field], active="audit")
    events, more = admin.audit_page(flt, number)
    args: dict[str, Any] = flt.args()
    return page("admin/audit.html", events=events, page=number, more=more, flt=flt, args=args,
                csv_url=url_for("admin.audit_export", **args),
                prev_url=url_for("admin.audit_log", **{**args, "page": str(number - 1)}) if number > 1 else None,
                next_url=url_for("admin.audit_log", **{**args, "page": str(number + 1)}) if more else None,
                 active="audit")


@bp.get("/audit.csv")
@requires(admin_only, mfa)
def audit_export(*, current: login_session.LoginSession, person: Person) -> Response:
    """The filtered audit log as CSV (cells that a spreadsheet would run as a formula are quoted)."""
    try:
        flt = admin.parse_filter(request.args)
    except admin.BadFilter as exc:
        return _message(400, BAD_FILTER[exc.field])
    body = admin.audit_csv(flt)
    audit.record("admin.audit_exported", admin=person.id, filters=flt.args())
    db.session.commit()
    resp = Response(body, mimetype="text/csv")
    resp.headers["Content-Disposition"] = 'attachment; filename="sso-banten-audit.csv"'
    return resp


# --- initial access tokens -----------------------------------------------------------------------------
@bp.route("/tokens", methods=["GET", "POST"])
@requires(admin_only, mfa)
def tokens(*, current: login_session.LoginSession, person: Person) -> Response:
    """Create an initial access token for dynamic registration (RFC 7591 3); it is shown once."""
    listed = db.session.execute(select(InitialAccessToken).order_by(InitialAccessToken.id.desc())
                                .limit(100)).scalars().all()
    if request.method != "POST":
        return page("admin/tokens.html", form=TokenForm(formdata=None), listed=listed, token=None,
                     active="tokens")
    form = TokenForm()
    note = (form.note.data or "").strip()
    if not form.validate() or (note and not note.isprintable()):
        if note and not note.isprintable():
            form.note.errors = [str(_l("Use printable characters only."))]
        return page("admin/tokens.html", 400, form=form, listed=listed, token=None, active="tokens",
                     error=EXPIRED if form.errors.get("csrf_token") else None)
    audit.record("admin.iat_created", admin=person.id, max_uses=form.max_uses.data,
                 expires_hours=form.expires_hours.data, note=note or None)
    # registration.initial_access_token commits (the audit entry with it).
    token = registration.initial_access_token(expires_in=int(form.expires_hours.data or 1) * 3600,
                                              max_uses=int(form.max_uses.data or 1), note=note or None)
    listed = db.session.execute(select(InitialAccessToken).order_by(InitialAccessToken.id.desc())
                                .limit(100)).scalars().all()
    # Shown once, in this answer only (never in a redirect, a flash message or the log).
    return page("admin/tokens.html", form=TokenForm(formdata=None), listed=listed, token=token, active="tokens")


# --- signing keys --------------------------------------------------------------------------------------
@bp.get("/keys")
@requires(admin_only, mfa)
def keys(*, current: login_session.LoginSession, person: Person) -> Response:
    """The signing keys and their state (never a private part)."""
    return page("admin/keys.html", keys=signing_keys.describe(), form=ActionForm(), fresh=_fresh(current),
                 overlap=state().config["KEY_ROTATION_OVERLAP"], active="keys")


@bp.post("/keys/rotate")
@requires(admin_only, mfa)
def rotate_keys(*, current: login_session.LoginSession, person: Person) -> Response:
    """Start a key rotation: new keys are published now and sign after the overlap."""
    if not ActionForm().validate():
        return _message(400, EXPIRED)
    if not _fresh(current):
        return _reauth()
    created = signing_keys.rotate()
    audit.record("admin.keys_rotated", admin=person.id, kids=created)
    db.session.commit()
    flash(_l("%(n)d new key(s) published; they sign after the overlap.", n=len(created)) if created
          else _l("A rotation is already scheduled; nothing was changed."), "success")
    return see_other("admin.keys")


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
    stored = state().store.get("authreq", req_id)
    client_id = stored.get("client_id") if isinstance(stored, dict) else None
    if not isinstance(client_id, str):
        return {}
    pk = db.session.execute(select(Client.id).where(Client.client_id == client_id)).scalar_one_or_none()
    if pk is None:
        return {}
    return {str(SCOPE_TEXT[scope]): purpose for scope, purpose in scope_requests.purposes_for(pk).items()
            if scope in SCOPE_TEXT}

