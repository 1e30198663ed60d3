"""The application form of the portal: its fields, the RFC 7591 metadata made from it, and the registration
rules' reasons shown at the field they concern (in the page's language)."""

from __future__ import annotations

import json
import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectMultipleField, StringField, TextAreaField

from idp import assurance
from idp.models import Client
from idp.oauth.registration import MetadataError

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

ANY = "any"
PERSON_TYPE_TEXT: dict[str, Any] = {
    ANY: _l("Anyone who can sign in"),
    "staff": _l("Staff only (a directory account)"),
    "citizen": _l("Citizens only (a citizen account)"),
}
# The minimum sign-in strength, from the one table of every level (idp/assurance.py WORDS).
ACR_TEXT: dict[str, Any] = {ANY: _l("Any sign-in"), **{acr: words.policy for acr, words in assurance.WORDS.items()}}


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
    required_person_type = RadioField(_l("Who may sign in"), validate_choice=False, default=ANY)
    required_groups = TextAreaField(_l("Only members of these directory groups"), description=_l(
        "Optional: group DNs, one per line; a person must be staff and in at least one of them."))
    required_acr = RadioField(_l("Minimum sign-in strength"), validate_choice=False, default=ANY)
    purpose = TextAreaField(_l("Purpose of the sensitive data"), description=_l(
        "Required when you ask for a sensitive scope: what the data is used for (UU PDP purpose limitation). "
        "An administrator reads it and decides; people see it on the consent page."))


class KeysForm(FlaskForm):
    jwks = ClientForm.jwks
    jwks_uri = ClientForm.jwks_uri


class ScopeRequestForm(FlaskForm):
    scope = RadioField(_l("Sensitive scope"), validate_choice=False)
    purpose = ClientForm.purpose



# --- registering and changing an application ------------------------------------------------------------
def _lines(value: str | None) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def metadata_of(form: ClientForm) -> dict[str, Any]:
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
    for name in ("required_person_type", "required_acr"):
        value = getattr(form, name).data
        if value and value != ANY:
            metadata[name] = value
    groups = _lines(form.required_groups.data)
    if groups:
        metadata["required_groups"] = groups
    scopes = [s for s in (form.scope.data or []) if isinstance(s, str)]
    metadata["scope"] = " ".join(["openid", *[s for s in scopes if s != "openid"]])
    jwks_text = (form.jwks.data or "").strip()
    if jwks_text:
        metadata["jwks"] = json_field(jwks_text, "jwks")
    return metadata


def json_field(text: str, field: str) -> Any:
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
    (r"^must be one of: staff, citizen\.$", _l("choose staff only, citizens only or anyone.")),
    (r"^must be an array of at most (?P<n>\d+) directory group DNs\.$",
     _l("give at most %(n)s group DNs, one per line.")),
    (r"^directory groups are for staff;", _l("directory groups are for staff: they cannot go with citizens only.")),
    (r"^must be one of acr_values_supported", _l("choose one of the offered levels.")),
)]


def translated_reason(why: str) -> str:
    """The registration rule's reason in the page's language, when it is one people meet here."""
    for pattern, text in _REASONS:
        found = pattern.match(why)
        if found:
            return str(text % found.groupdict()) if found.groupdict() else str(text)
    return why


def field_error(form: FlaskForm, exc: MetadataError) -> None:
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


def prefill(client: Client) -> ClientForm:
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
    data["required_person_type"] = meta.get("required_person_type") or ANY
    data["required_groups"] = "\n".join(meta.get("required_groups") or [])
    data["required_acr"] = meta.get("required_acr") or ANY
    return ClientForm(formdata=None, data=data)
