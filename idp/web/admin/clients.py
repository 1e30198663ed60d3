"""Every client of every team (disable, enable, delete) and initial access tokens for dynamic registration."""

from __future__ import annotations

from flask import Response, flash, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from idp import audit
from idp.consoles import admin
from idp.extensions import db
from idp.models import Client, InitialAccessToken, Person
from idp.oauth import registration
from idp.people import session as login_session
from idp.web.admin import GONE, bp, fresh, int_id, message, reauth
from idp.web.common import EXPIRED, mfa, page, requires, see_other
from idp.web.common import admin as admin_only
from idp.web.forms import ActionForm
from idp.web.portal.forms import ACR_TEXT, ANY, PERSON_TYPE_TEXT, translated_reason


class TokenForm(FlaskForm):
    note = StringField(_l("Who it is for"), validators=[Optional(), Length(max=200)])
    expires_hours = IntegerField(_l("Valid for (hours)"), default=24,
                                 validators=[InputRequired(_l("Give a number of hours.")),
                                             NumberRange(1, 365 * 24, _l("From 1 to 8760 hours."))])
    max_uses = IntegerField(_l("How many applications may be registered with it"), default=1,
                            validators=[InputRequired(_l("Give a number.")),
                                        NumberRange(1, 10000, _l("From 1 to 10000."))])



class PolicyForm(FlaskForm):
    """Who may sign in to the application (issue 18); the values are checked by the registration rules."""

    required_person_type = StringField(_l("Who may sign in"), validators=[Optional(), Length(max=20)])
    required_groups = TextAreaField(_l("Only members of these directory groups"), validators=[Optional(),
                                                                                             Length(max=11000)])
    required_acr = StringField(_l("Minimum sign-in strength"), validators=[Optional(), Length(max=100)])


# --- clients --------------------------------------------------------------------------------------------
@bp.get("/clients")
@requires(admin_only, mfa)
def clients(*, current: login_session.LoginSession, person: Person) -> Response:
    """Every client of every team, filtered by name and team."""
    name = (request.args.get("name") or "")[:200]
    team = (request.args.get("team") or "")[:200]
    return page("admin/clients.html", rows=admin.clients(name, team), name=name, team=team,
                 client_name=admin.client_name, form=ActionForm(), fresh=fresh(current), active="clients",
                 policy_of=admin.access_policy, person_types=PERSON_TYPE_TEXT, acr_levels=ACR_TEXT)


@bp.post("/clients/<int:client_pk>/policy")
@requires(admin_only, mfa)
def client_policy(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Set who may sign in to the application (staff or citizens only, directory groups, minimum level)."""
    form = PolicyForm()
    if not form.validate():
        return message(400, EXPIRED)
    client = db.session.get(Client, client_pk) if int_id(client_pk) else None
    if client is None:
        return message(404, GONE)
    kind, level = form.required_person_type.data or "", form.required_acr.data or ""
    groups = [line.strip() for line in (form.required_groups.data or "").splitlines() if line.strip()]
    try:
        admin.set_access_policy(client, person_type=None if kind in ("", ANY) else kind, groups=groups,
                                acr=None if level in ("", ANY) else level, by=f"console {person.sub}",
                                admin_id=person.id)
    except registration.MetadataError as exc:
        db.session.rollback()
        return message(400, _l("Not accepted: %(why)s", why=translated_reason(exc.description.split(": ", 1)[-1])))
    db.session.commit()
    flash(_l("Who may sign in to %(name)s is saved.", name=admin.client_name(client)), "success")
    return see_other("admin.clients")


def _client_action(client_pk: int, current: login_session.LoginSession) -> Client | Response:
    if not ActionForm().validate():
        return message(400, EXPIRED)
    if not fresh(current):
        return reauth()
    client = db.session.get(Client, client_pk) if int_id(client_pk) else None
    if client is None:
        return message(404, GONE)
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
        return message(400, EXPIRED)
    client = db.session.get(Client, client_pk) if int_id(client_pk) else None
    if client is None:
        return message(404, GONE)
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
