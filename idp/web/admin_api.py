"""The administration API for automation (the agencies' integration platform): ``/admin/api/...``.

OAuth 2.0 protected (RFC 6750 bearer tokens): the caller is a confidential client that obtained its own
token with the client credentials grant (RFC 6749 4.4; ``client_secret_*`` or ``private_key_jwt``, RFC
7523) and the ``idp:admin`` scope, which only an operator grants (``idp admin-api grant CLIENT_ID``;
never registrable).  A person's token, or a client's token without the scope, is refused (403
``insufficient_scope``, RFC 6750 3.1).  Each client is rate limited (``IDP_ADMIN_API_RATE_LIMIT`` calls
a minute; 429 beyond), every call is audited (``adminapi.call``, with the domain event of a change), and
every rule is the console's: each view calls the same :mod:`idp.consoles.admin` /
:mod:`idp.consoles.scope_requests` function the console pages call.

The OpenAPI 3.1 document is served at ``/admin/api/openapi.json`` (:mod:`idp.web.admin_api_spec`).
A NIK is only ever sent in a POST body (``/people/search``), never in a URL, so it is in no access log.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, g, jsonify, request

from idp import audit, ratelimit
from idp.consoles import admin, scope_requests
from idp.extensions import csrf, db, setting
from idp.models import Client, Person, ScopeRequest, StaffAccount
from idp.oauth import registration, tokens
from idp.oauth.clients import ADMIN_SCOPE, query_client
from idp.oauth.registration import MetadataError
from idp.web.admin_api_spec import openapi_document

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")
csrf.exempt(bp)

MAX_BEARER_LENGTH = 4096
MAX_GRACE = 30 * 86400
View = Callable[..., Response]


class ApiError(Exception):
    """An error answered as ``{"error", "error_description"}`` with ``status``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _json(body: Any, status: int = 200) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _error(exc: ApiError) -> Response:
    resp = _json({"error": exc.error, "error_description": exc.description}, exc.status)
    if exc.status in (401, 403) and exc.error in ("invalid_token", "insufficient_scope", ""):
        challenge = f'Bearer scope="{ADMIN_SCOPE}"'
        if exc.error:
            challenge += f', error="{exc.error}", error_description="{exc.description}"'
        resp.headers["WWW-Authenticate"] = challenge  # RFC 6750 3
    if exc.status == 429:
        resp.headers["Retry-After"] = "60"
    return resp


def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > MAX_BEARER_LENGTH or not value.isprintable():
        return None
    return value


def _caller() -> str:
    """The client_id behind the request's token; ApiError when the token may not use this API."""
    raw = _bearer()
    if raw is None:
        raise ApiError(401, "", "An access token with the idp:admin scope is required.")
    data = tokens.lookup_access_token(raw)
    client = query_client(data.get("client_id")) if data else None
    if data is None or client is None:
        raise ApiError(401, "invalid_token", "The access token is invalid, expired or revoked.")
    # Only the client's own token (client credentials: no person), only with the scope, and only while
    # the operator's grant stands (checked on the client as loaded now, not as it was at issuance).
    if (data.get("person_id") or ADMIN_SCOPE not in str(data.get("scope") or "").split()
            or not getattr(client, "may_administer", False)):
        raise ApiError(403, "insufficient_scope", "The access token lacks the idp:admin scope.")
    return str(client.client_id)


def _audit_call(status: int, api_client: str | None, reason: str | None = None) -> None:
    audit.record("adminapi.call", outcome="success" if status < 400 else "failure", client_id=api_client,
                 api_client=api_client, method=request.method, endpoint=request.endpoint, status=status,
                 reason=reason)
    db.session.commit()


def api(view: View) -> View:
    """Authenticate, rate limit, run ``view(api_client=...)``, commit, audit; typed errors become JSON."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        limit = int(setting("ADMIN_API_RATE_LIMIT"))
        caller: str | None = None
        try:
            try:
                caller = _caller()
            except ApiError:
                # Unauthenticated callers are limited per address before anything is written for them.
                if not ratelimit.allow("adminapi-ip", request.remote_addr or "-", limit, 60):
                    raise ApiError(429, "rate_limited", "Too many requests; wait a minute.") from None
                raise
            if not ratelimit.allow("adminapi", caller, limit, 60):
                raise ApiError(429, "rate_limited", "Too many requests; wait a minute.")
            g.api_client = caller
            resp = view(*args, api_client=caller, **kwargs)
            db.session.commit()
        except ApiError as exc:
            db.session.rollback()
            _audit_call(exc.status, caller, exc.error or "no_token")
            return _error(exc)
        except MetadataError as exc:
            db.session.rollback()
            _audit_call(400, caller, exc.error)
            return _error(ApiError(400, exc.error, exc.description))
        _audit_call(resp.status_code, caller)
        return resp

    return wrapper


def _body() -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise ApiError(400, "invalid_request", "The request body must be a JSON object (application/json).")
    try:
        found = json.loads(request.get_data(cache=False) or b"{}")
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_request", "The request body is not valid JSON.") from None
    if not isinstance(found, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
    return found


def _text(body: dict[str, Any], name: str, limit: int = 1000) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise ApiError(400, "invalid_request", f"'{name}' must be printable text of at most {limit} characters.")
    return value


# --- the document ----------------------------------------------------------------------------------------
@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of this API (public: it holds no data)."""
    return _json(openapi_document(str(setting("ISSUER"))))


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def unknown(rest: str) -> Response:
    """Any other path under /admin/api: a JSON 404 (automation reads JSON), not the HTML error page."""
    return _error(ApiError(404, "not_found", "No such endpoint; see /admin/api/openapi.json."))


# --- clients ---------------------------------------------------------------------------------------------
def _client(client_id: str) -> Client:
    found = admin.get_client(client_id)
    if found is None:
        raise ApiError(404, "not_found", "No such client.")
    return found


def _client_json(client: Client, **secrets: Any) -> dict[str, Any]:
    team = admin.team_of(client)
    body = {"client_id": client.client_id, "client_name": admin.client_name(client), "disabled": client.disabled,
            "team": team.name if team else None, "approved_scopes": (client.approved_scopes or "").split(),
            "metadata": registration.client_info(client)}
    body.update({k: v for k, v in secrets.items() if v})
    return body


@bp.get("/clients")
@api
def list_clients(*, api_client: str) -> Response:
    name = _text(dict(request.args), "name", 200) or ""
    team = _text(dict(request.args), "team", 200) or ""
    return _json({"clients": [_client_json(c) for c, _t in admin.clients(name, team)]})


@bp.post("/clients")
@api
def create_client(*, api_client: str) -> Response:
    body = _body()
    approved = _text(body, "approved_scopes", 500) or ""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise ApiError(400, "invalid_request", "'metadata' must be an object of RFC 7591 client metadata.")
    client, secret = admin.create_client(metadata, approved_scopes=approved, api_client=api_client)
    return _json(_client_json(client, client_secret=secret), 201)


@bp.get("/clients/<client_id>")
@api
def read_client(client_id: str, *, api_client: str) -> Response:
    return _json(_client_json(_client(client_id)))


@bp.put("/clients/<client_id>")
@api
def update_client(client_id: str, *, api_client: str) -> Response:
    client = _client(client_id)
    metadata = _body().get("metadata")
    if not isinstance(metadata, dict):
        raise ApiError(400, "invalid_request", "'metadata' must be an object of RFC 7591 client metadata.")
    secret = admin.update_client(client, metadata, api_client=api_client)
    return _json(_client_json(client, client_secret=secret))


@bp.post("/clients/<client_id>/secret")
@api
def rotate_secret(client_id: str, *, api_client: str) -> Response:
    client = _client(client_id)
    grace = _body().get("grace_seconds", 0)
    if not isinstance(grace, int) or isinstance(grace, bool) or not 0 <= grace <= MAX_GRACE:
        raise ApiError(400, "invalid_request", f"'grace_seconds' must be a whole number from 0 to {MAX_GRACE}.")
    try:
        secret = admin.rotate_secret(client, grace=grace, api_client=api_client)
    except admin.NoSecret:
        raise ApiError(409, "no_secret", "This client does not authenticate with a secret.") from None
    return _json(_client_json(client, client_secret=secret))


@bp.post("/clients/<client_id>/disable")
@api
def disable_client(client_id: str, *, api_client: str) -> Response:
    client = _client(client_id)
    if client.client_id == api_client:
        raise ApiError(409, "conflict", "A client cannot disable itself.")
    admin.set_client_disabled(client, True, api_client=api_client)
    return _json(_client_json(client))


@bp.post("/clients/<client_id>/enable")
@api
def enable_client(client_id: str, *, api_client: str) -> Response:
    client = _client(client_id)
    admin.set_client_disabled(client, False, api_client=api_client)
    return _json(_client_json(client))


@bp.delete("/clients/<client_id>")
@api
def delete_client(client_id: str, *, api_client: str) -> Response:
    client = _client(client_id)
    if client.client_id == api_client:
        raise ApiError(409, "conflict", "A client cannot delete itself.")
    admin.delete_client(client, api_client=api_client)
    return Response(status=204)


# --- scope approvals -------------------------------------------------------------------------------------
def _request_json(row: ScopeRequest, client: Client) -> dict[str, Any]:
    return {"id": row.id, "client_id": client.client_id, "scope": row.scope, "purpose": row.purpose,
            "status": row.status, "decision_note": row.decision_note}


@bp.get("/scope-requests")
@api
def list_scope_requests(*, api_client: str) -> Response:
    status = request.args.get("status", "pending")
    if status not in ("pending", "approved"):
        raise ApiError(400, "invalid_request", "'status' must be 'pending' or 'approved'.")
    rows = scope_requests.pending() if status == "pending" else scope_requests.approved()
    return _json({"scope_requests": [_request_json(r, c) for r, c, _t in rows]})


def _decide(request_id: int, decide: Callable[..., Client], *, note_required: bool = False) -> Response:
    note = _text(_body(), "note", scope_requests.NOTE_MAX)
    if note_required and not (note or "").strip():
        raise ApiError(400, "invalid_request", "'note' (why, told to the team) is required.")
    row = db.session.get(ScopeRequest, request_id) if 0 < request_id <= admin.MAX_ID else None
    if row is None:
        raise ApiError(404, "not_found", "No such scope request.")
    try:
        client = decide(row, note)
    except scope_requests.DecisionError:
        raise ApiError(409, "conflict", "The request is not in a state that allows this decision.") from None
    db.session.commit()
    scope_requests.notify(client, row)  # the team is told, as from the console
    return _json(_request_json(row, client))


@bp.post("/scope-requests/<int:request_id>/approve")
@api
def approve_scope(request_id: int, *, api_client: str) -> Response:
    return _decide(request_id, lambda row, note: scope_requests.approve(row, note=note, api_client=api_client))


@bp.post("/scope-requests/<int:request_id>/refuse")
@api
def refuse_scope(request_id: int, *, api_client: str) -> Response:
    return _decide(request_id, lambda row, note: scope_requests.refuse(row, note=note or "", api_client=api_client),
                   note_required=True)


@bp.post("/scope-requests/<int:request_id>/revoke")
@api
def revoke_scope(request_id: int, *, api_client: str) -> Response:
    return _decide(request_id, lambda row, note: scope_requests.revoke(row, note=note, api_client=api_client))


# --- people ----------------------------------------------------------------------------------------------
def _person(person_id: int) -> Person:
    found = admin.get_person(person_id)
    if found is None:
        raise ApiError(404, "not_found", "No such person.")
    return found


def _person_json(person: Person) -> dict[str, Any]:
    staff = db.session.execute(db.select(StaffAccount).where(StaffAccount.person_id == person.id)).scalars().first()
    return {"id": person.id, "sub": person.sub, "status": person.status, "name": person.name,
            "email": person.email, "username": staff.username if staff else None,
            "nik_masked": admin.masked_staff_nik(staff) if staff else None}


@bp.post("/people/search")
@api
def search_people(*, api_client: str) -> Response:
    """Exactly one of ``nik`` (a whole NIK, looked up by its keyed hash), ``username`` or ``email``."""
    body = _body()
    given = [k for k in ("nik", "username", "email") if body.get(k) is not None]
    if len(given) != 1:
        raise ApiError(400, "invalid_request", "Give exactly one of 'nik', 'username' or 'email'.")
    people = admin.search(given[0], _text(body, given[0], 256) or "", api_client=api_client)
    return _json({"people": [_person_json(p) for p in people]})


@bp.get("/people/<int:person_id>")
@api
def read_person(person_id: int, *, api_client: str) -> Response:
    return _json(_person_json(_person(person_id)))


@bp.post("/people/<int:person_id>/lock")
@api
def lock_person(person_id: int, *, api_client: str) -> Response:
    person = _person(person_id)
    reason = _text(_body(), "reason", 200)
    ended = admin.lock(person, reason=reason, api_client=api_client)
    return _json({**_person_json(person), "sessions_ended": ended})


@bp.post("/people/<int:person_id>/unlock")
@api
def unlock_person(person_id: int, *, api_client: str) -> Response:
    person = _person(person_id)
    admin.unlock(person, api_client=api_client)
    return _json(_person_json(person))


@bp.post("/people/<int:person_id>/end-sessions")
@api
def end_sessions(person_id: int, *, api_client: str) -> Response:
    person = _person(person_id)
    ended = admin.end_sessions(person, api_client=api_client)
    return _json({**_person_json(person), "sessions_ended": ended})


# --- the audit log ---------------------------------------------------------------------------------------
@bp.get("/audit")
@api
def audit_log(*, api_client: str) -> Response:
    """One page of events, newest first, with the console's filters (``person``, ``client``, ``event``
    prefix, ``from``, ``to``); ``next`` is the following page's URL (keyset paging with ``before``, so
    events written meanwhile do not shift the pages), or null at the end."""
    try:
        flt = admin.parse_filter(request.args)
        number = admin.parse_page(request.args.get("page"))
    except admin.BadFilter as exc:
        raise ApiError(400, "invalid_request", f"Bad value for '{exc.field}'.") from None
    rows, more = admin.audit_page(flt, number)
    nxt = None
    if more and rows:
        flt.before_id = rows[-1].id
        nxt = f"{setting('ISSUER')}/admin/api/audit?{urlencode(flt.args())}"
    return _json({"events": [{"id": r.id, "at": r.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "event": r.event,
                              "outcome": r.outcome, "person_id": r.person_id, "client_id": r.client_id,
                              "ip": r.ip, "user_agent": r.user_agent, "detail": r.detail} for r in rows],
                  "next": nxt})
