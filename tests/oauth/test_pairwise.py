"""Pairwise subject identifiers (OpenID Connect Core 8.1) and their registration (Registration 2).

Clients are validated by the real registration code; ``sector_identifier_uri`` documents are served by a
real HTTP server on a loopback port (``IDP_JWKS_URI_ALLOW_LOOPBACK`` is on for these tests, as for the
``jwks_uri`` tests).  ID tokens are verified with joserfc against the published JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.extensions import db
from idp.models import Client
from idp.oauth import clients, registration
from idp.people import pairwise
from tests import services

from . import helpers
from .conftest import RP
from .test_registration import iat, register

A = "https://app-a.example.org/cb"
B = "https://app-b.example.net/cb"


@pytest.fixture
def app(oauth_app: Callable[..., Flask]) -> Flask:
    return oauth_app(JWKS_URI_ALLOW_LOOPBACK=True, JWKS_URI_TIMEOUT=2)


class SectorServer:
    """Serves ``routes`` (path -> (status, body bytes)) on a free loopback port."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.hits += 1
                status, body = outer.routes.get(self.path, (404, b"not found"))
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere.json")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def serve(self, path: str, document: Any, status: int = 200) -> str:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.routes[path] = (status, body)
        return self.base + path


@pytest.fixture
def sector() -> Iterator[SectorServer]:
    server = SectorServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def client_rp(make_rp: Callable[..., RP], app: Flask, redirect_uris: list[str], **metadata: Any) -> RP:
    """A first-party RP whose metadata went through the registration validator (as the CLI does)."""
    with app.app_context():
        clean = registration.validate_metadata({"redirect_uris": redirect_uris,
                                                "grant_types": ["authorization_code", "refresh_token"],
                                                **metadata})
    uris = clean.pop("redirect_uris")
    rp = make_rp(redirect_uris=uris, **clean)
    rp.redirect_uri = uris[0]
    return rp


def verify_id_token(app: Flask, token: str, client_id: str) -> dict[str, Any]:
    jwks = KeySet.import_key_set(app.test_client().get("/jwks.json").get_json())
    claims = dict(jwt.decode(token, jwks, algorithms=["RS256", "ES256"]).claims)
    assert claims["aud"] == client_id
    return claims


def userinfo(rp: RP, access_token: str) -> dict[str, Any]:
    resp = rp.browser.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json())


def introspect(rp: RP, token: str) -> dict[str, Any]:
    resp = rp.browser.post("/introspect", data={"token": token}, headers=helpers.basic(rp.client_id, rp.secret or ""))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json())


def subs(rp: RP) -> dict[str, str]:
    """The person's sub as this client sees it through every channel (and the refresh ID token)."""
    tokens = rp.tokens(scope="openid profile email offline_access")
    refreshed = rp.client_post("/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    return {
        "id_token": verify_id_token(rp.app, tokens["id_token"], rp.client_id)["sub"],
        "userinfo": userinfo(rp, tokens["access_token"])["sub"],
        "introspection": introspect(rp, tokens["access_token"])["sub"],
        "introspection_refresh": introspect(rp, refreshed.get_json()["refresh_token"])["sub"],
        "refresh_id_token": verify_id_token(rp.app, refreshed.get_json()["id_token"], rp.client_id)["sub"],
        "refresh_userinfo": userinfo(rp, refreshed.get_json()["access_token"])["sub"],
    }


def one_sub(rp: RP) -> str:
    seen = subs(rp)
    assert len(set(seen.values())) == 1, seen  # ID token, userinfo, introspection and refresh agree
    return next(iter(seen.values()))


# --------------------------------------------------------------------------- the derivation
def test_subject_is_hmac_of_sector_and_sub(app: Flask) -> None:
    """Core 8.1: base64url(HMAC-SHA256(key, sector | sub)) without padding; public clients unchanged."""
    key = app.extensions["idp"].config["PAIRWISE_SECRET_BYTES"]
    expected = base64.urlsafe_b64encode(hmac.new(key, b"app-a.example.org|person-1", hashlib.sha256).digest())
    with app.app_context():
        client = {"subject_type": "pairwise", "redirect_uris": ["https://App-A.example.org:8443/cb"]}
        assert pairwise.sector_of(client) == "app-a.example.org"
        assert pairwise.subject_for(client, "person-1") == expected.rstrip(b"=").decode()
        assert pairwise.subject_for({"subject_type": "public", "redirect_uris": [A]}, "person-1") == "person-1"
        assert pairwise.subject_for({"redirect_uris": [A]}, "person-1") == "person-1"
        by_doc = {"subject_type": "pairwise", "redirect_uris": [A, B],
                  "sector_identifier_uri": "https://sector.example.com/s.json"}
        assert pairwise.sector_of(by_doc) == "sector.example.com"


def test_pairwise_secret_setting_changes_subjects(oauth_app: Callable[..., Flask]) -> None:
    one = oauth_app(PAIRWISE_SECRET=base64.b64encode(b"1" * 32).decode())
    two = oauth_app(PAIRWISE_SECRET=base64.b64encode(b"2" * 32).decode())
    client = {"subject_type": "pairwise", "redirect_uris": [A]}
    with one.app_context():
        first = pairwise.subject_for(client, "person-1")
    with two.app_context():
        assert pairwise.subject_for(client, "person-1") != first


# --------------------------------------------------------------------------- through the protocol
def test_pairwise_clients_in_different_sectors(app: Flask, make_rp: Callable[..., RP]) -> None:
    a = client_rp(make_rp, app, [A], subject_type="pairwise")
    b = client_rp(make_rp, app, [B], subject_type="pairwise")
    a2 = client_rp(make_rp, app, ["https://app-a.example.org/other-cb"], subject_type="pairwise")
    public = client_rp(make_rp, app, [A])
    sub_a, sub_b, sub_a2, sub_public = one_sub(a), one_sub(b), one_sub(a2), one_sub(public)
    person_sub = a.sub
    assert sub_public == person_sub  # public clients are unchanged
    assert sub_a != sub_b and person_sub not in (sub_a, sub_b)
    assert sub_a == sub_a2  # same host, same sector
    with app.app_context():
        assert sub_a == pairwise.subject_for({"subject_type": "pairwise", "redirect_uris": [A]}, person_sub)
    # Opaque: nothing personal goes in, nothing recognisable comes out.
    assert helpers.NIK not in sub_a and len(sub_a) == 43 and "=" not in sub_a


def test_pairwise_sub_stable_over_two_sign_ins(app: Flask, make_rp: Callable[..., RP]) -> None:
    a = client_rp(make_rp, app, [A], subject_type="pairwise")
    first = one_sub(a)
    a.browser = app.test_client()  # a new browser: a new login session
    a.sign_in()
    assert one_sub(a) == first


def test_shared_sector_identifier_uri(app: Flask, make_rp: Callable[..., RP], sector: SectorServer) -> None:
    uri = sector.serve("/sector.json", [A, B, "https://third.example.org/cb"])
    one = client_rp(make_rp, app, [A, B], subject_type="pairwise", sector_identifier_uri=uri)
    two = client_rp(make_rp, app, ["https://third.example.org/cb"], subject_type="pairwise",
                    sector_identifier_uri=uri)
    only_b = client_rp(make_rp, app, [B], subject_type="pairwise")
    hits = sector.hits
    sub_one, sub_two = one_sub(one), one_sub(two)
    assert sub_one == sub_two != one.sub
    assert one_sub(only_b) != sub_one  # the sector is the document's host, not a redirect URI's
    assert sector.hits == hits  # the document is fetched at registration only, never when issuing


def test_client_credentials_tokens_keep_the_client_id(app: Flask) -> None:
    with app.app_context():
        clean = registration.validate_metadata({"grant_types": ["client_credentials"], "response_types": [],
                                                "subject_type": "pairwise", "redirect_uris": [A]})
    cid, secret = helpers.create_client(app, redirect_uris=clean.pop("redirect_uris"), **clean)
    http = app.test_client()
    token = http.post("/token", data={"grant_type": "client_credentials"},
                      headers=helpers.basic(cid, secret or "")).get_json()["access_token"]
    body = http.post("/introspect", data={"token": token}, headers=helpers.basic(cid, secret or "")).get_json()
    assert body["active"] is True and body["sub"] == cid, body


def test_old_access_token_without_client_sub_is_mapped(app: Flask, make_rp: Callable[..., RP]) -> None:
    """An access token stored before pairwise subjects existed is mapped by looking the client up."""
    a = client_rp(make_rp, app, [A], subject_type="pairwise")
    tokens = a.tokens(scope="openid")
    store = app.extensions["idp"].store
    with app.app_context():
        data = store.get("at", tokens["access_token"])
        data.pop("client_sub")
        store.put("at", tokens["access_token"], data, 300)
    expected = verify_id_token(app, tokens["id_token"], a.client_id)["sub"]
    assert userinfo(a, tokens["access_token"])["sub"] == expected
    assert introspect(a, tokens["access_token"])["sub"] == expected


# --------------------------------------------------------------------------- registration
GOOD = {"client_name": "Pairwise", "redirect_uris": [A], "subject_type": "pairwise",
        "grant_types": ["authorization_code"], "response_types": ["code"]}


def test_register_pairwise(app: Flask) -> None:
    resp = register(app.test_client(), iat(app), GOOD)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["subject_type"] == "pairwise"
    public = register(app.test_client(), iat(app), {k: v for k, v in GOOD.items() if k != "subject_type"}).get_json()
    assert public["subject_type"] == "public"


def test_register_with_sector_document(app: Flask, sector: SectorServer) -> None:
    uri = sector.serve("/s.json", [A, B])
    resp = register(app.test_client(), iat(app), dict(GOOD, redirect_uris=[A, B], sector_identifier_uri=uri))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["sector_identifier_uri"] == uri
    with app.app_context():
        row = db.session.execute(select(Client).where(Client.client_id == resp.get_json()["client_id"])).scalar_one()
        assert pairwise.sector_of(row) == "127.0.0.1"


def _sector_cases() -> list[Any]:
    free = services.free_port()
    return [
        pytest.param({"redirect_uris": [A, B]}, None, "sector_identifier_uri", id="several hosts, no document"),
        pytest.param({"redirect_uris": [A, B]}, ("/s.json", 200, [A]), "sector_identifier_uri",
                     id="document misses a redirect uri"),
        pytest.param({}, ("/s.json", 200, b"<html>not json</html>"), "sector_identifier_uri", id="not json"),
        pytest.param({}, ("/s.json", 200, {"redirect_uris": [A]}), "sector_identifier_uri", id="object"),
        pytest.param({}, ("/s.json", 200, "https://app-a.example.org/cb"), "sector_identifier_uri", id="string"),
        pytest.param({}, ("/s.json", 200, [A, 42]), "sector_identifier_uri", id="array with a number"),
        pytest.param({}, ("/s.json", 200, b"[" * 50000 + b"]" * 50000), "sector_identifier_uri", id="deep nesting"),
        pytest.param({}, ("/s.json", 200, json.dumps([A] + ["https://x.example/" + "a" * 100] * 1000).encode()),
                     "sector_identifier_uri", id="huge body"),
        pytest.param({}, ("/s.json", 404, [A]), "sector_identifier_uri", id="not found"),
        pytest.param({}, ("/s.json", 500, [A]), "sector_identifier_uri", id="server error"),
        pytest.param({}, ("/s.json", 302, [A]), "sector_identifier_uri", id="redirect"),
        pytest.param({"sector_identifier_uri": f"http://127.0.0.1:{free}/s.json"}, None, "sector_identifier_uri",
                     id="unreachable"),
        pytest.param({"sector_identifier_uri": "http://sector.example.org/s.json"}, None, "sector_identifier_uri",
                     id="http outside loopback"),
        pytest.param({"sector_identifier_uri": "https://sector.example.org/s.json#frag"}, None,
                     "sector_identifier_uri", id="fragment"),
        pytest.param({"sector_identifier_uri": "javascript:alert(1)"}, None, "sector_identifier_uri", id="javascript"),
        pytest.param({"sector_identifier_uri": ["https://sector.example.org/s.json"]}, None, "sector_identifier_uri",
                     id="array uri"),
        pytest.param({"sector_identifier_uri": "https://sector.invalid/s.json"}, None, "sector_identifier_uri",
                     id="host does not resolve"),
        pytest.param({"subject_type": "Pairwise"}, None, "subject_type", id="subject type case"),
        pytest.param({"subject_type": "private"}, None, "subject_type", id="unknown subject type"),
        pytest.param({"subject_type": ["pairwise"]}, None, "subject_type", id="subject type array"),
        pytest.param({"subject_type": True}, None, "subject_type", id="subject type bool"),
        pytest.param({"grant_types": ["client_credentials"], "response_types": [], "redirect_uris": ...}, None,
                     "subject_type", id="pairwise without any host"),
    ]


@pytest.mark.parametrize("changes,document,field", _sector_cases())
def test_bad_subject_metadata(app: Flask, sector: SectorServer, changes: dict[str, Any],
                              document: tuple[str, int, Any] | None, field: str) -> None:
    meta = dict(GOOD)
    if document is not None:
        path, status, body = document
        sector.serve(path, body, status)
        meta["sector_identifier_uri"] = sector.base + path
    for key, value in changes.items():
        if value is ...:
            meta.pop(key)
        else:
            meta[key] = value
    resp = register(app.test_client(), iat(app), meta)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["error"] == "invalid_client_metadata"
    assert f"'{field}'" in resp.get_json()["error_description"]
    with app.app_context():
        assert db.session.execute(select(Client)).first() is None


def test_loopback_sector_refused_without_the_switch(oauth_app: Callable[..., Flask], sector: SectorServer) -> None:
    app = oauth_app()
    uri = sector.serve("/s.json", [A])
    resp = register(app.test_client(), iat(app), dict(GOOD, sector_identifier_uri=uri))
    assert resp.status_code == 400 and "'sector_identifier_uri'" in resp.get_json()["error_description"]
    assert sector.hits == 0


def test_update_validates_the_sector_again(app: Flask, sector: SectorServer) -> None:
    """RFC 7592 2.2: the replacement metadata is checked like a registration, document included."""
    uri = sector.serve("/s.json", [A, B])
    http = app.test_client()
    body = register(http, iat(app), dict(GOOD, redirect_uris=[A, B], sector_identifier_uri=uri)).get_json()
    rat = {"Authorization": f"Bearer {body['registration_access_token']}"}
    path = f"/register/{body['client_id']}"
    update = dict(GOOD, client_id=body["client_id"], redirect_uris=[A, B, "https://c.example.org/cb"],
                  sector_identifier_uri=uri)
    resp = http.put(path, json=update, headers=rat)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_client_metadata"
    sector.serve("/s.json", [A, B, "https://c.example.org/cb"])
    resp = http.put(path, json=update, headers=rat)
    assert resp.status_code == 200, resp.get_json()
    sector.serve("/s.json", b"gone", 404)
    resp = http.put(path, json=dict(update, client_id=body["client_id"]),
                    headers={"Authorization": f"Bearer {resp.get_json()['registration_access_token']}"})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_client_metadata"


def test_discovery_lists_subject_types(client: Any) -> None:
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["subject_types_supported"] == ["public", "pairwise"]


def test_subject_type_and_sector_cannot_change_on_update(app: Flask) -> None:
    """``current`` (RFC 7592 2.2 replacement): a new subject type or pairwise sector is refused."""
    with app.app_context():
        stored = registration.validate_metadata(GOOD)
        # Same sector (another path on the same host): fine.
        registration.validate_metadata(dict(GOOD, redirect_uris=[A + "2"]), current=stored)
        for change in ({"subject_type": "public"}, {"redirect_uris": [B]}):
            with pytest.raises(registration.MetadataError) as exc:
                registration.validate_metadata(dict(GOOD, **change), current=stored)
            assert exc.value.error == "invalid_client_metadata" and "'subject_type'" in exc.value.description
        public = registration.validate_metadata(dict(GOOD, subject_type="public"))
        registration.validate_metadata(dict(GOOD, subject_type="public", redirect_uris=[B]), current=public)
        with pytest.raises(registration.MetadataError):
            registration.validate_metadata(GOOD, current=public)


# --------------------------------------------------------------------------- the CLI
def test_cli_creates_pairwise_client(app: Flask, sector: SectorServer) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["clients", "create", "--json", "--name", "Dinas", "--redirect-uri", A,
                                 "--subject-type", "pairwise"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["subject_type"] == "pairwise"
    uri = sector.serve("/s.json", [A, B])
    result = runner.invoke(args=["clients", "create", "--json", "--name", "Dinas", "--redirect-uri", A,
                                 "--redirect-uri", B, "--subject-type", "pairwise", "--sector-identifier-uri", uri])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sector_identifier_uri"] == uri
    result = runner.invoke(args=["clients", "create", "--name", "Dinas", "--redirect-uri", A,
                                 "--redirect-uri", B, "--subject-type", "pairwise"])
    assert result.exit_code == 2 and "sector_identifier_uri" in result.output
    result = runner.invoke(args=["clients", "create", "--name", "Dinas", "--redirect-uri", A,
                                 "--subject-type", "secret"])
    assert result.exit_code == 2


# --------------------------------------------------------------------------- id_token_hint
def test_hint_matches_maps_the_session_sub(app: Flask, make_rp: Callable[..., RP]) -> None:
    """A pairwise ID token used as ``id_token_hint`` names the signed-in person (the views compare so)."""
    a = client_rp(make_rp, app, [A], subject_type="pairwise")
    public = client_rp(make_rp, app, [B])
    a_claims = verify_id_token(app, a.tokens(scope="openid")["id_token"], a.client_id)
    p_claims = verify_id_token(app, public.tokens(scope="openid")["id_token"], public.client_id)
    with app.test_request_context():
        assert clients.hint_matches(a_claims, a.sub)
        assert clients.hint_matches(p_claims, a.sub)
        assert not clients.hint_matches(a_claims, "someone-else")
        assert not clients.hint_matches(dict(a_claims, aud=public.client_id, azp=None), a.sub)
        assert not clients.hint_matches(dict(a_claims, azp="unknown-client"), a.sub)


# --------------------------------------------------------------------------- an unmodified RP
def test_authlib_client_receives_the_pairwise_sub(live_server: Any) -> None:
    """Authlib's requests client runs the code flow and validates the ID token; it gets the pairwise sub."""
    import requests
    from authlib.common.security import generate_token
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oidc.core import CodeIDToken
    from joserfc.jws import JWSRegistry

    from idp.oauth import keys

    from .conftest import TEST_DATA_KEY

    server = live_server(DATA_KEYS=[TEST_DATA_KEY])
    app = server.app
    callback = "http://127.0.0.1:9/callback"
    with app.app_context():
        keys.ensure()
        clean = registration.validate_metadata({"redirect_uris": [callback], "subject_type": "pairwise"})
    client_id, secret = helpers.create_client(app, redirect_uris=clean.pop("redirect_uris"), first_party=True,
                                              **clean)
    person_id, sub = helpers.create_person(app)
    browser = requests.Session()
    helpers.sign_in(app, browser, person_id, sub)

    meta = requests.get(server.url + "/.well-known/openid-configuration", timeout=5).json()
    assert "pairwise" in meta["subject_types_supported"]
    rp = OAuth2Session(client_id, secret, scope="openid profile email", redirect_uri=callback,
                       code_challenge_method="S256")
    verifier, nonce = generate_token(48), generate_token(20)
    uri, _ = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    resp = browser.get(uri, allow_redirects=False, timeout=5)
    assert resp.status_code == 302, resp.text
    token = rp.fetch_token(meta["token_endpoint"], authorization_response=resp.headers["Location"],
                           code_verifier=verifier)
    jwks = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=5).json())
    decoded = jwt.decode(token["id_token"], jwks,
                         registry=JWSRegistry(algorithms=meta["id_token_signing_alg_values_supported"]))
    claims = CodeIDToken(decoded.claims, decoded.header, {"iss": {"values": [meta["issuer"]]}},
                         {"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]})
    claims.validate(leeway=5)
    with app.app_context():
        # A loopback-only client is a sector of its own (issue 13): the client's id is part of the sector.
        expected = pairwise.subject_for(SimpleNamespace(client_id=client_id, client_metadata={
            "subject_type": "pairwise", "redirect_uris": [callback]}), sub)
    assert claims["sub"] == expected != sub
    info = rp.get(meta["userinfo_endpoint"], timeout=5).json()
    assert info["sub"] == expected and info["email"]


def test_pairwise_id_token_hint_with_prompt_none(app: Flask, make_rp: Callable[..., RP]) -> None:
    """Core 3.1.2.1: a pairwise hint naming the signed-in person is honoured; another person's is not."""
    a = client_rp(make_rp, app, [A], subject_type="pairwise")
    hint = a.tokens(scope="openid")["id_token"]
    assert "code" in helpers.query(a.authorize(id_token_hint=hint, prompt="none").headers["Location"])
    other_id, other_sub = helpers.create_person(app, email="other@example.org", nik="3603014501900002")
    helpers.sign_in(app, a.browser, other_id, other_sub)
    location = a.authorize(id_token_hint=hint, prompt="none").headers["Location"]
    assert helpers.query(location)["error"] == "login_required"


def test_end_session_with_pairwise_hint(app: Flask, make_rp: Callable[..., RP]) -> None:
    """RP-Initiated Logout 2: a pairwise hint for the signed-in person ends the session without asking."""
    a = client_rp(make_rp, app, [A], subject_type="pairwise", post_logout_redirect_uris=[A + "/bye"])
    hint = a.tokens(scope="openid")["id_token"]
    resp = a.browser.get("/end_session", query_string={"id_token_hint": hint, "post_logout_redirect_uri": A + "/bye",
                                                       "state": "s1"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    assert resp.headers["Location"] == A + "/bye?state=s1"
    # Someone else's pairwise hint: the person is asked before their session ends.
    b = client_rp(make_rp, app, [B], subject_type="pairwise")
    other_hint = b.tokens(scope="openid")["id_token"]
    other_id, other_sub = helpers.create_person(app, email="other@example.org", nik="3603014501900002")
    helpers.sign_in(app, b.browser, other_id, other_sub)
    page = b.browser.get("/end_session", query_string={"id_token_hint": other_hint})
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)


def test_logout_token_carries_the_pairwise_sub(app: Flask) -> None:
    """Back-Channel Logout 2.4: the logout token's sub is the one the client knows (Core 8.1)."""
    from idp.oauth import backchannel
    from idp.oauth.clients import query_client

    with app.app_context():
        clean = registration.validate_metadata({"redirect_uris": [A], "subject_type": "pairwise",
                                                "backchannel_logout_uri": "https://app-a.example.org/bc"})
    cid, _ = helpers.create_client(app, redirect_uris=clean.pop("redirect_uris"), **clean)
    with app.test_request_context():
        client = query_client(cid)
        assert client is not None
        token = backchannel.logout_token(client, "sid-1", "person-1")
        expected = pairwise.subject_for(client, "person-1")
    claims = verify_id_token(app, token, cid)
    assert claims["sub"] == expected != "person-1" and claims["sid"] == "sid-1"
