"""OAuth 2.0 / OpenID Connect endpoints: authorize (+ resume, consent), token, userinfo, discovery, JWKS,
end_session.  The protocol work is Authlib's and :mod:`idp.oauth` (the authorization decision is
:mod:`idp.oauth.authorize`); this module decides what the browser sees.

Error delivery follows RFC 6749 4.1.2.1: while the client or its redirect URI is not validated the
person gets an error page (never a redirect); after that every error goes back to the client with
``error``, ``error_description``, ``state`` and ``iss`` (RFC 9207).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.datastructures import MultiDict
from werkzeug.routing import BuildError
from wtforms.validators import ValidationError

from idp import mail
from idp.errors import IdpError
from idp.extensions import csrf, db, state
from idp.i18n import PRODUCT, pick_ui_locales
from idp.models import Person
from idp.oauth import authorize as authz
from idp.oauth import backchannel, discovery, frontchannel, keys
from idp.oauth.clients import OAuthClient, basic_credentials, hint_matches, query_client
from idp.oauth.server import ParamsRequest, get_server
from idp.oauth.userinfo import BearerError, bearer_token, userinfo_claims
from idp.people import access
from idp.people import claims as claims_module
from idp.people import session as login_session

bp = Blueprint("oauth", __name__)


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


class RedirectMismatch(PageError):
    """The redirect URI sent is not registered for the client: the page shows the developer what was sent
    and how to register it, as text (never a link, never a redirect: RFC 6749 4.1.2.1)."""

    def __init__(self, client: OAuthClient, sent: str | None) -> None:
        super().__init__(_l("The application asked to return to an address that is not registered for it."),
                         detail="redirect_uri not registered")
        self.client = client
        self.sent = sent


# --------------------------------------------------------------------------- authorization
def _target(params: MultiDict[str, str]) -> Target:
    """Validate the client and the redirect URI; failures are shown, never redirected."""
    client_id = _single(params, "client_id")
    if not client_id:
        raise PageError(_l("The application did not identify itself correctly (client_id is missing or "
                           "repeated)."), detail="bad client_id")
    client = query_client(client_id)
    if client is None:
        raise PageError(_l("This application is not registered with %(product)s.", product=PRODUCT),
                        code="invalid_client", detail="unknown client")
    redirect_uri = _single(params, "redirect_uri")
    if not redirect_uri or not client.check_redirect_uri(redirect_uri):
        raise RedirectMismatch(client, redirect_uri)
    mode = _single(params, "response_mode")
    state = _single(params, "state")
    return Target(client=client, redirect_uri=redirect_uri, state=state,
                  response_mode="form_post" if mode == "form_post" else "query")


@bp.errorhandler(RedirectMismatch)
def _redirect_mismatch(exc: RedirectMismatch) -> Response:
    sent = exc.sent if exc.sent is None or len(exc.sent) <= 500 else exc.sent[:500] + "…"
    body = render_template("oauth/redirect_mismatch.html", message=exc.message, sent=sent,
                           client_name=exc.client.client_name, client_id=exc.client.client_id,
                           portal=_portal_url(), issuer=_issuer())
    return Response(body, status=400, mimetype="text/html")


def _portal_url() -> str | None:
    try:
        return url_for("portal.index")
    except BuildError:  # the portal is not installed (protocol tests)
        return None


def _login_url(req_id: str) -> str:
    try:
        return url_for("auth.login", req=req_id)
    except BuildError:  # the sign-in page is not installed (protocol tests)
        return "/login?req=" + req_id


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
    """Check the request's shape and response mode, let :func:`idp.oauth.authorize.decide` answer it,
    and show the outcome: the sign-in page, the code page, the consent page or the code."""
    authz.check_shape(params)
    if params.get("response_mode") not in (None, "query", "form_post"):
        raise InvalidRequestError("Unsupported 'response_mode'.")
    if target.response_mode == "form_post" and not target.redirect_uri.startswith(("https://", "http://")):
        # A form posted to a javascript: or app-scheme URI would run or go nowhere (Authlib does the same).
        target.response_mode = "query"
        raise InvalidRequestError("'response_mode=form_post' needs an http(s) redirect URI.")
    outcome = authz.decide(params, target.client, resumed=resumed, decision=decision,
                           origin_req=g.get("resume_req_id"))
    if isinstance(outcome, authz.StepUp):
        return redirect(url_for("mfa.second_step", req=outcome.req), code=303)  # type: ignore[return-value]
    if isinstance(outcome, authz.SignIn):
        return redirect(_login_url(outcome.req), code=302)  # type: ignore[return-value]
    if isinstance(outcome, authz.AskConsent):
        return _consent_page(outcome)
    if isinstance(outcome, authz.Refused):
        return _refused_page(target, outcome)
    if login_session.add_client(outcome.session, target.client.client_id):
        backchannel.watch(outcome.session)  # its expiry, too, must reach the applications (Back-Channel Logout 2.7)
    return _respond(target, [("code", outcome.code)])


def _consent_page(outcome: authz.AskConsent) -> Response:
    g.consent_page_shown = True
    client = outcome.client
    meta = client.client_metadata
    shown = [claims_module.SCOPE_TEXT.get(s, s) for s in outcome.scopes if s in claims_module.SCOPE_TEXT]
    # Which account is about to share its data (a shared phone: the person must see it is theirs).
    current = login_session.current()
    person = db.session.get(Person, current.person_id) if current is not None else None
    body = render_template("oauth/consent.html", req=outcome.req, client_name=client.client_name,
                           signed_in_as=(person.name or "") if person else None,
                           signed_in_email=mail.mask_address(person.email) if person and person.email else None,
                           logo_uri=_https(meta.get("logo_uri")), policy_uri=_https(meta.get("policy_uri")),
                           tos_uri=_https(meta.get("tos_uri")), client_uri=_https(meta.get("client_uri")),
                           scopes=shown)
    return Response(body, mimetype="text/html")


def _refused_page(target: Target, outcome: authz.Refused) -> Response:
    """The person does not qualify for this application: say which application and why (issue 18).

    No code is issued; the way back hands the application ``access_denied`` (RFC 6749 4.1.2.1) by the
    requested response mode, when the person chooses to go back.
    """
    params = [("error", "access_denied"),
              ("error_description", "The application's access policy does not admit this person."),
              ("iss", _issuer())]
    if target.state is not None:
        params.append(("state", target.state))
    back = add_params_to_uri(target.redirect_uri, params) if target.response_mode == "query" else None
    body = render_template("oauth/refused.html", client_name=outcome.client.client_name,
                           reasons=[access.REASON_TEXT[r] for r in outcome.reasons], back=back,
                           form_action=target.redirect_uri if back is None else None, params=params)
    return Response(body, status=403, mimetype="text/html")


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


@bp.get("/authorize/resume")
def authorize_resume() -> Response:
    """Continue a stored request after sign-in; the parameters are validated again from scratch.

    The stored request stays while the consent page is shown (so that the page's language switch,
    which reloads this URL, works) and is deleted once the request is answered.
    """
    req_id = request.args.get("req")
    stored = authz.pending(req_id)
    if not stored or req_id is None:
        raise IdpError(_EXPIRED, detail="unknown or expired authreq")
    g.resume_req_id = req_id
    resp = _process(authz.stored_params(stored), resumed=stored)
    if not g.get("consent_page_shown"):
        authz.forget(req_id)
    return resp


@bp.post("/authorize/consent")
def authorize_consent() -> Response:
    """The consent decision (CSRF-protected form)."""
    stored = authz.take(request.form.get("req"))
    if not stored:
        raise IdpError(_EXPIRED, detail="unknown or expired authreq")
    session = login_session.current()
    if session is None or stored.get("consent_for") != session.sid:
        raise IdpError(_EXPIRED, detail="consent from another session")
    if stored.get("origin_req"):
        authz.forget(stored["origin_req"])  # the request is answered now
    decision = "allow" if request.form.get("decision") == "allow" else "deny"
    return _process(authz.stored_params(stored), resumed=stored, decision=decision)


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
        raise IdpError(_l("This application is not registered with %(product)s.", product=PRODUCT),
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


