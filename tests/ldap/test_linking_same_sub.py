"""After linking, an unmodified relying party sees ONE ``sub`` whichever credential signs in, in both link directions.

The provider is a live server with a private slapd, PostgreSQL and Redis; the relying party is Authlib's
``OAuth2Session`` (code flow with PKCE and a nonce, ID token checked as Authlib's OpenID client does);
the browser is a ``requests`` session going through the real sign-in page.  The accounts are made and
linked through the pages as in tests/ldap/test_linking.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from idp.oauth import keys
from idp.sources.ldap import get_connector
from tests.citizen.helpers import Citizen, csrf, query, register_and_verify
from tests.oauth import helpers
from tests.oauth.conftest import TEST_DATA_KEY

from .conftest import BUDI, ldap_settings
from .test_linking import link_post
from .test_login import english, post_login

CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture
def provider(live_server: Callable[..., Any], slapd_main: Any) -> Iterator[tuple[Any, dict[str, Any], str, str]]:
    """The live provider with the directory, its discovery document, and a first-party client."""
    server = live_server(DATA_KEYS=[TEST_DATA_KEY], **ldap_settings([slapd_main.url]))
    with server.app.app_context():
        keys.ensure()
    client_id, secret = helpers.create_client(server.app, redirect_uris=[CALLBACK], first_party=True)
    meta = requests.get(server.url + "/.well-known/openid-configuration", timeout=5).json()
    yield server, meta, client_id, str(secret)
    connector = get_connector(server.app)
    if connector is not None:
        connector.close()


def rp_sign_in(provider: tuple[Any, dict[str, Any], str, str], kind: str, identifier: str,
               password: str) -> tuple[str, str]:
    """A fresh browser signs in at the RP with one credential; the ``sub`` of the ID token and of userinfo."""
    server, meta, client_id, secret = provider
    browser = requests.Session()
    rp = OAuth2Session(client_id, secret, scope="openid profile email", redirect_uri=CALLBACK,
                       code_challenge_method="S256")
    verifier, nonce = generate_token(48), generate_token(20)
    uri, _ = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    resp = browser.get(uri, allow_redirects=False, timeout=10)
    assert resp.status_code in (302, 303), resp.text
    login_url = urljoin(server.url, resp.headers["Location"])
    req = query(login_url)["req"]
    page = browser.get(login_url, timeout=10)
    assert page.status_code == 200
    resp = browser.post(server.url + "/login", allow_redirects=False, timeout=10, data={
        "csrf_token": csrf(page.text), "kind": kind, "identifier": identifier, "password": password, "req": req})
    assert resp.status_code == 303, resp.text[:2000]
    location = resp.headers["Location"]
    assert "/account/link" not in location  # linked: nothing left to offer
    for _ in range(5):  # /authorize/resume -> the callback
        if location.startswith(CALLBACK):
            break
        resp = browser.get(urljoin(server.url, location), allow_redirects=False, timeout=10)
        assert resp.status_code in (302, 303), resp.text[:2000]
        location = resp.headers["Location"]
    assert location.startswith(CALLBACK)
    token = rp.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    jwks = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=5).json())
    decoded = jwt.decode(token["id_token"], jwks,
                         registry=JWSRegistry(algorithms=meta["id_token_signing_alg_values_supported"]))
    claims = CodeIDToken(decoded.claims, decoded.header, {"iss": {"values": [meta["issuer"]]}},
                         {"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]})
    claims.validate(leeway=5)
    info = rp.get(meta["userinfo_endpoint"], timeout=5).json()
    return str(claims["sub"]), str(info["sub"])


def one_sub(provider: tuple[Any, dict[str, Any], str, str], citizen: Citizen) -> str:
    """Sign in at the RP with the staff and then the citizen credential; both must give one ``sub``."""
    staff_token_sub, staff_info_sub = rp_sign_in(provider, "ldap", *BUDI)
    citizen_token_sub, citizen_info_sub = rp_sign_in(provider, "citizen", citizen.nik, citizen.password)
    assert staff_token_sub == staff_info_sub == citizen_token_sub == citizen_info_sub
    return staff_token_sub


def test_staff_links_the_citizen_account(provider: tuple[Any, dict[str, Any], str, str]) -> None:
    server = provider[0]
    citizen = register_and_verify(english(server.app, "10.3.0.1"))
    before, _ = rp_sign_in(provider, "citizen", citizen.nik, citizen.password)  # the RP stores this sub
    browser = english(server.app)
    assert post_login(browser, *BUDI).status_code == 303
    assert link_post(browser, "citizen", citizen.nik, citizen.password).status_code == 303
    # The citizen identity is the older one: its sub survives, so the RP's stored sub is unchanged.
    assert one_sub(provider, citizen) == before


def test_citizen_links_the_staff_account(provider: tuple[Any, dict[str, Any], str, str]) -> None:
    server = provider[0]
    before, _ = rp_sign_in(provider, "ldap", *BUDI)  # the staff identity exists first
    citizen = register_and_verify(english(server.app, "10.3.0.2"))
    browser = english(server.app)
    assert post_login(browser, citizen.nik, citizen.password, kind="citizen").status_code == 303
    assert link_post(browser, "ldap", *BUDI).status_code == 303
    assert one_sub(provider, citizen) == before
