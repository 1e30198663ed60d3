"""OAuth 2.0 / OpenID Connect endpoints: authorize (+ resume, consent), token, userinfo, discovery, JWKS,
end_session.  The protocol work is Authlib's and :mod:`idp.oauth`; this module decides what the
browser sees.

Error delivery follows RFC 6749 4.1.2.1: while the client or its redirect URI is not validated the
person gets an error page (never a redirect); after that every error goes back to the client with
``error``, ``error_description``, ``state`` and ``iss`` (RFC 9207).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.routing import BuildError
from wtforms.validators import ValidationError

from idp import assurance, audit, ratelimit
from idp.crypto import random_token
from idp.errors import IdpError
from idp.extensions import csrf, db, setting, state
from idp.i18n import pick_ui_locales
from idp.models import Consent, Person
from idp.oauth import backchannel, discovery, frontchannel, keys, logout
from idp.oauth.clients import OAuthClient, basic_credentials, hint_matches, query_client
from idp.oauth.grants import EndUser
from idp.oauth.server import ParamsRequest, get_server
from idp.oauth.userinfo import BearerError, bearer_token, userinfo_claims
from idp.people import claims as claims_module
from idp.people import session as login_session

bp = Blueprint("oauth", __name__)
log = logging.getLogger(__name__)

MAX_PARAM_LENGTH = 2048
PROMPTS = {"none", "login", "consent", "select_account"}


@dataclass
class Target:
    """A validated place to send the authorization response (or error) to."""

    client: OAuthClient
    redirect_uri: str
    state: str | None
    response_mode: str


def _issuer() -> str:
    return str(state().config["ISSUER"])




def _single(params: MultiDict[str, str], name: str) -> str | None:
    values = params.getlist(name)
    return values[0] if len(values) == 1 else None


# --------------------------------------------------------------------------- responses
def _respond(target: Target, params: list[tuple[str, str]]) -> Response:
    """Deliver authorization response parameters by the requested response mode, with ``iss``."""
    params = [*params, ("iss", _issuer())]  # RFC 9207 2: in every authorization response, errors too
    if target.state is not None:
        params.append(("state", target.state))
    if target.response_mode == "form_post":
        # OAuth 2.0 Form Post Response Mode; the page submits itself via a script file (CSP).
        body = render_template("oauth/form_post.html", action=target.redirect_uri, params=params)
        return Response(body, mimetype="text/html")
    return redirect(add_params_to_uri(target.redirect_uri, params), code=302)  # type: ignore[return-value]


def _error(target: Target, error: str, description: str) -> Response:
    return _respond(target, [("error", error), ("error_description", description)])


class PageError(IdpError):
    """An authorization request that cannot be answered to the client (unknown client or URI)."""


# --------------------------------------------------------------------------- id_token_hint
def verify_id_token_hint(hint: str) -> dict[str, Any]:
    """Claims of an ID token we issued; access and logout tokens are refused (idp.oauth.logout)."""
    return logout.verify_id_token_hint(hint)


# --------------------------------------------------------------------------- authorization
def _target(params: MultiDict[str, str]) -> Target:
    """Validate the client and the redirect URI; failures are shown, never redirected."""
    client_id = _single(params, "client_id")
    if not client_id:
        raise PageError(_l("The application did not identify itself correctly (client_id is missing or "
                           "repeated)."), detail="bad client_id")
    client = query_client(client_id)
    if client is None:
        raise PageError(_l("This application is not registered with Banten Single Sign-On."),
                        code="invalid_client", detail="unknown client")
    redirect_uri = _single(params, "redirect_uri")
    if not redirect_uri or not client.check_redirect_uri(redirect_uri):
        raise PageError(_l("The application asked to return to an address that is not registered for it."),
                        detail="redirect_uri not registered")
    mode = _single(params, "response_mode")
    state = _single(params, "state")
    return Target(client=client, redirect_uri=redirect_uri, state=state,
                  response_mode="form_post" if mode == "form_post" else "query")


AUTHREQ_WINDOW = 60  # seconds: IDP_AUTH_REQUESTS_PER_IP and IDP_AUTH_REQUESTS_MAX count per minute


def _authreq_source() -> str:
    """The client address the per-IP limit counts: an IPv4 address, or the /64 of an IPv6 address (one
    host usually holds a whole /64, RFC 7421)."""
    raw = request.remote_addr or ""
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def _admit_authreq() -> None:
    """Bound the pending requests anyone can make the store hold (each for IDP_AUTH_REQUEST_TTL, before
    any sign-in): per client address and in all, per minute.  Beyond either, the request is answered
    with ``temporarily_unavailable`` (RFC 6749 4.1.2.1: the server cannot handle the request now), to the
    already validated redirect URI, so the application can say so and try again later."""
    if not ratelimit.allow("authreq-ip", _authreq_source(), int(setting("AUTH_REQUESTS_PER_IP")), AUTHREQ_WINDOW):
        raise OAuth2Error(error="temporarily_unavailable",
                          description="Too many sign-in requests from this network. Try again in a minute.")
    if not ratelimit.allow("authreq-all", "all", int(setting("AUTH_REQUESTS_MAX")), AUTHREQ_WINDOW):
        if state().store.add(ratelimit.KIND, "authreq-all-logged", 1, AUTHREQ_WINDOW):  # one line per minute
            log.warning("IDP_AUTH_REQUESTS_MAX reached: authorization requests are refused until the minute is over")
        raise OAuth2Error(error="temporarily_unavailable",
                          description="The sign-in service is busy. Try again in a minute.")


def _authreq(params: MultiDict[str, str], client: OAuthClient, **extra: Any) -> str:
    """Store a pending authorization request (contracts.md hand-off); returns its id.

    Raises ``temporarily_unavailable`` beyond the per-address and total limits (:func:`_admit_authreq`).
    """
    _admit_authreq()
    req_id = random_token(24)
    value = {
        "params": [[k, v] for k, v in params.items(multi=True)],
        "client_id": client.client_id,
        "client_name": client.client_name,
        "login_hint": params.get("login_hint"),
        "ui_locales": params.get("ui_locales"),
        "force_login": False,
        "created": int(time.time()),
        **extra,
    }
    state().store.put("authreq", req_id, value, setting("AUTH_REQUEST_TTL"))
    return req_id


def _login_url(req_id: str) -> str:
    try:
        return url_for("auth.login", req=req_id)
    except BuildError:  # the sign-in page is not installed (protocol tests)
        return "/login?req=" + req_id


def _consent_covers(person_id: int, client: OAuthClient, scopes: list[str]) -> bool:
    row = db.session.execute(
        select(Consent.scopes).where(Consent.person_id == person_id, Consent.client_id == client.pk)
    ).scalar_one_or_none()
    return row is not None and set(scopes) <= set(row.split())


def _remember_consent(person_id: int, client: OAuthClient, scopes: list[str]) -> None:
    consent = db.session.execute(
        select(Consent).where(Consent.person_id == person_id, Consent.client_id == client.pk)
    ).scalar_one_or_none()
    if consent is None:
        db.session.add(Consent(person_id=person_id, client_id=client.pk, scopes=" ".join(scopes)))
    else:
        merged = list(dict.fromkeys(consent.scopes.split() + scopes))
        consent.scopes = " ".join(merged)
    audit.record("oauth.consent", person_id=person_id, client_id=client.client_id, scopes=scopes)
    db.session.commit()


def _prompts(params: MultiDict[str, str]) -> set[str]:
    prompts = set((params.get("prompt") or "").split())
    if prompts - PROMPTS:
        raise InvalidRequestError("Unsupported 'prompt' value.")
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequestError("'prompt=none' cannot be combined with other values.")
    return prompts


ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def _max_age(params: MultiDict[str, str]) -> int | None:
    raw = params.get("max_age")
    if raw is None or raw == "":
        return None
    # ASCII digits only: str.isdigit() also accepts "²" and "٣", which int() then refuses or reads.
    if len(raw) > 10 or not ASCII_DIGITS.fullmatch(raw):
        raise InvalidRequestError("'max_age' must be a non-negative number of seconds.")
    return int(raw)


def _quoted(name: str) -> str:
    """A parameter name fit for an error_description: RFC 6749 4.1.2.1 allows only %x20-21 / %x23-5B /
    %x5D-7E there (Authlib refuses anything else), so any other character is percent-encoded."""
    return quote(name[:40], safe=" !#$&'()*+,/:;=?@[]^_`{|}~-.")


def _check_shape(params: MultiDict[str, str]) -> None:
    """Refuse repeated or oversized parameters and request objects (RFC 6749 3.1, OIDC Core 6)."""
    for key in params:
        values = params.getlist(key)
        if len(values) > 1:
            raise InvalidRequestError(f"The parameter '{_quoted(key)}' is repeated.")
        if len(values[0]) > MAX_PARAM_LENGTH and key not in {"id_token_hint"}:
            raise InvalidRequestError(f"The parameter '{_quoted(key)}' is too long.")
    if "request" in params or "request_uri" in params:
        error = InvalidRequestError("Request objects are not supported.")
        error.error = "request_not_supported" if "request" in params else "request_uri_not_supported"
        raise error


def _process(params: MultiDict[str, str], *, resumed: dict[str, Any] | None = None,
             decision: str | None = None) -> Response:
    """Validate an authorization request and answer it: sign-in, consent page, code or error."""
    picked = pick_ui_locales(_single(params, "ui_locales"))
    if picked:
        g.ui_locale = picked  # OIDC Core 3.1.2.1, also for requests resumed from the store
    target = _target(params)
    try:
        return _authorize(target, params, resumed, decision)
    except OAuth2Error as exc:
        return _error(target, exc.error, exc.get_error_description() or exc.error)


def _authorize(target: Target, params: MultiDict[str, str], resumed: dict[str, Any] | None,
               decision: str | None) -> Response:
    client = target.client
    _check_shape(params)
    if params.get("response_mode") not in (None, "query", "form_post"):
        raise InvalidRequestError("Unsupported 'response_mode'.")
    if target.response_mode == "form_post" and not target.redirect_uri.startswith(("https://", "http://")):
        # A form posted to a javascript: or app-scheme URI would run or go nowhere (Authlib does the same).
        target.response_mode = "query"
        raise InvalidRequestError("'response_mode=form_post' needs an http(s) redirect URI.")
    prompts = _prompts(params)
    max_age = _max_age(params)
    acr_values = [v for v in (params.get("acr_values") or "").split() if v in assurance.LEVELS]
    hint = verify_id_token_hint(params["id_token_hint"]) if params.get("id_token_hint") else None

    session = login_session.current()
    if session is not None:
        person = db.session.get(Person, session.person_id)
        if person is None or person.status != "active":
            login_session.end()  # the account was disabled or removed since the sign-in
            session = None
    end_user = None
    if session is not None:
        end_user = EndUser(person_id=session.person_id, sub=session.sub, sid=session.sid,
                           auth_time=session.auth_time, acr=session.acr, amr=tuple(session.amr))
    response_type = params.get("response_type")
    if not response_type:
        # A missing required parameter is invalid_request (RFC 6749 4.1.2.1, OIDC Core 3.1.2.6);
        # unsupported_response_type is for a value the server does not offer.
        raise InvalidRequestError("The 'response_type' parameter is missing.")
    if response_type != "code":
        # Only the code flow is offered (discovery: response_types_supported).  Said here, with a
        # fixed description: Authlib would quote the value, and refuses to build an error whose
        # description holds characters outside RFC 6749's set (a 500 on hostile input).
        raise OAuth2Error(error="unsupported_response_type", description="Only 'response_type=code' is supported.")
    server = get_server()
    grant = server.get_consent_grant(ParamsRequest(params), end_user=end_user)
    scopes = (grant.request.scope or "").split()

    # --- sign-in (OIDC Core 3.1.2.1: prompt, max_age, id_token_hint) ---
    now = int(time.time())
    login_done = bool(resumed and session is not None and (
        session.auth_time >= resumed["created"] or resumed.get("login_sid") == session.sid))
    need_login = session is None
    step_up = False
    if session is not None and not login_done:
        if "login" in prompts:
            need_login = True
        # OIDC Core 3.1.2.1: re-authenticate when the elapsed time is greater than max_age.  auth_time
        # has one-second resolution, so "elapsed >= max_age" keeps max_age=0 meaning "always".
        if max_age is not None and now - session.auth_time >= max_age:
            need_login = True
        if acr_values and not assurance.satisfies(session.acr, acr_values):
            # acr_values are voluntary (Core 5.5.1.1): ask for a sign-in once, then report what we got.
            # Only the second factor is missing: step up with the code alone (no password again).
            step_up = not need_login and assurance.MFA in acr_values
            need_login = True
    # The hint's sub is the one its client knew: pairwise for pairwise clients (OIDC Core 8.1).
    if session is not None and hint is not None and not hint_matches(hint, session.sub):
        need_login = True
        step_up = False
    if need_login and step_up and "none" not in prompts and session is not None:
        from idp.web import mfa as mfa_views

        req_id = _authreq(params, client, force_login=True)
        return mfa_views.start({"person_id": session.person_id, "acr": session.acr, "amr": list(session.amr),
                                "source": session.source, "remember": session.remember, "req": req_id})
    if need_login:
        if "none" in prompts or (login_done and session is not None):
            # prompt=none cannot show the sign-in page; after a fresh sign-in a still-unmatched hint
            # would loop, so it ends here too.
            raise LoginRequiredError("The person must sign in, which this request does not allow.")
        req_id = _authreq(params, client, force_login=session is not None)
        return redirect(_login_url(req_id), code=302)  # type: ignore[return-value]
    assert session is not None and end_user is not None

    # --- consent ---
    sensitive = set(scopes) & claims_module.sensitive_scopes()
    if decision is None:
        need_consent = "consent" in prompts or (
            (not client.first_party or sensitive) and not _consent_covers(session.person_id, client, scopes))
        if need_consent:
            if "none" in prompts:
                raise ConsentRequiredError("The person must consent, which this request does not allow.")
            return _consent_page(params, client, scopes, session, resumed)
    elif decision != "allow":
        audit.record("oauth.consent", outcome="denied", person_id=session.person_id, client_id=client.client_id,
                     commit=True)
        raise AccessDeniedError("The person declined the request.")
    else:
        _remember_consent(session.person_id, client, scopes)

    code = grant.issue_code(end_user)
    if login_session.add_client(session, client.client_id):
        backchannel.watch(session)  # so that its expiry, too, reaches the applications (Back-Channel Logout 2.7)
    return _respond(target, [("code", code)])


def _consent_page(params: MultiDict[str, str], client: OAuthClient, scopes: list[str],
                  session: login_session.LoginSession, resumed: dict[str, Any] | None) -> Response:
    created = resumed["created"] if resumed else int(time.time())
    req_id = _authreq(params, client, login_sid=session.sid, consent_for=session.sid, created=created,
                      origin_req=g.get("resume_req_id"))
    g.consent_page_shown = True
    meta = client.client_metadata
    shown = [claims_module.SCOPE_TEXT.get(s, s) for s in scopes if s in claims_module.SCOPE_TEXT]
    body = render_template("oauth/consent.html", req=req_id, client_name=client.client_name,
                           logo_uri=_https(meta.get("logo_uri")), policy_uri=_https(meta.get("policy_uri")),
                           tos_uri=_https(meta.get("tos_uri")), client_uri=_https(meta.get("client_uri")),
                           scopes=shown)
    return Response(body, mimetype="text/html")


def _https(value: Any) -> str | None:
    """Only absolute http(s) links from client metadata reach the page (no javascript: URLs)."""
    if isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) < 2048:
        return value
    return None


def _request_params() -> MultiDict[str, str]:
    source = request.args if request.method == "GET" else request.values
    return MultiDict(list(source.items(multi=True)))


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt
def authorize() -> Response:
    """The authorization endpoint (RFC 6749 3.1, OIDC Core 3.1.2); POST is form-serialised (3.1.2.1)."""
    if _cross_site_post():
        return _as_get("oauth.authorize")
    return _process(_request_params())


def _cross_site_post() -> bool:
    """A POST from another site's page carries no SameSite=Lax session cookie."""
    return request.method == "POST" and login_session.COOKIE not in request.cookies


def _as_get(endpoint: str) -> Response:
    """Repeat a cross-site form POST as a top-level GET (303), which does carry the session cookie."""
    params = _request_params()
    target = url_for(endpoint) + "?" + urlencode(list(params.items(multi=True)))
    return redirect(target, code=303)  # type: ignore[return-value]


_EXPIRED = _l("This sign-in request has expired. Please go back to the application and try again.")


def _take_authreq(req_id: str | None) -> dict[str, Any]:
    data = state().store.take("authreq", req_id) if req_id and len(req_id) < 100 else None
    if not data:
        raise IdpError(_EXPIRED, detail="unknown or expired authreq")
    return dict(data)


@bp.get("/authorize/resume")
def authorize_resume() -> Response:
    """Continue a stored request after sign-in; the parameters are validated again from scratch.

    The stored request stays while the consent page is shown (so that the page's language switch,
    which reloads this URL, works) and is deleted once the request is answered.
    """
    req_id = request.args.get("req")
    stored = state().store.get("authreq", req_id) if req_id and len(req_id) < 100 else None
    if not stored or req_id is None:
        raise IdpError(_EXPIRED, detail="unknown or expired authreq")
    g.resume_req_id = req_id
    resp = _process(MultiDict([tuple(p) for p in stored["params"]]), resumed=stored)
    if not g.get("consent_page_shown"):
        state().store.delete("authreq", req_id)
    return resp


@bp.post("/authorize/consent")
def authorize_consent() -> Response:
    """The consent decision (CSRF-protected form)."""
    stored = _take_authreq(request.form.get("req"))
    session = login_session.current()
    if session is None or stored.get("consent_for") != session.sid:
        raise IdpError(_EXPIRED, detail="consent from another session")
    if stored.get("origin_req"):
        state().store.delete("authreq", stored["origin_req"])  # the request is answered now
    decision = "allow" if request.form.get("decision") == "allow" else "deny"
    return _process(MultiDict([tuple(p) for p in stored["params"]]), resumed=stored, decision=decision)


# --------------------------------------------------------------------------- token
def _basic_header_ok() -> bool:
    """False when an HTTP Basic header cannot be decoded (answered with invalid_client, not a 500)."""
    header = request.headers.get("Authorization", "")
    return not header.lower().startswith("basic") or basic_credentials(header) is not None


@bp.post("/token")
@csrf.exempt
def token() -> Response:
    """The token endpoint (RFC 6749 3.2); responses are never cached (5.1)."""
    if not _basic_header_ok():
        resp = jsonify(error="invalid_client", error_description="Malformed HTTP Basic credentials.")
        resp.status_code = 401
        resp.headers["WWW-Authenticate"] = 'Basic realm="token"'
    else:
        resp = get_server().create_token_response()
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


# --------------------------------------------------------------------------- userinfo
@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo() -> Response:
    """The UserInfo endpoint (OIDC Core 5.3); bearer token in the header or a form body (RFC 6750)."""
    try:
        resp = jsonify(userinfo_claims(bearer_token(request)))
    except BearerError as exc:
        challenge = "Bearer" if not exc.code else f'Bearer error="{exc.code}", error_description="{exc.description}"'
        resp = jsonify(error=exc.code or "invalid_request", error_description=exc.description)
        resp.status_code = exc.status
        resp.headers["WWW-Authenticate"] = challenge
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


@bp.after_request
def _cors(resp: Response) -> Response:
    """Browser-based clients call the token and userinfo endpoints directly; those endpoints never use
    cookies (client credentials and bearer tokens only), so any origin may read their answers."""
    if request.endpoint in ("oauth.token", "oauth.userinfo"):
        resp.headers["Access-Control-Allow-Origin"] = "*"
        if request.method == "OPTIONS":
            methods = "GET, POST" if request.endpoint == "oauth.userinfo" else "POST"
            resp.headers["Access-Control-Allow-Methods"] = methods
            resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            resp.headers["Access-Control-Max-Age"] = "600"
        else:
            resp.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
    return resp


# --------------------------------------------------------------------------- discovery and keys
def _cached_json(body: bytes, etag: str, max_age: int) -> Response:
    resp = Response(body, mimetype="application/json")
    resp.set_etag(etag)
    resp.headers["Cache-Control"] = f"public, max-age={max_age}"
    resp.headers["Access-Control-Allow-Origin"] = "*"  # public documents (browser-based clients)
    resp.make_conditional(request)
    return resp


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    body, etag = discovery.document()
    return _cached_json(body, etag, 3600)


@bp.get("/.well-known/oauth-authorization-server")
def oauth_metadata() -> Response:
    """RFC 8414 metadata: the same document."""
    body, etag = discovery.document()
    return _cached_json(body, etag, 3600)


@bp.get("/jwks.json")
def jwks() -> Response:
    ring = keys.keyring()
    return _cached_json(ring.jwks_bytes, ring.jwks_etag, 300)


# --------------------------------------------------------------------------- logout
def _logout_params() -> MultiDict[str, str]:
    params = _request_params()
    for key in ("csrf_token", "confirm"):
        params.pop(key, None)
    return params


@bp.route("/end_session", methods=["GET", "POST"])
@csrf.exempt  # RPs may POST here (RP-Initiated Logout 2); our own confirmation form is checked below
def end_session() -> Response:
    """RP-Initiated Logout 1.0."""
    confirmed = request.method == "POST" and request.form.get("confirm") == "1"
    if not confirmed and _cross_site_post():
        return _as_get("oauth.end_session")
    if confirmed:
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError as exc:
            raise CSRFError(str(exc)) from None
    params = _logout_params()
    for key in params:
        if len(params.getlist(key)) > 1 or len(params[key]) > 8192:
            raise IdpError(_l("The sign-out request is not valid."), detail=f"bad parameter {key[:40]}")
    oreq = ParamsRequest(params)
    oreq.confirmed = confirmed
    endpoint = get_server()._endpoints["end_session"][0]
    try:
        req = endpoint.validate_request(oreq)
    except OAuth2Error as exc:
        raise IdpError(_l("The sign-out request is not valid."), detail=exc.get_error_description()) from None
    wanted = params.get("post_logout_redirect_uri")
    if wanted:
        client = req.client
        registered = client.client_metadata.get("post_logout_redirect_uris", []) if client else []
        if wanted not in registered:
            # RP-Initiated Logout 3: never redirect to an unregistered address.
            raise IdpError(_l("The application asked to return to an address that is not registered for it."),
                           detail="post_logout_redirect_uri not registered")
    if params.get("client_id") and req.client is None:
        raise IdpError(_l("This application is not registered with Banten Single Sign-On."),
                       code="invalid_client", detail="unknown client")
    current = login_session.current()
    # A hint for someone other than the signed-in person: ask before ending their session.
    other_person = bool(req.id_token_claims and current is not None
                        and not hint_matches(req.id_token_claims, current.sub))
    if (req.needs_confirmation or other_person) and not confirmed:
        name = req.client.client_name if req.client else None
        body = render_template("oauth/logout_confirm.html", params=list(params.items(multi=True)),
                               client_name=name, signed_in=current is not None)
        return Response(body, mimetype="text/html")
    resp = endpoint.create_response(req)
    # req.redirect_uri is the registered post_logout_redirect_uri (checked above and by Authlib,
    # RP-Initiated Logout 3) with the request's state; without one, the provider's signed-out page.
    continue_to = dict(resp[2])["Location"] if resp is not None else None
    # Front-Channel Logout 1.0 4: the browser loads the applications' logout iframes before any
    # post-logout redirection, so their page comes first when the ended session had such applications.
    page = frontchannel.signed_out_page(g.get("idp_ended_sessions", []), continue_to=continue_to)
    if page is not None:
        return page
    return redirect(continue_to or url_for("oauth.logged_out"), code=302)  # type: ignore[return-value]


@bp.get("/logged_out")
def logged_out() -> str:
    return render_template("oauth/logged_out.html")


