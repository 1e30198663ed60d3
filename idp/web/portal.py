"""The developer portal at ``/portal`` (issue 6): teams of staff register and manage their applications.

Only staff (:func:`idp.people.roles.is_staff`) get in; anybody else signed in gets 403, nobody signed in goes
to the sign-in page.  A developer sees only the applications of their teams: another team's
application (or team) answers 404, exactly like one that does not exist.  Registration and changes
use :func:`idp.oauth.registration.validate_metadata`, the rules of dynamic registration (RFC 7591),
with its messages shown at the form field they concern.  A secret is shown once, from a one-time
entry in the store (POST/redirect/GET without keeping it anywhere readable afterwards).  Every change
is a POST with a CSRF token, audited as ``portal.<action>``; deleting an application needs a sign-in
within the last five minutes.  The logic lives in :mod:`idp.consoles.portal`.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectMultipleField, StringField, TextAreaField

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

bp = Blueprint("portal", __name__, url_prefix="/portal")

# Deleting an application needs a sign-in this recent (the same rule as deleting one's account).
FRESH_SIGN_IN_SECONDS = 300
SECRET_SHOWN_FOR = 600  # seconds the one-time secret page may be opened after the POST
MAX_JWKS_TEXT = 65536
GRANT_TEXT: dict[str, Any] = {
    "authorization_code": _l("Authorization code (people sign in)"),
    "refresh_token": _l("Refresh token"),
    "client_credentials": _l("Client credentials (server to server, no person)"),
}
METHOD_TEXT: dict[str, Any] = {
    "client_secret_basic": _l("Secret in the Authorization header (client_secret_basic)"),
    "client_secret_post": _l("Secret in the request body (client_secret_post)"),
    "private_key_jwt": _l("Signed JWT with your own key (private_key_jwt)"),
    "none": _l("None: a public application (mobile or single-page), PKCE required"),
}
SUBJECT_TEXT: dict[str, Any] = {
    "public": _l("Public: the same identifier as other applications"),
    "pairwise": _l("Pairwise: an identifier for this application (or sector) only"),
}
STATUS_TEXT: dict[str, Any] = {
    "pending": _l("waiting for an administrator"), "approved": _l("approved"), "refused": _l("refused"),
    "withdrawn": _l("withdrawn"), "revoked": _l("approval withdrawn by an administrator"),
}


# --- forms ---------------------------------------------------------------------------------------
class MultiCheckboxField(SelectMultipleField):
    """Check boxes (rendered by templates/portal/_macros.html); unknown values are left to the metadata
    rules, whose message names the field."""


class TeamForm(FlaskForm):
    name = StringField(_l("Team name"), description=_l("For example the agency and its unit."))


class MemberForm(FlaskForm):
    who = StringField(_l("Staff user name or e-mail address"),
                      description=_l("The person must have signed in here once as staff."))


class ClientForm(FlaskForm):
    client_name = StringField(_l("Application name"), description=_l("Shown to people on the consent page."))
    description = TextAreaField(_l("Description"), description=_l("What the application does (optional)."))
    client_uri = StringField(_l("Home page"))
    logo_uri = StringField(_l("Logo URL"))
    policy_uri = StringField(_l("Privacy policy URL"))
    tos_uri = StringField(_l("Terms of service URL"))
    redirect_uris = TextAreaField(_l("Redirect URIs"), description=_l(
        "One per line, exactly as your application sends them. https, or http on 127.0.0.1, [::1] or "
        "localhost; no fragments (#) and no wildcards."))
    post_logout_redirect_uris = TextAreaField(_l("Post-logout redirect URIs"),
                                              description=_l("One per line (optional)."))
    backchannel_logout_uri = StringField(_l("Back-channel logout URI"), description=_l(
        "The provider POSTs a logout token here when a person signs out (optional, https)."))
    frontchannel_logout_uri = StringField(_l("Front-channel logout URI"), description=_l(
        "Loaded in a hidden frame when a person signs out (optional; same host as a redirect URI)."))
    grant_types = MultiCheckboxField(_l("Grant types"), validate_choice=False)
    token_endpoint_auth_method = RadioField(_l("Client authentication"), validate_choice=False)
    jwks = TextAreaField(_l("Public keys (JWK Set, JSON)"), description=_l(
        "For private_key_jwt: your public keys only. Or give a JWKS URL below."))
    jwks_uri = StringField(_l("JWKS URL"), description=_l("For private_key_jwt: an https URL that serves your "
                                                          "public keys."))
    subject_type = RadioField(_l("Subject type"), validate_choice=False)
    sector_identifier_uri = StringField(_l("Sector identifier URI"), description=_l(
        "Pairwise only, when your redirect URIs use several hosts: an https URL with a JSON array of them."))
    access_token_audience = StringField(_l("API identifier (access token audience)"), description=_l(
        "Optional: the absolute URI of the API your access tokens are for, e.g. https://api.example.go.id. "
        "Access tokens then name it in 'aud', and that API may introspect them."))
    scope = MultiCheckboxField(_l("Scopes"), validate_choice=False)
    purpose = TextAreaField(_l("Purpose of the sensitive data"), description=_l(
        "Required when you ask for a sensitive scope: what the data is used for (UU PDP purpose limitation). "
        "An administrator reads it and decides; people see it on the consent page."))


class KeysForm(FlaskForm):
    jwks = ClientForm.jwks
    jwks_uri = ClientForm.jwks_uri


class ScopeRequestForm(FlaskForm):
    scope = RadioField(_l("Sensitive scope"), validate_choice=False)
    purpose = ClientForm.purpose


# --- helpers -------------------------------------------------------------------------------------
def _team(team_id: int, person: Person) -> tuple[Team, str]:
    """The team and the person's role in it, or 404 (not a member: no existence leak)."""
    team = db.session.get(Team, team_id)
    member = logic.membership(team_id, person.id) if team is not None else None
    if team is None or member is None:
        abort(404)
    return team, member.role


def _client(client_pk: int, person: Person) -> tuple[Client, Team]:
    found = logic.client_for(person.id, client_pk)
    if found is None:
        abort(404)
    return found


def _message(status: int, error: Any, **context: Any) -> Response:
    return page("portal/message.html", status, error=error, **context)


def _issuer() -> str:
    return str(state().config["ISSUER"]).rstrip("/")


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
        return _message(400, EXPIRED)
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
                 apps=apps, member_form=member_form or MemberForm(formdata=None), form=ActionForm(), error=error)


@bp.get("/teams/<int:team_id>")
@requires(staff, known_ids)
def team(team_id: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """The team's members and applications; owners manage the membership here."""
    found, role = _team(team_id, person)
    return _team_page(found, role, person)


def _owner_action(team_id: int, person: Person, form: FlaskForm) -> tuple[Team, str] | Response:
    found, role = _team(team_id, person)
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
    found, role = _team(team_id, person)
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


# --- registering and changing an application ------------------------------------------------------------
def _lines(value: str | None) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def _metadata(form: ClientForm) -> dict[str, Any]:
    """RFC 7591 metadata from the form; empty fields are left out (validate_metadata applies defaults)."""
    metadata: dict[str, Any] = {}
    for name in ("client_name", "client_uri", "logo_uri", "policy_uri", "tos_uri", "backchannel_logout_uri",
                 "frontchannel_logout_uri", "sector_identifier_uri", "jwks_uri", "access_token_audience"):
        value = (getattr(form, name).data or "").strip()
        if value:
            metadata[name] = value
    for name in ("redirect_uris", "post_logout_redirect_uris"):
        uris = _lines(getattr(form, name).data)
        if uris:
            metadata[name] = uris
    grants = [g for g in (form.grant_types.data or []) if isinstance(g, str)]
    metadata["grant_types"] = grants
    metadata["response_types"] = ["code"] if "authorization_code" in grants else []
    for name in ("token_endpoint_auth_method", "subject_type"):
        value = getattr(form, name).data
        if value:
            metadata[name] = value
    scopes = [s for s in (form.scope.data or []) if isinstance(s, str)]
    metadata["scope"] = " ".join(["openid", *[s for s in scopes if s != "openid"]])
    jwks_text = (form.jwks.data or "").strip()
    if jwks_text:
        metadata["jwks"] = _json_field(jwks_text, "jwks")
    return metadata


def _json_field(text: str, field: str) -> Any:
    if len(text) > MAX_JWKS_TEXT:
        raise MetadataError("invalid_client_metadata", f"'{field}': is too large.")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise MetadataError("invalid_client_metadata", f"'{field}': is not valid JSON.") from None


FIELD_OF = {"response_types": "grant_types", "application_type": "client_name", "contacts": "client_name",
            "token_endpoint_auth_signing_alg": "jwks", "id_token_signed_response_alg": "client_name"}
_FIELD_RE = re.compile(r"^'([a-z_]+)': (.*)$", re.DOTALL)


# The shared registration rules (idp.oauth.registration) speak English, as RFC 7591 error descriptions
# do; the reasons a person meets through this form are said in the page's language here.  A reason not
# in the table is shown as it is (still at its field).
_REASONS: list[tuple[re.Pattern[str], Any]] = [(re.compile(pattern), text) for pattern, text in (
    (r"^each value must be a non-empty string\.$", _l("every line must hold a URI.")),
    (r"^a URI may be at most (?P<n>\d+) characters long\.$", _l("a URI may have at most %(n)s characters.")),
    (r"^a URI must not contain spaces or control characters\.$",
     _l("a URI must not contain spaces or control characters.")),
    (r"^wildcards are not allowed; register every URI exactly\.$",
     _l("wildcards (*) are not allowed: register every URI exactly.")),
    (r"^a URI must not contain a fragment \(RFC 6749 3\.1\.2\)\.$",
     _l("a URI must not contain a fragment (#) (RFC 6749 3.1.2).")),
    (r"^(?P<uri>.+) is not a valid URI\.$", _l("%(uri)s is not a valid URI.")),
    (r"^(?P<uri>.+) must be an absolute https URI\.$", _l("%(uri)s must be an absolute https URI.")),
    (r"^(?P<uri>.+) must use https \(http is allowed only on 127\.0\.0\.1, \[::1\] or localhost\)\.$",
     _l("%(uri)s must use https (http only on 127.0.0.1, [::1] or localhost).")),
    (r"^a URI must not contain user information\.$", _l("a URI must not contain a user name or password.")),
    (r"^at most (?P<n>\d+) URIs may be registered\.$", _l("at most %(n)s URIs may be registered.")),
    (r"^must name at least one grant type\.$", _l("choose at least one grant type.")),
    (r"^'authorization_code' requires the 'code' response type\.$",
     _l("the authorization code grant needs the code response type.")),
    (r"^'refresh_token' is only issued with 'authorization_code'\.$",
     _l("'refresh_token' is only issued with 'authorization_code'.")),
    (r"^a public client .* cannot use 'client_credentials'\.$",
     _l("a public client (no client authentication) cannot use 'client_credentials'.")),
    (r"^at least one redirect URI is required for the 'authorization_code' grant\.$",
     _l("give at least one redirect URI for the authorization code grant.")),
    (r"^its scheme, host and port must be those of a registered redirect URI",
     _l("its scheme, host and port must be those of one of the redirect URIs.")),
    (r"^must name a public host, not a loopback or private address\.$",
     _l("must name a public host, not a loopback or private address.")),
    (r"^'private_key_jwt' requires 'jwks' or 'jwks_uri'\.$",
     _l("'private_key_jwt' requires 'jwks' or 'jwks_uri' (your public keys or their URL).")),
    (r"^'jwks' and 'jwks_uri' must not both be present\.$", _l("give either the keys or the JWKS URL, not both.")),
    (r"^contains private key material; register public keys only\.$",
     _l("contains private key material; register public keys only.")),
    (r"^is not a valid JWK Set\.$", _l("is not a valid JWK Set.")),
    (r"^required for 'pairwise' when the redirect URIs use several hosts",
     _l("needed for a pairwise subject type when the redirect URIs use several hosts.")),
    (r"^the document does not list the redirect URI", _l("the document does not list every redirect URI.")),
    (r"^the document must be a JSON array of redirect URI strings\.$",
     _l("the document must be a JSON array of the redirect URIs.")),
    (r"^could not be fetched", _l("could not be fetched (a public host answering 200 with the JSON array).")),
    (r"^the subject type and the pairwise sector cannot change",
     _l("the subject type and the sector cannot change after registration.")),
)]


def translated_reason(why: str) -> str:
    """The registration rule's reason in the page's language, when it is one people meet here."""
    for pattern, text in _REASONS:
        found = pattern.match(why)
        if found:
            return str(text % found.groupdict()) if found.groupdict() else str(text)
    return why


def _field_error(form: FlaskForm, exc: MetadataError) -> None:
    """Put the metadata rule's message at the form field it names (else at the top of the form)."""
    found = _FIELD_RE.match(exc.description)
    name, why = (found.group(1), found.group(2)) if found else (None, exc.description)
    name = FIELD_OF.get(name or "", name)
    field = getattr(form, name, None) if name else None
    text = str(_l("Not accepted: %(why)s", why=translated_reason(why)))
    if field is not None and hasattr(field, "errors"):
        field.errors = [*list(field.errors or []), text]
    else:
        form.form_errors.append(text)


def _prefill(client: Client) -> ClientForm:
    meta = dict(client.client_metadata or {})
    data = {name: meta.get(name) or "" for name in (
        "client_name", "description", "client_uri", "logo_uri", "policy_uri", "tos_uri", "backchannel_logout_uri",
        "frontchannel_logout_uri", "sector_identifier_uri", "jwks_uri", "access_token_audience")}
    data["redirect_uris"] = "\n".join(meta.get("redirect_uris") or [])
    data["post_logout_redirect_uris"] = "\n".join(meta.get("post_logout_redirect_uris") or [])
    data["grant_types"] = list(meta.get("grant_types") or ["authorization_code"])
    data["token_endpoint_auth_method"] = meta.get("token_endpoint_auth_method") or "client_secret_basic"
    data["subject_type"] = meta.get("subject_type") or "public"
    data["scope"] = str(meta.get("scope") or "openid profile email").split()
    data["jwks"] = json.dumps(meta["jwks"], indent=2) if meta.get("jwks") else ""
    return ClientForm(formdata=None, data=data)


def _form_page(template: str, status: int, form: ClientForm, **context: Any) -> Response:
    return page(template, status, form=form, grant_types=registration.GRANT_TYPES,
                 auth_methods=registration.AUTH_METHODS, subject_types=registration.SUBJECT_TYPES,
                 known_scopes=registration.KNOWN_SCOPES, grant_text=GRANT_TEXT, method_text=METHOD_TEXT,
                 subject_text=SUBJECT_TEXT, scope_text=SCOPE_TEXT, sensitive=logic.sensitive_scopes(), **context)


def _show_secret_once(client: Client, person: Person, secret: str) -> Response:
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
    found, _role = _team(team_id, person)
    if request.method != "POST":
        form = ClientForm(formdata=None, data={"grant_types": ["authorization_code"],
                                               "token_endpoint_auth_method": "client_secret_basic",
                                               "subject_type": "public", "scope": ["openid", "profile", "email"]})
        return _form_page("portal/client_form.html", 200, form, team=found, client=None)
    form = ClientForm()
    if not form.validate():
        return _form_page("portal/client_form.html", 400, form, team=found, client=None, error=EXPIRED)
    try:
        client, secret = logic.register(found, _metadata(form), person_id=person.id,
                                        description=form.description.data, purpose=form.purpose.data)
    except MetadataError as exc:
        db.session.rollback()
        _field_error(form, exc)
        return _form_page("portal/client_form.html", 400, form, team=found, client=None)
    except logic.PortalError as exc:
        db.session.rollback()
        getattr(form, exc.field or "purpose").errors = [exc.message]
        return _form_page("portal/client_form.html", 400, form, team=found, client=None)
    db.session.commit()
    flash(_l("The application is registered."), "success")
    if secret:
        return _show_secret_once(client, person, secret)
    return see_other("portal.client", client_pk=client.id)


@bp.get("/apps/<int:client_pk>/secret/<once>")
@requires(staff, known_ids)
def secret(client_pk: int, once: str, *, current: login_session.LoginSession, person: Person) -> Response:
    """The new secret, once: the store entry is taken by this request and never shown again."""
    client, found = _client(client_pk, person)
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
    client, found = _client(client_pk, person)
    if request.method != "POST":
        return _form_page("portal/client_form.html", 200, _prefill(client), team=found, client=client)
    form = ClientForm()
    if not form.validate():
        return _form_page("portal/client_form.html", 400, form, team=found, client=client, error=EXPIRED)
    try:
        metadata = _metadata(form)
        sensitive = set(logic.sensitive_scopes())
        # Sensitive scopes are asked for on the application's page (with a purpose), not here.
        kept = [s for s in str((client.client_metadata or {}).get("scope") or "").split() if s in sensitive]
        metadata["scope"] = " ".join([*[s for s in metadata["scope"].split() if s not in sensitive], *kept])
        new_secret = logic.update(client, metadata, person_id=person.id, description=form.description.data)
    except MetadataError as exc:
        db.session.rollback()
        _field_error(form, exc)
        return _form_page("portal/client_form.html", 400, form, team=found, client=client)
    except logic.PortalError as exc:
        db.session.rollback()
        getattr(form, exc.field or "client_name").errors = [exc.message]
        return _form_page("portal/client_form.html", 400, form, team=found, client=client)
    db.session.commit()
    flash(_l("The application is saved."), "success")
    if new_secret:
        return _show_secret_once(client, person, new_secret)
    return see_other("portal.client", client_pk=client.id)


# --- the application's page -----------------------------------------------------------------------------
def _test_scope(client: Client) -> str:
    declared = str((client.client_metadata or {}).get("scope") or "openid profile email").split()
    return " ".join(["openid", *[s for s in ("profile", "email") if s in declared]])


def _client_page(client: Client, team: Team, status: int = 200, *, scope_form: ScopeRequestForm | None = None,
                 keys_form: KeysForm | None = None, error: Any = None) -> Response:
    meta = dict(client.client_metadata or {})
    issuer = _issuer()
    scope_form = scope_form or ScopeRequestForm(formdata=None)
    if keys_form is None:
        keys_form = KeysForm(formdata=None, data={"jwks": json.dumps(meta["jwks"], indent=2) if meta.get("jwks")
                                                  else "", "jwks_uri": meta.get("jwks_uri") or ""})
    redirect_uris = list(meta.get("redirect_uris") or [])
    return page("portal/client.html", status, client=client, sensitive=logic.sensitive_scopes(), team=team,
                 meta=meta, issuer=issuer,
                 discovery=issuer + "/.well-known/openid-configuration", form=ActionForm(),
                 scope_form=scope_form, keys_form=keys_form, requests=logic.requests_of(client),
                 status_text=STATUS_TEXT, scope_text=SCOPE_TEXT, grant_text=GRANT_TEXT, method_text=METHOD_TEXT,
                 uses_secret=registration.uses_secret(meta), redirect_uri=redirect_uris[0] if redirect_uris else "",
                 test_scope=_test_scope(client), error=error,
                 code_flow="authorization_code" in (meta.get("grant_types") or []) and bool(redirect_uris))


@bp.get("/apps/<int:client_pk>")
@requires(staff, known_ids)
def client(client_pk: int, *, current: login_session.LoginSession, person: Person) -> Response:
    """The application: its settings, keys, scope requests, actions and integration help."""
    found, found_team = _client(client_pk, person)
    return _client_page(found, found_team)


def _client_action(client_pk: int, person: Person, form: FlaskForm) -> tuple[Client, Team] | Response:
    found, found_team = _client(client_pk, person)
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
    return _show_secret_once(found, person, new)


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
    found, found_team = _client(client_pk, person)
    if not form.validate():
        return _client_page(found, found_team, 400, keys_form=form, error=EXPIRED)
    text = (form.jwks.data or "").strip()
    uri = (form.jwks_uri.data or "").strip()
    try:
        if bool(text) == bool(uri):
            raise MetadataError("invalid_client_metadata", "'jwks': give either the JWK Set or the JWKS URL.")
        logic.set_keys(found, jwks=_json_field(text, "jwks") if text else None, jwks_uri=uri or None,
                       person_id=person.id)
    except MetadataError as exc:
        db.session.rollback()
        _field_error(form, exc)
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
    found, found_team = _client(client_pk, person)
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
    found, found_team = _client(client_pk, person)
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
    found, found_team = _client(client_pk, person)
    meta = dict(found.client_metadata or {})
    redirect_uris = list(meta.get("redirect_uris") or [])
    if "authorization_code" not in (meta.get("grant_types") or []) or not redirect_uris:
        return _client_page(found, found_team, 400, error=_l(
            "A test sign-in needs the authorization code grant and a redirect URI."))
    verifier = random_token(48)
    params = {"response_type": "code", "client_id": found.client_id, "redirect_uri": redirect_uris[0],
              "scope": _test_scope(found), "state": random_token(16), "nonce": random_token(16),
              "code_challenge": sha256_b64(verifier), "code_challenge_method": "S256"}
    url = _issuer() + "/authorize?" + urlencode(params)
    return page("portal/test.html", client=found, team=found_team, url=url, params=params, verifier=verifier,
                 issuer=_issuer(), uses_secret=registration.uses_secret(meta))
