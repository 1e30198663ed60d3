"""The administration API (/admin/api) through HTTP with real client credentials tokens: each endpoint,
the operator's grant (``idp admin-api grant``), the refusals (no token, wrong scope, a person's token,
another client's token, rate limit), the audit of every call and the OpenAPI 3.1 document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate
from sqlalchemy import select

from idp import siem
from idp.extensions import db
from idp.models import AuditEvent, Client, Person, ScopeRequest
from tests.admin.conftest import SITI, staff
from tests.citizen.helpers import register_and_verify, sign_in
from tests.helpers import choose_english
from tests.oauth import helpers
from tests.oauth.test_private_key_jwt import ASSERTION_TYPE, RSA, assertion, pkjwt_client
from tests.test_siem import collector  # noqa: F401 - the HTTP collector fixture

AUTOMATION = {"grant_types": ["client_credentials"], "response_types": [], "scope": "profile"}
API = "/admin/api"


def _cli(app: Flask, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=list(args))
    return result


def automation_client(app: Flask, *, grant: bool = True) -> tuple[str, str]:
    cid, secret = helpers.create_client(app, **AUTOMATION)
    assert secret
    if grant:
        result = _cli(app, "admin-api", "grant", cid)
        assert result.exit_code == 0, result.output
        assert "may now obtain" in result.output
    return cid, secret


def token(app: Flask, cid: str, secret: str, scope: str = "idp:admin") -> dict[str, Any]:
    resp = app.test_client().post("/token", data={"grant_type": "client_credentials", "scope": scope},
                                  headers=helpers.basic(cid, secret))
    assert resp.status_code == 200, resp.get_json()
    return dict(resp.get_json())


class Api:
    """An automation client of the API with its bearer token."""

    def __init__(self, app: Flask, cid: str, access_token: str) -> None:
        self.app, self.cid, self.http = app, cid, app.test_client()
        self.headers = {"Authorization": f"Bearer {access_token}"}

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        resp = self.http.open(API + path, method=method, json=body, headers=self.headers, **kwargs)
        assert resp.status_code < 500, resp.data[:500]
        assert resp.headers.get("Cache-Control") == "no-store" or resp.status_code == 204
        return resp


@pytest.fixture
def api_for(app: Flask) -> Callable[[], Api]:
    def make() -> Api:
        cid, secret = automation_client(app)
        issued = token(app, cid, secret)
        assert "idp:admin" in issued["scope"].split()
        return Api(app, cid, issued["access_token"])

    return make


def events(app: Flask, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent).where(AuditEvent.event == name)
                                       .order_by(AuditEvent.id)).scalars())


# --- the operator's grant ------------------------------------------------------------------------------
def test_the_scope_is_only_granted_by_the_operator(app: Flask) -> None:
    cid, secret = automation_client(app, grant=False)
    assert "idp:admin" not in token(app, cid, secret).get("scope", "").split()
    assert _cli(app, "admin-api", "grant", cid).exit_code == 0
    assert "idp:admin" in token(app, cid, secret)["scope"].split()
    listed = _cli(app, "admin-api", "list")
    assert cid in listed.output
    assert _cli(app, "admin-api", "revoke", cid).exit_code == 0
    assert "idp:admin" not in token(app, cid, secret).get("scope", "").split()


def test_grant_refuses_clients_that_are_not_automation_and_unknown_ones(app: Flask) -> None:
    browser_app, _ = helpers.create_client(app)  # an authorization code client
    result = _cli(app, "admin-api", "grant", browser_app)
    assert result.exit_code == 2 and "client_credentials" in result.output and "Traceback" not in result.output
    result = _cli(app, "admin-api", "grant", "no-such-client")
    assert result.exit_code == 2 and "no client" in result.output


def test_the_scope_cannot_be_self_registered(app: Flask) -> None:
    """Dynamic registration (RFC 7591) with an initial access token refuses idp:admin as unknown."""
    iat = _cli(app, "iat", "create").output.strip().split()[-1]
    resp = app.test_client().post("/register", json={**AUTOMATION, "scope": "idp:admin", "client_name": "x",
                                                     "token_endpoint_auth_method": "client_secret_basic"},
                                  headers={"Authorization": f"Bearer {iat}"})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_client_metadata"


# --- refusals ------------------------------------------------------------------------------------------
def test_refusals(app: Flask, api_for: Callable[[], Api]) -> None:
    http = app.test_client()
    # No token: 401 with the challenge naming the scope (RFC 6750 3).
    resp = http.get(API + "/clients")
    assert resp.status_code == 401 and 'scope="idp:admin"' in resp.headers["WWW-Authenticate"]
    # A forged token.
    resp = http.get(API + "/clients", headers={"Authorization": "Bearer forged.token"})
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_token"
    # Another client's token, without the scope (the client was never granted it).
    other, other_secret = automation_client(app, grant=False)
    plain = token(app, other, other_secret, scope="profile")["access_token"]
    resp = http.get(API + "/clients", headers={"Authorization": f"Bearer {plain}"})
    assert resp.status_code == 403 and resp.get_json()["error"] == "insufficient_scope"
    # A granted client's token issued WITHOUT the scope is refused too.
    api = api_for()
    secretless = token(app, *automation_client(app), scope="profile")["access_token"]
    resp = http.get(API + "/clients", headers={"Authorization": f"Bearer {secretless}"})
    assert resp.status_code == 403
    # The operator withdraws the grant: the token issued before stops working (the client as loaded now;
    # in this process at once, in others within IDP_CLIENT_CACHE_SECONDS).
    assert api.call("GET", "/clients").status_code == 200
    assert _cli(app, "admin-api", "revoke", api.cid).exit_code == 0
    assert api.call("GET", "/clients").status_code == 403
    refused = [e for e in events(app, "adminapi.call") if e.outcome == "failure"]
    assert len(refused) >= 4 and {e.detail["status"] for e in refused} >= {401, 403}


def test_a_persons_token_is_refused_even_for_a_granted_client(app: Flask, make_rp: Callable[..., Any]) -> None:
    """The scope is only ever added to the client credentials grant's own tokens, never to a person's."""
    rp = make_rp(grant_types=["authorization_code", "client_credentials"])
    assert _cli(app, "admin-api", "grant", rp.client_id).exit_code == 0
    issued = rp.tokens(scope="openid idp:admin")
    assert "idp:admin" not in issued.get("scope", "").split()
    resp = app.test_client().get(API + "/clients", headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert resp.status_code == 403 and resp.get_json()["error"] == "insufficient_scope"


def test_rate_limit(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app(ADMIN_API_RATE_LIMIT=3)
    cid, secret = automation_client(app)
    api = Api(app, cid, token(app, cid, secret)["access_token"])
    assert [api.call("GET", "/clients").status_code for _ in range(4)] == [200, 200, 200, 429]
    limited = api.call("GET", "/clients")
    assert limited.headers["Retry-After"] == "60" and limited.get_json()["error"] == "rate_limited"
    # Callers without a token are limited per address.
    http = app.test_client()
    assert [http.get(API + "/clients").status_code for _ in range(4)][-1] == 429


# --- clients ---------------------------------------------------------------------------------------------
def test_clients_lifecycle(app: Flask, api_for: Callable[[], Api]) -> None:
    api = api_for()
    made = api.call("POST", "/clients", {"metadata": {"client_name": "Layanan Pajak",
                                                      "redirect_uris": ["https://pajak.example.id/cb"]},
                                         "approved_scopes": "nik"})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    cid, first_secret = body["client_id"], body["client_secret"]
    assert body["approved_scopes"] == ["nik"] and body["metadata"]["client_name"] == "Layanan Pajak"
    # A bad metadata document: RFC 7591's error code, nothing written.
    bad = api.call("POST", "/clients", {"metadata": {"redirect_uris": ["http://evil.example/cb"]}})
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_redirect_uri"
    assert api.call("POST", "/clients", {"metadata": {}, "approved_scopes": "idp:admin"}).status_code == 400
    assert api.call("POST", "/clients", "not an object").status_code == 400

    assert api.call("GET", f"/clients/{cid}").get_json()["client_id"] == cid
    assert cid in {c["client_id"] for c in api.call("GET", "/clients", query_string={"name": "pajak"})
                   .get_json()["clients"]}
    updated = api.call("PUT", f"/clients/{cid}", {"metadata": {"client_name": "Layanan Pajak Daerah",
                                                               "redirect_uris": ["https://pajak.example.id/cb"]}})
    assert updated.status_code == 200 and updated.get_json()["client_name"] == "Layanan Pajak Daerah"

    rotated = api.call("POST", f"/clients/{cid}/secret", {"grace_seconds": 0})
    new_secret = rotated.get_json()["client_secret"]
    assert new_secret != first_secret
    http = app.test_client()
    cc = {"grant_type": "client_credentials"}
    # The client is an authorization code client: the old secret no longer authenticates at all.
    assert http.post("/token", data=cc, headers=helpers.basic(cid, first_secret)).status_code == 401
    assert api.call("POST", f"/clients/{cid}/secret", {"grace_seconds": -1}).status_code == 400

    assert api.call("POST", f"/clients/{cid}/disable").get_json()["disabled"] is True
    assert api.call("POST", f"/clients/{cid}/enable").get_json()["disabled"] is False
    assert api.call("POST", f"/clients/{api.cid}/disable").status_code == 409  # not itself
    assert api.call("DELETE", f"/clients/{cid}").status_code == 204
    assert api.call("GET", f"/clients/{cid}").status_code == 404
    with app.app_context():
        assert db.session.execute(select(Client).where(Client.client_id == cid)).scalar_one_or_none() is None
    # Each change is audited as the console's admin.* events, naming the API client as the actor.
    for name in ("admin.client_created", "admin.client_updated", "admin.client_secret_rotated",
                 "admin.client_disabled", "admin.client_enabled", "admin.client_deleted"):
        found = events(app, name)
        assert found and found[-1].detail["api_client"] == api.cid, name
    assert len(events(app, "adminapi.call")) >= 14


# --- scope approvals -------------------------------------------------------------------------------------
def test_scope_requests(app: Flask, api_for: Callable[[], Api]) -> None:
    api = api_for()
    target, _ = helpers.create_client(app, scope="openid profile nik")
    with app.app_context():
        row = db.session.execute(select(Client).where(Client.client_id == target)).scalar_one()
        first = ScopeRequest(client_id=row.id, scope="nik", purpose="Layanan kependudukan", status="pending")
        second = ScopeRequest(client_id=row.id, scope="staff", purpose="Absensi", status="pending")
        db.session.add_all([first, second])
        db.session.commit()
        first_id, second_id = first.id, second.id
    listed = api.call("GET", "/scope-requests").get_json()["scope_requests"]
    assert {r["id"] for r in listed} == {first_id, second_id}
    assert api.call("GET", "/scope-requests", query_string={"status": "nope"}).status_code == 400
    approved = api.call("POST", f"/scope-requests/{first_id}/approve", {"note": "ok"})
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    assert api.call("GET", f"/clients/{target}").get_json()["approved_scopes"] == ["nik"]
    assert api.call("POST", f"/scope-requests/{first_id}/approve", {}).status_code == 409
    assert api.call("POST", f"/scope-requests/{second_id}/refuse", {}).status_code == 400  # a note is required
    assert api.call("POST", f"/scope-requests/{second_id}/refuse", {"note": "no"}).get_json()["status"] == "refused"
    assert api.call("POST", f"/scope-requests/{first_id}/revoke", {}).get_json()["status"] == "revoked"
    assert api.call("GET", f"/clients/{target}").get_json()["approved_scopes"] == []
    assert api.call("POST", "/scope-requests/999999/approve", {}).status_code == 404
    assert events(app, "admin.scope_approved")[-1].detail["api_client"] == api.cid


# --- people ----------------------------------------------------------------------------------------------
def test_people(app: Flask, api_for: Callable[[], Api]) -> None:
    api = api_for()
    browser = choose_english(app.test_client())
    citizen = register_and_verify(browser)
    assert sign_in(browser, citizen).status_code == 303
    staff(app, SITI)  # a directory account, through a real sign-in against slapd

    by_nik = api.call("POST", "/people/search", {"nik": citizen.nik}).get_json()["people"]
    assert len(by_nik) == 1 and citizen.nik not in str(by_nik)
    pid = by_nik[0]["id"]
    assert api.call("POST", "/people/search", {"nik": citizen.nik[:12]}).get_json()["people"] == []  # no prefix
    by_name = api.call("POST", "/people/search", {"username": SITI[0].upper()}).get_json()["people"]
    assert [p["username"] for p in by_name] == [SITI[0]]
    assert api.call("POST", "/people/search", {"nik": citizen.nik, "username": "x"}).status_code == 400
    assert api.call("POST", "/people/search", {}).status_code == 400
    # The NIK went in the body, never in a URL; the audit says how, not what.
    searched = events(app, "admin.people_searched")
    assert searched[0].detail == {"api_client": api.cid, "by": "nik", "found": 1}

    assert api.call("GET", f"/people/{pid}").get_json()["status"] == "active"
    locked = api.call("POST", f"/people/{pid}/lock", {"reason": "reported stolen phone"})
    assert locked.get_json()["status"] == "locked" and locked.get_json()["sessions_ended"] == 1
    assert sign_in(browser, citizen).status_code != 303  # a locked person cannot sign in
    assert api.call("POST", f"/people/{pid}/unlock").get_json()["status"] == "active"
    assert sign_in(browser, citizen).status_code == 303
    assert api.call("POST", f"/people/{pid}/end-sessions").get_json()["sessions_ended"] >= 1
    assert api.call("GET", "/people/0").status_code == 404
    assert api.call("GET", "/people/99999999999").status_code == 404
    assert api.call("POST", f"/people/{pid}/lock", {"reason": 5}).status_code == 400
    with app.app_context():
        assert db.session.get(Person, pid).status == "active"
    assert events(app, "admin.person_locked")[-1].detail["api_client"] == api.cid


# --- audit log -------------------------------------------------------------------------------------------
def test_audit_export_pages(app: Flask, api_for: Callable[[], Api]) -> None:
    api = api_for()
    for _ in range(55):
        api.call("GET", "/clients")
    first = api.call("GET", "/audit", query_string={"event": "adminapi."}).get_json()
    assert len(first["events"]) == 50 and "before=" in first["next"] and "event=adminapi." in first["next"]
    # Keyset paging: the calls made meanwhile (each audited) do not shift the next page.
    second = api.call("GET", first["next"].split("/admin/api", 1)[1]).get_json()
    ids = [e["id"] for e in first["events"] + second["events"]]
    assert second["events"] and ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert second["next"] is None
    assert api.call("GET", "/audit", query_string={"from": "yesterday"}).status_code == 400
    assert api.call("GET", "/audit", query_string={"page": "0"}).status_code == 400


# --- the document ----------------------------------------------------------------------------------------
def test_openapi_document_is_valid_and_covers_every_route(app: Flask) -> None:
    resp = app.test_client().get(API + "/openapi.json")
    assert resp.status_code == 200
    document = resp.get_json()
    validate(document)  # OpenAPI 3.1 (openapi-spec-validator picks the version from the document)
    assert document["openapi"] == "3.1.0"
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin_api.") and rule.endpoint not in ("admin_api.openapi", "admin_api.unknown"):
            path = rule.rule.removeprefix(API).replace("<int:", "{").replace("<", "{").replace(">", "}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routes == documented


# --- hostile input ---------------------------------------------------------------------------------------
HOSTILE = ["", "x" * 5000, "\x00", "../../etc/passwd", "'; DROP TABLE clients; --", "\u202e", "%00", "{{7*7}}",
           "3603011205900001"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_get_clear_errors_never_500(app: Flask, api_for: Callable[[], Api], value: str) -> None:
    api = api_for()
    for method, path, body in [
        ("GET", f"/clients/{value}", None), ("PUT", f"/clients/{value}", {"metadata": {}}),
        ("POST", "/clients", {"metadata": value}), ("POST", "/clients", {"metadata": {"client_name": value}}),
        ("POST", "/people/search", {"email": value}), ("POST", "/people/search", {"username": value}),
        ("POST", "/people/search", {"nik": value}), ("POST", "/people/search", {"nik": [value]}),
        ("GET", "/clients?name=" + value, None), ("GET", "/audit?event=" + value, None),
        ("GET", "/audit?before=" + value, None), ("GET", "/scope-requests?status=" + value, None),
    ]:
        resp = api.call(method, path, body)
        assert resp.status_code in (200, 201, 400, 404, 405), (method, path, resp.status_code)
        if resp.status_code >= 400 and resp.status_code != 405:
            assert resp.get_json()["error"], (method, path)
    # Not JSON, or JSON that is not an object.
    for data, mimetype in [(b"{", "application/json"), (b"[1]", "application/json"),
                           (b"a=b", "application/x-www-form-urlencoded"), (b"\xff\xfe", "application/json")]:
        resp = api.http.post(API + "/people/search", data=data, content_type=mimetype, headers=api.headers)
        assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"


def test_private_key_jwt_client(app: Flask) -> None:
    """An automation client that authenticates with a signed assertion (RFC 7523 2.2), no secret."""
    cid = pkjwt_client(app, RSA)
    assert _cli(app, "admin-api", "grant", cid).exit_code == 0
    resp = app.test_client().post("/token", data={
        "grant_type": "client_credentials", "scope": "idp:admin",
        "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion(cid)})
    assert resp.status_code == 200, resp.get_json()
    api = Api(app, cid, resp.get_json()["access_token"])
    assert api.call("GET", "/clients").status_code == 200
    # Its own rotation has no secret to rotate: a clear 409.
    assert api.call("POST", f"/clients/{cid}/secret", {}).get_json()["error"] == "no_secret"


def test_admin_api_changes_reach_the_siem_as_security_events(oauth_app: Callable[..., Flask],
                                                             collector: Callable[..., Any]) -> None:  # noqa: F811
    url, received = collector()
    app = oauth_app(SIEM_SINK=url)
    cid, secret = automation_client(app)
    api = Api(app, cid, token(app, cid, secret)["access_token"])
    person_id, _sub = helpers.create_person(app)
    assert api.call("POST", f"/people/{person_id}/lock", {"reason": "incident 42"}).status_code == 200
    assert siem.sink(app).flush(10)
    locked = [e for e in received.lines if e["event"] == "admin.person_locked"]
    assert len(locked) == 1 and locked[0]["security"] is True and locked[0]["pattern"] == "lock"
    assert locked[0]["actor"] == {"type": "client", "id": cid}
    calls = [e for e in received.lines if e["event"] == "adminapi.call"]
    assert calls and all(e["pattern"] == "admin_action" and e["client"] == cid for e in calls)
    assert received.lines[-1]["event"] == "adminapi.call"  # the call's own record after the change
