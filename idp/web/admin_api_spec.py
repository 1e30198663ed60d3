"""The OpenAPI 3.1 document of the administration API (:mod:`idp.web.admin_api`)."""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: dict[str, Any], description: str = "Done.", status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": {JSON: {"schema": schema}}}}


def _op(summary: str, op_id: str, responses: dict[str, Any], *, body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, errors: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": summary, "operationId": op_id, "security": [{"oauth2": ["idp:admin"]}],
                           "responses": dict(responses)}
    for code in ("401", "403", "429", *errors):
        out["responses"][code] = {"$ref": f"#/components/responses/E{code}"}
    if body is not None:
        out["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    if params:
        out["parameters"] = params
    return out


def _param(name: str, where: str = "query", schema: dict[str, Any] | None = None,
           description: str = "") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema or {"type": "string"},
            "description": description}


CLIENT_ID = _param("client_id", "path")
PERSON_ID = _param("person_id", "path", {"type": "integer", "minimum": 1})
REQUEST_ID = _param("request_id", "path", {"type": "integer", "minimum": 1})
NOTE = {"type": "object", "properties": {"note": {"type": "string", "maxLength": 2000}}}
ERRORS = {"400": "Bad request (error invalid_request, or a metadata error of RFC 7591 3.2.2).",
          "401": "No token, or an invalid, expired or revoked one (RFC 6750 3.1 invalid_token).",
          "403": "The token is not a client's own token with the idp:admin scope (insufficient_scope).",
          "404": "Not found.", "409": "The object is not in a state that allows this.",
          "429": "Rate limited (IDP_ADMIN_API_RATE_LIMIT a minute); see Retry-After."}


def openapi_document(issuer: str) -> dict[str, Any]:
    """The document, with the issuer's token endpoint and server URL filled in."""
    client_out = _ref("Client")
    person_out = _ref("Person")
    return {
        "openapi": "3.1.0",
        "info": {"title": "idp administration API", "version": "1",
                 "description": "Automation of the administration console: clients, scope approvals, people "
                                "and the audit log. Every call is audited and rate limited; the rules are the "
                                "console's. Obtain a token with the client credentials grant and scope idp:admin "
                                "(granted by an operator: idp admin-api grant CLIENT_ID)."},
        "servers": [{"url": f"{issuer}/admin/api"}],
        "paths": {
            "/clients": {
                "get": _op("List clients", "listClients", _ok({"type": "object", "properties": {
                    "clients": {"type": "array", "items": client_out}}}),
                    params=[_param("name"), _param("team")]),
                "post": _op("Register a client (operator-managed)", "createClient",
                            _ok(client_out, "Created; client_secret is shown once.", "201"),
                            body=_ref("ClientInput"), errors=("400",)),
            },
            "/clients/{client_id}": {
                "get": _op("Read a client", "readClient", _ok(client_out), params=[CLIENT_ID], errors=("404",)),
                "put": _op("Replace a client's metadata", "updateClient", _ok(client_out), params=[CLIENT_ID],
                           body=_ref("ClientInput"), errors=("400", "404")),
                "delete": _op("Delete a client with its consents and tokens", "deleteClient",
                              {"204": {"description": "Deleted."}}, params=[CLIENT_ID], errors=("404", "409")),
            },
            "/clients/{client_id}/secret": {
                "post": _op("Rotate the client secret", "rotateSecret", _ok(client_out, "The new secret, once."),
                            params=[CLIENT_ID], errors=("400", "404", "409"),
                            body={"type": "object", "properties": {"grace_seconds": {
                                "type": "integer", "minimum": 0, "maximum": 2592000,
                                "description": "How long the replaced secret keeps working (0: ends now)."}}}),
            },
            "/clients/{client_id}/disable": {
                "post": _op("Disable a client (its tokens are revoked)", "disableClient", _ok(client_out),
                            params=[CLIENT_ID], errors=("404", "409")),
            },
            "/clients/{client_id}/enable": {
                "post": _op("Enable a client", "enableClient", _ok(client_out), params=[CLIENT_ID],
                            errors=("404",)),
            },
            "/scope-requests": {
                "get": _op("List scope requests", "listScopeRequests", _ok({"type": "object", "properties": {
                    "scope_requests": {"type": "array", "items": _ref("ScopeRequest")}}}),
                    params=[_param("status", schema={"type": "string", "enum": ["pending", "approved"]})],
                    errors=("400",)),
            },
            **{f"/scope-requests/{{request_id}}/{action}": {
                "post": _op(f"{action.capitalize()} a scope request (the team is told)", f"{action}ScopeRequest",
                            _ok(_ref("ScopeRequest")), params=[REQUEST_ID], body=NOTE,
                            errors=("400", "404", "409"))} for action in ("approve", "refuse", "revoke")},
            "/people/search": {
                "post": _op("Find people by exact NIK (keyed hash), user name or e-mail", "searchPeople",
                            _ok({"type": "object", "properties": {"people": {"type": "array",
                                                                             "items": person_out}}}),
                            body={"type": "object", "minProperties": 1, "maxProperties": 1, "properties": {
                                "nik": {"type": "string", "description": "A whole 16-digit NIK (never a prefix)."},
                                "username": {"type": "string"}, "email": {"type": "string"}}},
                            errors=("400",)),
            },
            "/people/{person_id}": {
                "get": _op("Read a person", "readPerson", _ok(person_out), params=[PERSON_ID], errors=("404",)),
            },
            "/people/{person_id}/lock": {
                "post": _op("Lock a person (sessions end, tokens revoked)", "lockPerson", _ok(person_out),
                            params=[PERSON_ID], errors=("400", "404"),
                            body={"type": "object", "properties": {"reason": {"type": "string", "maxLength": 200}}}),
            },
            "/people/{person_id}/unlock": {
                "post": _op("Unlock a person", "unlockPerson", _ok(person_out), params=[PERSON_ID],
                            errors=("404",)),
            },
            "/people/{person_id}/end-sessions": {
                "post": _op("End every session of a person", "endSessions", _ok(person_out), params=[PERSON_ID],
                            errors=("404",)),
            },
            "/audit": {
                "get": _op("Export the audit log, one page at a time (newest first)", "auditLog",
                           _ok(_ref("AuditPage")), errors=("400",),
                           params=[_param("person", schema={"type": "integer"}), _param("client"),
                                   _param("event", description="An event name prefix."),
                                   _param("from", description="YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)."),
                                   _param("to", description="YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)."),
                                   _param("before", schema={"type": "integer", "minimum": 1},
                                          description="Only events older than this id (set by next)."),
                                   _param("page", schema={"type": "integer", "minimum": 1})]),
            },
        },
        "components": {
            "securitySchemes": {"oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
                "tokenUrl": f"{issuer}/token", "scopes": {"idp:admin": "The administration API."}}}}},
            "responses": {f"E{code}": {"description": text, "content": {JSON: {"schema": _ref("Error")}}}
                          for code, text in ERRORS.items()},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "string"}, "error_description": {"type": "string"}}},
                "ClientInput": {"type": "object", "required": ["metadata"], "properties": {
                    "metadata": {"type": "object", "description": "RFC 7591 client metadata."},
                    "approved_scopes": {"type": "string", "description": "Sensitive scopes approved (create only)."}}},
                "Client": {"type": "object", "properties": {
                    "client_id": {"type": "string"}, "client_name": {"type": "string"},
                    "disabled": {"type": "boolean"}, "team": {"type": ["string", "null"]},
                    "approved_scopes": {"type": "array", "items": {"type": "string"}},
                    "metadata": {"type": "object"}, "client_secret": {"type": "string"}}},
                "ScopeRequest": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "client_id": {"type": "string"}, "scope": {"type": "string"},
                    "purpose": {"type": ["string", "null"]}, "status": {"type": "string"},
                    "decision_note": {"type": ["string", "null"]}}},
                "Person": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "sub": {"type": "string"}, "status": {"type": "string"},
                    "name": {"type": ["string", "null"]}, "email": {"type": ["string", "null"]},
                    "username": {"type": ["string", "null"]}, "nik_masked": {"type": ["string", "null"]},
                    "sessions_ended": {"type": "integer"}}},
                "AuditPage": {"type": "object", "properties": {
                    "events": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "integer"}, "at": {"type": "string"}, "event": {"type": "string"},
                        "outcome": {"type": "string"}, "person_id": {"type": ["integer", "null"]},
                        "client_id": {"type": ["string", "null"]}, "ip": {"type": ["string", "null"]},
                        "user_agent": {"type": ["string", "null"]},
                        "detail": {"type": ["object", "null"]}}}},
                    "next": {"type": ["string", "null"], "description": "The next page's URL, or null."}}},
            },
        },
    }
