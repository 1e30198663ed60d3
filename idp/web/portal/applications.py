"""The application's page: settings, keys, scope requests, integration help, and its actions (rotate the
secret, keys, disable, enable, delete, ask for a sensitive scope, a test sign-in)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from flask import Response, flash, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from idp.consoles import portal as logic
from idp.crypto import random_token, sha256_b64
from idp.extensions import db, state
from idp.models import Client, Person, Team
from idp.oauth import registration
from idp.oauth.registration import MetadataError
from idp.people import session as login_session
from idp.people.claims import SCOPE_TEXT
from idp.web.common import EXPIRED, known_ids, page, requires, see_other, staff
from idp.web.forms import ActionForm
from idp.web.portal import bp, client_of, examples, issuer
from idp.web.portal.forms import GRANT_TEXT, METHOD_TEXT, KeysForm, ScopeRequestForm, field_error, json_field
from idp.web.portal.register import show_secret_once

# Deleting an application needs a sign-in this recent (the same rule as deleting one's account).
FRESH_SIGN_IN_SECONDS = 300
STATUS_TEXT: dict[str, Any] = {
    "pending": _l("waiting for an administrator"), "approved": _l("approved"), "refused": _l("refused"),
    "withdrawn": _l("withdrawn"), "revoked": _l("approval withdrawn by an administrator"),
}



# --- the application's page -----------------------------------------------------------------------------
def _test_scope(client: Client) -> str:
    declared = str((client.client_metadata or {}).get("scope") or "openid profile email").split()
    return " ".join(["openid", *[s for s in ("profile", "email") if s in declared]])


def _client_page(client: Client, team: Team, status: int = 200, *, scope_form: ScopeRequestForm | None = None,
                 keys_form: KeysForm | None = None, error: Any = None) -> Response:
    meta = dict(client.client_metadata or {})
    base = issuer()
    scope_form = scope_form or ScopeRequestForm(formdata=None)
    if keys_form is None:
        keys_form = KeysForm(formdata=None, data={"jwks": json.dumps(meta["jwks"], indent=2) if meta.get("jwks")
                                                  else "", "jwks_uri": meta.get("jwks_uri") or ""})
    redirect_uris = list(meta.get("redirect_uris") or [])
    return page("portal/client.html", status, client=client, sensitive=logic.sensitive_scopes(), team=team,
                 meta=meta, issuer=base,
                 discovery=base + "/.well-known/openid-configuration", form=ActionForm(),
                 scope_form=scope_form, keys_form=keys_form, requests=logic.requests_of(client),
                 status_text=STATUS_TEXT, scope_text=SCOPE_TEXT, grant_text=GRANT_TEXT, method_text=METHOD_TEXT,
                 uses_secret=registration.uses_secret(meta), redirect_uri=redirect_uris[0] if redirect_uris else "",
                 test_scope=_test_scope(client), error=error,
                 examples=examples.render_all(issuer=base, client_id=client.client_id,
                                              redirect_uri=redirect_uris[0] if redirect_uris else None,
                                              scope=_test_scope(client),
                                              auth_method=str(meta.get("token_endpoint_auth_method")
                                                              or "client_secret_basic"),
                                              post_logout_redirect_uri=next(
                                                  iter(meta.get("post_logout_redirect_uris") or []), None)),
                 code_flow="authorization_code" in (meta.get("grant_types") or []) and bool(redirect_uris))


@bp.get("/apps/<int:client_pk>")
@requires(staff, known_ids)
def client(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """The application: its settings, keys, scope requests, actions and integration help."""
    found, found_team = client_of(client_pk, person)
    return _client_page(found, found_team)


def _client_action(client_pk: int, person: Person, form: FlaskForm) -> tuple[Client, Team] | Response:
    found, found_team = client_of(client_pk, person)
    if not form.validate():
        return _client_page(found, found_team, 400, error=EXPIRED)
    return found, found_team


@bp.post("/apps/<int:client_pk>/rotate")
@requires(staff, known_ids)
def rotate(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """A new secret, shown once; the old one keeps working for the grace period."""
    checked = _client_action(client_pk, person, ActionForm())
    if isinstance(checked, Response):
        return checked
    found, found_team = checked
    try:
        new = logic.rotate_secret(found, person_id=person.id, grace=state().config[
            "CLIENT_SECRET_GRACE"])
    except logic.PortalError as exc:
        db.session.rollback()
        return _client_page(found, found_team, 400, error=exc.message)
    db.session.commit()
    flash(_l("A new secret is made. The previous secret keeps working for %(hours)d hours.",
             hours=state().config["CLIENT_SECRET_GRACE"] // 3600), "success")
    return show_secret_once(found, person, new)


@bp.post("/apps/<int:client_pk>/end-grace")
@requires(staff, known_ids)
def end_grace(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    checked = _client_action(client_pk, person, ActionForm())
    if isinstance(checked, Response):
        return checked
    logic.end_grace(checked[0], person_id=person.id)
    db.session.commit()
    flash(_l("The previous secret no longer works."), "success")
    return see_other("portal.client", client_pk=client_pk)


@bp.post("/apps/<int:client_pk>/keys")
@requires(staff, known_ids)
def keys(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Register public keys (a JWK Set) or a JWKS URL for private_key_jwt."""
    form = KeysForm()
    found, found_team = client_of(client_pk, person)
    if not form.validate():
        return _client_page(found, found_team, 400, keys_form=form, error=EXPIRED)
    text = (form.jwks.data or "").strip()
    uri = (form.jwks_uri.data or "").strip()
    try:
        if bool(text) == bool(uri):
            raise MetadataError("invalid_client_metadata", "'jwks': give either the JWK Set or the JWKS URL.")
        logic.set_keys(found, jwks=json_field(text, "jwks") if text else None, jwks_uri=uri or None,
                       person_id=person.id)
    except MetadataError as exc:
        db.session.rollback()
        field_error(form, exc)
        return _client_page(found, found_team, 400, keys_form=form)
    db.session.commit()
    flash(_l("The keys are saved."), "success")
    return see_other("portal.client", client_pk=client_pk)


@bp.post("/apps/<int:client_pk>/disable")
@requires(staff, known_ids)
def disable(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Disable: the protocol endpoints treat the application as unknown until it is enabled again."""
    checked = _client_action(client_pk, person, ActionForm())
    if isinstance(checked, Response):
        return checked
    logic.set_disabled(checked[0], True, person_id=person.id)
    db.session.commit()
    flash(_l("The application is disabled."), "success")
    return see_other("portal.client", client_pk=client_pk)


@bp.post("/apps/<int:client_pk>/enable")
@requires(staff, known_ids)
def enable(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    checked = _client_action(client_pk, person, ActionForm())
    if isinstance(checked, Response):
        return checked
    logic.set_disabled(checked[0], False, person_id=person.id)
    db.session.commit()
    flash(_l("The application is enabled."), "success")
    return see_other("portal.client", client_pk=client_pk)


@bp.route("/apps/<int:client_pk>/delete", methods=["GET", "POST"])
@requires(staff, known_ids)
def delete(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Delete the application and revoke its tokens, after a sign-in within the last five minutes."""
    found, found_team = client_of(client_pk, person)
    form = ActionForm()
    fresh = time.time() - current.auth_time <= FRESH_SIGN_IN_SECONDS
    if not fresh:
        return page("portal/delete.html", 403 if request.method == "POST" else 200, form=form, client=found,
                     team=found_team, reauth=True)
    if request.method != "POST":
        return page("portal/delete.html", form=form, client=found, team=found_team, reauth=False)
    if not form.validate():
        return page("portal/delete.html", 400, form=form, client=found, team=found_team, reauth=False,
                     error=EXPIRED)
    team_id = found_team.id
    logic.delete(found, person_id=person.id)
    db.session.commit()
    flash(_l("The application is deleted and its tokens are revoked."), "success")
    return see_other("portal.team", team_id=team_id)


@bp.post("/apps/<int:client_pk>/scopes")
@requires(staff, known_ids)
def request_scope(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """Ask an administrator for a sensitive scope, with the purpose."""
    form = ScopeRequestForm()
    found, found_team = client_of(client_pk, person)
    if not form.validate():
        return _client_page(found, found_team, 400, scope_form=form, error=EXPIRED)
    try:
        logic.request_scope(found, form.scope.data or "", form.purpose.data or "", person_id=person.id)
    except logic.PortalError as exc:
        db.session.rollback()
        getattr(form, exc.field or "scope").errors = [exc.message]
        return _client_page(found, found_team, 400, scope_form=form)
    db.session.commit()
    flash(_l("The request is sent to the administrators. The application gets the scope once it is approved."),
          "success")
    return see_other("portal.client", client_pk=client_pk)


@bp.post("/apps/<int:client_pk>/scopes/<int:request_id>/withdraw")
@requires(staff, known_ids)
def withdraw(client_pk: int, request_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    checked = _client_action(client_pk, person, ActionForm())
    if isinstance(checked, Response):
        return checked
    found, found_team = checked
    try:
        logic.withdraw(found, request_id, person_id=person.id)
    except logic.PortalError as exc:
        db.session.rollback()
        return _client_page(found, found_team, 400, error=exc.message)
    db.session.commit()
    flash(_l("The request is withdrawn."), "success")
    return see_other("portal.client", client_pk=client_pk)


@bp.get("/apps/<int:client_pk>/test")
@requires(staff, known_ids)
def test_sign_in(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """A ready authorization request (code flow, PKCE S256) to the application's first redirect URI.

    The values are made fresh for each view and kept nowhere: the application's redirect URI receives
    the code; the page shows the ``code_verifier`` so the developer can redeem it by hand.
    """
    found, found_team = client_of(client_pk, person)
    meta = dict(found.client_metadata or {})
    redirect_uris = list(meta.get("redirect_uris") or [])
    if "authorization_code" not in (meta.get("grant_types") or []) or not redirect_uris:
        return _client_page(found, found_team, 400, error=_l(
            "A test sign-in needs the authorization code grant and a redirect URI."))
    verifier = random_token(48)
    params = {"response_type": "code", "client_id": found.client_id, "redirect_uri": redirect_uris[0],
              "scope": _test_scope(found), "state": random_token(16), "nonce": random_token(16),
              "code_challenge": sha256_b64(verifier), "code_challenge_method": "S256"}
    url = issuer() + "/authorize?" + urlencode(params)
    return page("portal/test.html", client=found, team=found_team, url=url, params=params, verifier=verifier,
                 issuer=issuer(), uses_secret=registration.uses_secret(meta))

