"""Machine endpoints for clients: token revocation (RFC 7009), introspection (RFC 7662) and dynamic client
registration and management (RFC 7591 / RFC 7592).

Every answer is JSON and never cached.  Registration is open only to holders of an initial access token
(RFC 7591 3: issued by an operator with ``idp iat create``); each registered client gets a registration
access token for its own configuration endpoint (RFC 7592).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select, update

from idp import audit
from idp.crypto import random_token
from idp.extensions import csrf, db, state
from idp.models import Client, InitialAccessToken, utcnow
from idp.oauth import registration
from idp.oauth.registration import MetadataError
from idp.oauth.server import get_server

bp = Blueprint("clients_api", __name__)

MAX_BEARER_LENGTH = 200


def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    return resp


def _json_error(status: int, error: str, description: str, *, bearer: bool = False) -> Response:
    resp = jsonify(error=error, error_description=description)
    resp.status_code = status
    if bearer:
        # RFC 6750 3: a missing or bad bearer token gets a challenge.
        resp.headers["WWW-Authenticate"] = f'Bearer error="{error}", error_description="{description}"'
    return _no_store(resp)


def _invalid_token(description: str = "The access token is missing, invalid or expired.") -> Response:
    return _json_error(401, "invalid_token", description, bearer=True)


def _bearer() -> str | None:
    """The bearer token of the Authorization header (RFC 6750 2.1), or None."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > MAX_BEARER_LENGTH or not value.isprintable():
        return None
    return value


def _json_body() -> Any:
    """The request's JSON document, or raise MetadataError (RFC 7591 3.2.2) when it is not JSON."""
    if request.mimetype != "application/json":
        raise MetadataError("invalid_client_metadata",
                            "The request body must be a JSON object sent as application/json.")
    try:
        return json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, RecursionError):
        raise MetadataError("invalid_client_metadata", "The request body is not valid JSON.") from None



def _issuer() -> str:
    return str(state().config["ISSUER"])


def _registration_response(client: Client, status: int, **secrets: Any) -> Response:
    body = registration.client_info(client)
    body["registration_client_uri"] = f"{_issuer()}/register/{client.client_id}"
    body.update({k: v for k, v in secrets.items() if v})
    resp = jsonify(body)
    resp.status_code = status
    return _no_store(resp)


# --------------------------------------------------------------------------- RFC 7591
def _use_initial_access_token(token: str) -> bool:
    """Count one use of an initial access token; False when unknown, expired or used up.

    A single conditional UPDATE counts the use, so concurrent registrations can never exceed
    ``max_uses``.  It belongs to the request's transaction: a registration that fails is rolled
    back and does not use up the token.
    """
    result = db.session.execute(
        update(InitialAccessToken)
        .where(InitialAccessToken.token_hash == state().crypto.keyed_hash("initial_access_token", token),
               InitialAccessToken.uses < InitialAccessToken.max_uses,
               InitialAccessToken.expires_at > utcnow())
        .values(uses=InitialAccessToken.uses + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


@bp.post("/register")
@csrf.exempt
def register() -> Response:
    """Dynamic client registration (RFC 7591 3, OpenID Connect Dynamic Client Registration 3)."""
    token = _bearer()
    if token is None:
        return _invalid_token("An initial access token is required to register a client.")
    if not _use_initial_access_token(token):
        db.session.rollback()
        return _invalid_token("The initial access token is invalid, expired or used up.")
    registration_token = random_token(32)
    try:
        client, secret = registration.create_client(_json_body(), dynamic=True, created_by="dynamic")
    except MetadataError as exc:
        db.session.rollback()
        return _json_error(400, exc.error, exc.description)
    client.registration_token_hash = state().crypto.keyed_hash("registration_token", registration_token)
    audit.record("client.register", client_id=client.client_id, via="rfc7591")
    db.session.commit()
    return _registration_response(client, 201, client_secret=secret,
                                  registration_access_token=registration_token)


# --------------------------------------------------------------------------- RFC 7592
def _managed_client(client_id: str) -> Client | None:
    """The client whose registration access token was presented, or None (RFC 7592 3)."""
    token = _bearer()
    if token is None or len(client_id) > 64:
        return None
    row = db.session.execute(
        select(Client).where(Client.registration_token_hash == state().crypto.keyed_hash("registration_token", token))
    ).scalar_one_or_none()
    if row is None or row.client_id != client_id or row.disabled:
        return None
    return row


def _rotate_registration_token(row: Client) -> str:
    """A new registration access token for ``row`` (the caller commits).

    Only an update issues a new one (RFC 7592 2.2 allows it; the client MUST then discard the old one);
    a read answers with the presented token (see :func:`configure`).
    """
    token = random_token(32)
    row.registration_token_hash = state().crypto.keyed_hash("registration_token", token)
    return token


@bp.route("/register/<client_id>", methods=["GET", "PUT", "DELETE"])
@csrf.exempt
def configure(client_id: str) -> Response:
    """Read, replace or delete a dynamically registered client (RFC 7592 2)."""
    row = _managed_client(client_id)
    if row is None:
        # RFC 7592 2.1: unknown client or bad token -> 401, nothing revealed.
        return _invalid_token()
    if request.method == "GET":
        # RFC 7592 3 wants the registration access token in the response: the one just presented, which
        # stays valid.  A read never rotates it, so a read whose response is lost cannot leave the client
        # without a working token (it MUST discard its old token when given a new one, RFC 7592 2.1).
        return _registration_response(row, 200, registration_access_token=_bearer())
    if request.method == "DELETE":
        registration.delete_client(row)
        audit.record("client.delete", client_id=client_id, via="rfc7592")
        db.session.commit()
        resp = Response(status=204)
        return _no_store(resp)
    return _update(row)


# Fields the server sets; a client echoing them back in an update is not an error (they are ignored).
_SERVER_FIELDS = ("registration_access_token", "registration_client_uri", "client_secret_expires_at",
                  "client_id_issued_at", "client_id", "client_secret")


def _update(row: Client) -> Response:
    """RFC 7592 2.2: the request carries the complete metadata, which replaces the registered one."""
    try:
        body = _json_body()
        if not isinstance(body, dict):
            raise MetadataError("invalid_client_metadata", "The client metadata must be a JSON object.")
        if body.get("client_id") != row.client_id:
            return _json_error(400, "invalid_request", "'client_id' must be present and equal the client's id.")
        given_secret = body.get("client_secret")
        if given_secret is not None and not (
                isinstance(given_secret, str)
                and state().crypto.check_keyed_hash("client_secret", given_secret, row.client_secret_hash)):
            return _json_error(400, "invalid_request", "'client_secret' does not match the current secret.")
        # current=: the subject type and pairwise sector cannot change (every person's sub would).
        clean = registration.validate_metadata({k: v for k, v in body.items() if k not in _SERVER_FIELDS},
                                               dynamic=True, current=row.client_metadata or {})
    except MetadataError as exc:
        return _json_error(400, exc.error, exc.description)
    new_secret = None
    if registration.uses_secret(clean) and not row.client_secret_hash:
        new_secret = registration.new_secret()
        row.client_secret_hash = registration.secret_hash(new_secret)
        row.client_secret_expires_at = 0
    elif not registration.uses_secret(clean):
        row.client_secret_hash = None
    row.client_metadata = clean
    row.updated_at = utcnow()
    token = _rotate_registration_token(row)
    audit.record("client.update", client_id=row.client_id, via="rfc7592")
    db.session.commit()
    return _registration_response(row, 200, client_secret=new_secret, registration_access_token=token)


# --------------------------------------------------------------------------- RFC 7009 / RFC 7662
@bp.post("/revoke")
@csrf.exempt
def revoke() -> Response:
    """Token revocation (RFC 7009 2); the work is in :mod:`idp.oauth.revocation`."""
    return _no_store(get_server().create_endpoint_response("revocation"))


@bp.post("/introspect")
@csrf.exempt
def introspect() -> Response:
    """Token introspection (RFC 7662 2); the work is in :mod:`idp.oauth.introspection`."""
    return _no_store(get_server().create_endpoint_response("introspection"))
