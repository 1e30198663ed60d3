"""Two real provider processes (`idp serve`, the production server) sharing one Redis and one PostgreSQL
behave as one provider.

The session, the authorization code, the refresh tokens and the signing keys live in the shared
stores, so a relying party may be sent to either node by a load balancer at every step.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from tests import services
from tests.oauth import helpers
from tests.oauth.conftest import TEST_DATA_KEY

IDP = str(Path(sys.executable).parent / "idp")


@pytest.fixture
def nodes(oauth_app: Callable[..., Flask], redis_url: str, postgres_url: str,
          tmp_path: Path) -> Iterator[tuple[Flask, list[str], str, dict[str, str]]]:
    """The in-process app (to create rows) and the base URLs of two `idp serve` nodes with one issuer."""
    issuer = "http://localhost"  # one public name in front of both nodes (the load balancer's)
    app = oauth_app(ISSUER=issuer)
    cfg = app.extensions["idp"].config
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    # Same instance directory: both nodes read the same development secret and hash keys as the app.
    env.update(IDP_INSTANCE_DIR=str(cfg["INSTANCE_DIR"]), IDP_DATABASE_URL=postgres_url, IDP_REDIS_URL=redis_url,
               IDP_ISSUER=issuer, IDP_DATA_KEYS=TEST_DATA_KEY, IDP_BACKCHANNEL_WORKER="false",
               IDP_LOG_LEVEL="WARNING", IDP_ARGON2_TIME_COST="1", IDP_ARGON2_MEMORY_KIB="7168",
               # A rotation test that takes seconds, not a day (production refuses so short an overlap).
               IDP_KEY_ROTATION_OVERLAP="3", IDP_KEYRING_RELOAD_SECONDS="1")
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    logs: list[Any] = []
    try:
        for i in range(2):
            port = services.free_port()
            log = open(tmp_path / f"node{i}.log", "wb")  # noqa: SIM115 - closed after the process
            logs.append(log)
            procs.append(subprocess.Popen([IDP, "serve", "--workers", "1", "--bind", f"127.0.0.1:{port}"],
                                          env={**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics{i}")},
                                          stdout=log, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(procs, urls, strict=True):
            services.wait_port(int(url.rsplit(":", 1)[1]), timeout=30, proc=proc)
        yield app, urls, issuer, env
    finally:
        for proc in procs:
            services.stop_process(proc)
        for log in logs:
            log.close()
        for i in range(2):
            path = tmp_path / f"node{i}.log"
            if path.exists():
                sys.stdout.write(path.read_text(errors="replace")[-3000:])


def _code(browser: requests.Session, node: str, rp: dict[str, Any], **extra: str) -> str:
    verifier, challenge = helpers.pkce_pair()
    rp["verifier"] = verifier
    resp = browser.get(f"{node}/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": rp["client_id"], "redirect_uri": helpers.REDIRECT,
        "scope": "openid profile email offline_access", "state": "s1", "nonce": "n1",
        "code_challenge": challenge, "code_challenge_method": "S256", **extra})
    assert resp.status_code == 302, resp.text[:500]
    return helpers.query(resp.headers["Location"])["code"]


def test_two_nodes_behave_as_one(nodes: tuple[Flask, list[str], str, dict[str, str]]) -> None:
    app, (node1, node2), issuer, env = nodes
    person_id, sub = helpers.create_person(app)
    client_id, secret = helpers.create_client(app, first_party=True,
                                              grant_types=["authorization_code", "refresh_token"])
    assert secret
    rp: dict[str, Any] = {"client_id": client_id}
    auth = (client_id, secret)
    browser = requests.Session()
    helpers.sign_in(app, browser, person_id, sub)

    # Signed in, authorized through node 1; the code is redeemed at node 2.
    code = _code(browser, node1, rp)
    resp = requests.post(f"{node2}/token", auth=auth, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": helpers.REDIRECT,
        "code_verifier": rp["verifier"]})
    assert resp.status_code == 200, resp.text
    tokens = resp.json()

    # The ID token signed by node 2 verifies with the JWKS published by node 1 (keys shared in the database).
    jwks = KeySet.import_key_set(requests.get(f"{node1}/jwks.json", timeout=10).json())
    claims = jwt.decode(tokens["id_token"], jwks).claims
    assert claims["iss"] == issuer and claims["sub"] == sub and claims["aud"] == client_id
    assert requests.get(f"{node1}/jwks.json", timeout=10).json() == requests.get(f"{node2}/jwks.json",
                                                                                  timeout=10).json()

    # The operator's `idp keys list` (a third process on the same database) shows the key both nodes use.
    kid = jwt.decode(tokens["id_token"], jwks).header["kid"]
    listed = subprocess.run([str(Path(sys.executable).parent / "idp"), "keys", "list"], env=env, timeout=60,
                            capture_output=True, text=True, check=True)
    assert kid in listed.stdout, listed.stdout

    # Refresh at node 1 then node 2 (rotation: each refresh token is single-use across both nodes).
    first = tokens["refresh_token"]
    resp = requests.post(f"{node1}/token", auth=auth, timeout=10,
                         data={"grant_type": "refresh_token", "refresh_token": first})
    assert resp.status_code == 200, resp.text
    second = resp.json()["refresh_token"]
    resp = requests.post(f"{node2}/token", auth=auth, timeout=10,
                         data={"grant_type": "refresh_token", "refresh_token": second})
    assert resp.status_code == 200, resp.text
    latest = resp.json()
    for node in (node1, node2):
        resp = requests.get(f"{node}/userinfo", timeout=10,
                            headers={"Authorization": f"Bearer {latest['access_token']}"})
        assert resp.status_code == 200 and resp.json()["sub"] == sub
    # Replaying a rotated refresh token at node 2 revokes the family (RFC 9700 4.14.2) for both nodes.
    replay = requests.post(f"{node2}/token", auth=auth, timeout=10,
                           data={"grant_type": "refresh_token", "refresh_token": first})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    for node in (node1, node2):
        resp = requests.get(f"{node}/userinfo", timeout=10,
                            headers={"Authorization": f"Bearer {latest['access_token']}"})
        assert resp.status_code == 401, (node, resp.text)

    # Control: before the logout, prompt=none at node 1 finds the session.
    assert _code(browser, node1, rp, prompt="none")

    # RP-initiated logout at node 2 (confirmed form post): the session is gone at node 1.
    page = browser.get(f"{node2}/end_session", allow_redirects=False,
                       params={"id_token_hint": tokens["id_token"], "client_id": client_id})
    if page.status_code == 200:  # a confirmation page: send its form back
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        assert "csrf_token" in form, page.text[:1000]
        form = {k: html.unescape(v) for k, v in form.items()}
        page = browser.post(f"{node2}/end_session", allow_redirects=False, data={**form, "confirm": "1"})
    assert page.status_code in (200, 302, 303), page.text[:500]
    resp = browser.get(f"{node1}/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": client_id, "redirect_uri": helpers.REDIRECT,
        "scope": "openid", "state": "s2", "prompt": "none"})
    assert resp.status_code == 302, resp.text[:500]
    assert helpers.query(resp.headers["Location"]).get("error") == "login_required"


def _kid(token: str) -> str:
    import base64
    import json

    head = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"])


def test_a_key_rotated_by_an_operator_reaches_both_nodes(
        nodes: tuple[Flask, list[str], str, dict[str, str]]) -> None:
    app, (node1, node2), _issuer, env = nodes
    person_id, sub = helpers.create_person(app)
    client_id, secret = helpers.create_client(app, first_party=True)
    assert secret
    rp: dict[str, Any] = {"client_id": client_id}
    browser = requests.Session()
    helpers.sign_in(app, browser, person_id, sub)

    def id_token(authorize_at: str, redeem_at: str) -> str:
        code = _code(browser, authorize_at, rp)
        resp = requests.post(f"{redeem_at}/token", auth=(client_id, secret), timeout=10, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": helpers.REDIRECT,
            "code_verifier": rp["verifier"]})
        assert resp.status_code == 200, resp.text
        return str(resp.json()["id_token"])

    old_kid = _kid(id_token(node1, node2))
    rotated = subprocess.run([str(Path(sys.executable).parent / "idp"), "keys", "rotate", "--alg", "RS256"],
                             env=env, timeout=60, capture_output=True, text=True, check=True)
    new_kid = rotated.stdout.split("published signing key ")[1].split(";")[0]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        sets = [requests.get(f"{node}/jwks.json", timeout=10).json() for node in (node1, node2)]
        if all(new_kid in {k["kid"] for k in ks["keys"]} for ks in sets):
            break
        time.sleep(0.3)
    assert sets[0] == sets[1] and new_kid in {k["kid"] for k in sets[0]["keys"]}  # published on both
    assert _kid(id_token(node2, node1)) == old_kid  # but not signing yet
    while time.monotonic() < deadline and _kid(id_token(node1, node2)) != new_kid:
        time.sleep(0.3)
    tokens = [id_token(node1, node2), id_token(node2, node1)]
    assert [_kid(t) for t in tokens] == [new_kid, new_kid]
    for node in (node1, node2):
        jwks = KeySet.import_key_set(requests.get(f"{node}/jwks.json", timeout=10).json())
        assert all(jwt.decode(t, jwks).claims["sub"] == sub for t in tokens)
        assert old_kid in {k.kid for k in jwks}  # still published: earlier tokens keep verifying
