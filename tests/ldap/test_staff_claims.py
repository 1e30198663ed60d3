"""The ``staff`` scope through the whole code flow: a staff member signs in on the HTTP page (real slapd),
consents, and the ID token and UserInfo carry the directory claims only for an operator-approved client.

The ID token is verified with the published JWKS by joserfc (an independent library); the code is
redeemed with PKCE S256 and HTTP Basic client authentication, like a real relying party.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp import assurance
from idp.extensions import db
from idp.models import Client
from idp.sources.ldap import ldap3
from tests.citizen.helpers import register_and_verify
from tests.oauth import helpers

from .conftest import ADMINS_GROUP, BUDI, SITI, STAFF_GROUP, unique
from .slapd import add_user, admin_do
from .test_login import english, error_text, post_login

DATA_KEY = "staff1:" + base64.urlsafe_b64encode(b"s" * 32).decode()
STAFF_ONLY = ("nip", "unit", "title", "groups", "roles")
ROLES = f"{ADMINS_GROUP}=admin;{STAFF_GROUP}=staff"
BUDI_CLAIMS = {
    "name": "Budi Santoso", "email": "budi.santoso@bantenprov.go.id", "nip": "198503152010011002",
    "unit": "Dinas Komunikasi, Informatika, Statistik dan Persandian", "title": "Pranata Komputer Ahli Muda",
    "roles": ["admin", "staff"],
}


@pytest.fixture
def staff_app(ldap_app) -> Flask:
    """The provider with the directory, a group-to-role table and signing keys."""
    from idp.oauth import keys

    app = ldap_app(DATA_KEYS=[DATA_KEY], LDAP_GROUP_ROLES=ROLES)
    with app.app_context():
        keys.ensure()
    return app


def make_client(app: Flask, *, approved: str = "staff", scope: str = "openid profile email staff",
                first_party: bool = False) -> tuple[str, str]:
    client_id, secret = helpers.create_client(app, approved_scopes=approved, scope=scope, first_party=first_party)
    assert secret is not None
    return client_id, secret


@dataclass
class Result:
    """What a relying party ends up with after one code flow."""

    consent_html: str
    id_token: dict[str, Any]
    userinfo: dict[str, Any]
    access_token: str
    browser: FlaskClient


def code_flow(app: Flask, client: tuple[str, str], identifier: str, password: str, *, kind: str | None = "ldap",
              scope: str = "openid profile email staff", browser: FlaskClient | None = None) -> Result:
    """Authorize -> sign-in page (with req) -> consent (allow) -> token -> UserInfo, as a browser and an RP."""
    client_id, secret = client
    browser = browser or english(app)
    verifier, challenge = helpers.pkce_pair()
    nonce = secrets.token_urlsafe(12)
    start = browser.get("/authorize", query_string={
        "response_type": "code", "client_id": client_id, "redirect_uri": helpers.REDIRECT, "scope": scope,
        "state": "st-staff", "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"})
    consent_html = ""
    if start.status_code == 302 and "/login" in start.headers["Location"]:
        req = helpers.query(start.headers["Location"])["req"]
        signed_in = post_login(browser, identifier, password, kind=kind, req=req)
        assert signed_in.status_code == 303, error_text(signed_in)
        assert signed_in.headers["Location"].endswith(f"/authorize/resume?req={req}")
        start = browser.get(signed_in.headers["Location"])
    if start.status_code == 200:  # the consent page
        consent_html = start.get_data(as_text=True)
        form = {name: re.search(rf'name="{name}" value="([^"]+)"', consent_html).group(1)  # type: ignore[union-attr]
                for name in ("req", "csrf_token")}
        start = browser.post("/authorize/consent", data={**form, "decision": "allow"})
    assert start.status_code == 302, start.get_data(as_text=True)[:2000]
    answer = helpers.query(start.headers["Location"])
    assert answer.get("state") == "st-staff" and "code" in answer, answer
    token = browser.post("/token", headers=helpers.basic(client_id, secret), data={
        "grant_type": "authorization_code", "code": answer["code"], "redirect_uri": helpers.REDIRECT,
        "code_verifier": verifier})
    assert token.status_code == 200, token.get_data(as_text=True)
    body = token.get_json()
    jwks = KeySet.import_key_set(browser.get("/jwks.json").get_json())
    decoded = jwt.decode(body["id_token"], jwks, algorithms=["RS256", "ES256", "PS256"])
    claims = dict(decoded.claims)
    jwt.JWTClaimsRegistry(aud={"essential": True, "value": client_id},
                          nonce={"essential": True, "value": nonce}).validate(claims)
    info = browser.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200, info.get_data(as_text=True)
    return Result(consent_html=consent_html, id_token=claims, userinfo=dict(info.get_json()),
                  access_token=body["access_token"], browser=browser)


def userinfo(result: Result) -> dict[str, Any]:
    resp = result.browser.get("/userinfo", headers={"Authorization": f"Bearer {result.access_token}"})
    assert resp.status_code == 200
    return dict(resp.get_json())


def assert_no_staff_claims(claims: dict[str, Any]) -> None:
    assert not set(claims) & set(STAFF_ONLY), claims
    assert "nik" not in claims


# --- an approved client --------------------------------------------------------------------------
@pytest.mark.parametrize("first_party", [False, True])
def test_approved_client_gets_the_staff_claims(staff_app, first_party):
    """ID token AND UserInfo; acr staff, amr pwd; the consent page names the staff details (even for a
    first-party client: a sensitive scope always needs the person's consent)."""
    result = code_flow(staff_app, make_client(staff_app, first_party=first_party), *BUDI)
    assert "civil-servant details" in result.consent_html
    for claims in (result.id_token, result.userinfo):
        for name, value in BUDI_CLAIMS.items():
            assert claims[name] == value, (name, claims)
        assert ADMINS_GROUP in claims["groups"] and STAFF_GROUP in claims["groups"]
        assert "nik" not in claims and "3603011503850002" not in str(claims)
    assert result.id_token["acr"] == assurance.STAFF == "urn:bantenprov:sso:acr:staff"
    assert result.id_token["amr"] == ["pwd"]
    assert result.userinfo["sub"] == result.id_token["sub"]


@pytest.mark.parametrize("scope", ["openid staff", "openid email staff", "openid profile email staff"])
def test_staff_scope_alone_releases_name_and_email(staff_app, scope):
    result = code_flow(staff_app, make_client(staff_app), *BUDI, scope=scope)
    for claims in (result.id_token, result.userinfo):
        assert claims["name"] == "Budi Santoso" and claims["email"] == "budi.santoso@bantenprov.go.id"
        assert claims["nip"] == BUDI_CLAIMS["nip"] and claims["roles"] == ["admin", "staff"]


def test_group_to_role_mapping_in_the_claims(staff_app, slapd_main):
    """siti is in ``pegawai`` only; a new person gets ``admin`` once added to ``idp-admins``."""
    client = make_client(staff_app)
    siti = code_flow(staff_app, client, *SITI)
    assert siti.id_token["roles"] == ["staff"] and siti.userinfo["roles"] == ["staff"]
    assert siti.id_token["nip"] == "199002202015032001"
    uid = unique("peran")
    dn = add_user(slapd_main, uid, "Peran-Pass-2026", title="Analis Kebijakan")
    first = code_flow(staff_app, client, uid, "Peran-Pass-2026")
    assert "roles" not in first.id_token or first.id_token["roles"] == []
    assert first.id_token["title"] == "Analis Kebijakan" and "nip" not in first.id_token
    admin_do(slapd_main, "modify", ADMINS_GROUP, {"member": [(ldap3.MODIFY_ADD, [dn])]})
    try:
        again = code_flow(staff_app, client, uid, "Peran-Pass-2026")  # a new sign-in refreshes the record
    finally:
        admin_do(slapd_main, "modify", ADMINS_GROUP, {"member": [(ldap3.MODIFY_DELETE, [dn])]})
    assert again.id_token["sub"] == first.id_token["sub"]
    assert again.id_token["roles"] == ["admin"] and again.userinfo["roles"] == ["admin"]
    assert again.id_token["groups"] == [ADMINS_GROUP]


# --- clients that are not approved ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("approved", "scope"),
    [
        ("", "openid profile email staff"),  # may ask, not approved by an operator
        ("nik", "openid profile email nik staff"),  # approved for something else
        ("", "openid profile email"),  # may not even ask
    ],
)
def test_unapproved_client_never_gets_staff_claims(staff_app, approved, scope):
    """The scope is dropped silently: the flow works, the profile claims come, the staff claims do not."""
    result = code_flow(staff_app, make_client(staff_app, approved=approved, scope=scope), *BUDI,
                       scope="openid profile email staff")
    assert "civil-servant details" not in result.consent_html
    for claims in (result.id_token, result.userinfo):
        assert_no_staff_claims(claims)
        assert claims["name"] == "Budi Santoso"
    assert result.id_token["acr"] == assurance.STAFF


def test_withdrawn_approval_stops_the_release_at_once(staff_app):
    """Approval is checked at every read: the same access token stops getting the staff claims."""
    client = make_client(staff_app)
    result = code_flow(staff_app, client, *BUDI)
    assert result.userinfo["nip"] == BUDI_CLAIMS["nip"]
    with staff_app.app_context():
        # As the console does (ORM): this process forgets its cached copy of the client at once.
        db.session.execute(select(Client).where(Client.client_id == client[0])).scalar_one().approved_scopes = ""
        db.session.commit()
    after = userinfo(result)
    assert_no_staff_claims(after)
    assert after["sub"] == result.userinfo["sub"]


def test_staff_claims_need_the_scope(staff_app):
    """Approved, but this request did not ask for ``staff``: nothing from the directory beyond the profile."""
    result = code_flow(staff_app, make_client(staff_app), *BUDI, scope="openid profile email")
    for claims in (result.id_token, result.userinfo):
        assert_no_staff_claims(claims)


# --- citizens ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [None, "citizen"])
def test_citizen_gets_no_staff_claims(staff_app, kind):
    """A citizen (no staff account) through an approved client: no staff claims, citizen acr."""
    citizen = register_and_verify(english(staff_app))
    result = code_flow(staff_app, make_client(staff_app), citizen.nik, citizen.password, kind=kind)
    for claims in (result.id_token, result.userinfo):
        assert_no_staff_claims(claims)
        assert claims["email"] == citizen.email
    assert result.id_token["acr"] == assurance.CITIZEN and result.id_token["amr"] == ["pwd"]



# --- the operator's way of approving a client ----------------------------------------------------
def test_client_approved_through_the_cli(staff_app):
    """``idp clients create ... --scope "openid profile email staff" --approve-scope staff`` (README)."""
    import json

    result = staff_app.test_cli_runner().invoke(args=[
        "clients", "create", "--json", "--name", "Aplikasi Kepegawaian", "--redirect-uri", helpers.REDIRECT,
        "--scope", "openid profile email staff", "--approve-scope", "staff"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["approved_scopes"] == "staff" and "staff" in info["scope"].split()
    flow = code_flow(staff_app, (info["client_id"], info["client_secret"]), *BUDI)
    assert flow.id_token["nip"] == BUDI_CLAIMS["nip"] and flow.userinfo["unit"] == BUDI_CLAIMS["unit"]


def test_discovery_lists_the_staff_scope_and_claims(staff_app):
    config = english(staff_app).get("/.well-known/openid-configuration").get_json()
    assert "staff" in config["scopes_supported"]
    assert set(STAFF_ONLY) <= set(config["claims_supported"])
    assert "urn:bantenprov:sso:acr:staff" in config["acr_values_supported"]
