"""Registering an application for a team and changing its settings; a new secret is shown once."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, request
from flask_babel import lazy_gettext as _l

from idp.consoles import portal as logic
from idp.crypto import random_token
from idp.extensions import db, state
from idp.models import Client, Person
from idp.oauth import registration
from idp.oauth.registration import MetadataError
from idp.people import session as login_session
from idp.people.claims import SCOPE_TEXT
from idp.web.common import EXPIRED, known_ids, page, requires, see_other, staff
from idp.web.portal import bp, client_of, team_of
from idp.web.portal.forms import (
    ACR_TEXT,
    GRANT_TEXT,
    METHOD_TEXT,
    PERSON_TYPE_TEXT,
    SUBJECT_TEXT,
    ClientForm,
    field_error,
    metadata_of,
    prefill,
)

SECRET_SHOWN_FOR = 600  # seconds the one-time secret page may be opened after the POST


def _form_page(template: str, status: int, form: ClientForm, **context: Any) -> Response:
    return page(template, status, form=form, grant_types=registration.grant_types(),
                 auth_methods=registration.auth_methods(), subject_types=registration.SUBJECT_TYPES,
                 known_scopes=registration.KNOWN_SCOPES, grant_text=GRANT_TEXT, method_text=METHOD_TEXT,
                 subject_text=SUBJECT_TEXT, scope_text=SCOPE_TEXT,
                 person_types=list(PERSON_TYPE_TEXT), person_type_text=PERSON_TYPE_TEXT, acr_levels=list(ACR_TEXT),
                 acr_text=ACR_TEXT, sensitive=logic.sensitive_scopes(), **context)


def show_secret_once(client: Client, person: Person, secret: str) -> Response:
    """Keep the new secret (encrypted) in the store for one GET, and send the browser there."""
    app_state = state()
    once = random_token(24)
    app_state.store.put("portal_secret", once, {"client": client.id, "person": person.id,
                                            "secret": app_state.crypto.encrypt(secret, "portal.secret")},
                    SECRET_SHOWN_FOR)
    return see_other("portal.secret", client_pk=client.id, once=once)



@bp.route("/teams/<int:team_id>/apps/new", methods=["GET", "POST"])
@requires(staff, known_ids)
def register(team_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Register an application for the team; its secret is shown once on the next page."""
    found, _role = team_of(team_id, person)
    if request.method != "POST":
        form = ClientForm(formdata=None, data={"grant_types": ["authorization_code"],
                                               "token_endpoint_auth_method": "client_secret_basic",
                                               "subject_type": "public", "scope": ["openid", "profile", "email"]})
        return _form_page("portal/client_form.html", 200, form, team=found, client=None)
    form = ClientForm()
    if not form.validate():
        return _form_page("portal/client_form.html", 400, form, team=found, client=None, error=EXPIRED)
    try:
        client, secret = logic.register(found, metadata_of(form), person_id=person.id,
                                        description=form.description.data, purpose=form.purpose.data)
    except MetadataError as exc:
        db.session.rollback()
        field_error(form, exc)
        return _form_page("portal/client_form.html", 400, form, team=found, client=None)
    except logic.PortalError as exc:
        db.session.rollback()
        getattr(form, exc.field or "purpose").errors = [exc.message]
        return _form_page("portal/client_form.html", 400, form, team=found, client=None)
    db.session.commit()
    flash(_l("The application is registered."), "success")
    if secret:
        return show_secret_once(client, person, secret)
    return see_other("portal.client", client_pk=client.id)


@bp.get("/apps/<int:client_pk>/secret/<once>")
@requires(staff, known_ids)
def secret(client_pk: int, once: str, *, current: login_session.LoginSession, person: Person) -> Response:
    """The new secret, once: the store entry is taken by this request and never shown again."""
    client, found = client_of(client_pk, person)
    app_state = state()
    entry = app_state.store.take("portal_secret", once[:64]) if once.isprintable() else None
    if not isinstance(entry, dict) or entry.get("client") != client.id or entry.get("person") != person.id:
        return page("portal/secret.html", 410, client=client, team=found, secret=None)
    value = app_state.crypto.decrypt(entry["secret"], "portal.secret")
    return page("portal/secret.html", client=client, team=found, secret=value)


@bp.route("/apps/<int:client_pk>/edit", methods=["GET", "POST"])
@requires(staff, known_ids)
def edit(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Change the application's settings (the subject type and sector cannot change)."""
    client, found = client_of(client_pk, person)
    if request.method != "POST":
        return _form_page("portal/client_form.html", 200, prefill(client), team=found, client=client)
    form = ClientForm()
    if not form.validate():
        return _form_page("portal/client_form.html", 400, form, team=found, client=client, error=EXPIRED)
    try:
        metadata = metadata_of(form)
        sensitive = set(logic.sensitive_scopes())
        # Sensitive scopes are asked for on the application's page (with a purpose), not here.
        kept = [s for s in str((client.client_metadata or {}).get("scope") or "").split() if s in sensitive]
        metadata["scope"] = " ".join([*[s for s in metadata["scope"].split() if s not in sensitive], *kept])
        new_secret = logic.update(client, metadata, person_id=person.id, description=form.description.data)
    except MetadataError as exc:
        db.session.rollback()
        field_error(form, exc)
        return _form_page("portal/client_form.html", 400, form, team=found, client=client)
    except logic.PortalError as exc:
        db.session.rollback()
        getattr(form, exc.field or "client_name").errors = [exc.message]
        return _form_page("portal/client_form.html", 400, form, team=found, client=client)
    db.session.commit()
    flash(_l("The application is saved."), "success")
    if new_secret:
        return show_secret_once(client, person, new_secret)
    return see_other("portal.client", client_pk=client.id)

