"""An unmodified certified relying-party library, openid-client v6 (Node), completes the code flow with PKCE.

``rp.mjs`` is a tiny Node RP; a ``requests`` session plays the browser: it opens the RP's ``/login``,
signs a citizen in on the provider's real sign-in page, allows the consent page and lands on the RP's
``/callback``, which answers with the validated ID token claims and the UserInfo response.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from idp.oauth import keys
from tests import services
from tests.citizen.helpers import register_and_verify
from tests.oauth import helpers
from tests.oauth.conftest import TEST_DATA_KEY

HERE = Path(__file__).resolve().parent
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
REQ_RE = re.compile(r'name="req"[^>]*value="([^"]+)"')


def _npm_install() -> None:
    npm = shutil.which("npm")
    node = shutil.which("node")
    assert npm and node, "node and npm are needed for this test"
    if (HERE / "node_modules" / "openid-client" / "package.json").is_file():
        return
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300,
                   stdout=subprocess.DEVNULL)


@pytest.fixture
def node_rp() -> Iterator[Callable[[str, str, str, int, str], str]]:
    _npm_install()
    procs: list[subprocess.Popen[bytes]] = []

    def start(issuer: str, client_id: str, secret: str, port: int, auth_method: str) -> str:
        env = {**os.environ, "ISSUER": issuer, "CLIENT_ID": client_id, "CLIENT_SECRET": secret, "PORT": str(port),
               "AUTH_METHOD": auth_method}
        proc = subprocess.Popen([shutil.which("node") or "node", str(HERE / "rp.mjs")], env=env, cwd=HERE)
        procs.append(proc)
        services.wait_port(port, proc=proc)
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        services.stop_process(proc, 10)


def _field(regex: re.Pattern[str], html: str, name: str) -> str:
    found = regex.search(html)
    assert found, f"no {name} in the page: {html[:2000]}"
    return found.group(1)


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_openid_client_code_flow_with_pkce(live_server, node_rp, auth_method) -> None:
    server = live_server(DATA_KEYS=[TEST_DATA_KEY])
    with server.app.app_context():
        keys.ensure()
    citizen = register_and_verify(server.app.test_client())

    port = services.free_port()
    client_id, secret = helpers.create_client(server.app, redirect_uris=[f"http://127.0.0.1:{port}/callback"],
                                              auth_method=auth_method)
    assert secret
    rp = node_rp(server.url, client_id, secret, port, auth_method)

    browser = requests.Session()
    page = browser.get(rp + "/login", timeout=15)
    assert page.status_code == 200, page.text[:2000]
    assert urlsplit(page.url).path == "/login", page.url
    req = parse_qs(urlsplit(page.url).query).get("req", [None])[0] or _field(REQ_RE, page.text, "req")
    consent = browser.post(server.url + "/login", timeout=15, data={
        "csrf_token": _field(CSRF_RE, page.text, "csrf_token"), "req": req, "kind": "citizen",
        "identifier": citizen.nik, "password": citizen.password})
    assert consent.status_code == 200, consent.text[:2000]
    assert urlsplit(consent.url).path.startswith("/authorize"), consent.url

    done = browser.post(server.url + "/authorize/consent", timeout=15, data={
        "csrf_token": _field(CSRF_RE, consent.text, "csrf_token"),
        "req": _field(REQ_RE, consent.text, "req"), "decision": "allow"})
    assert done.url.startswith(rp + "/callback"), done.url
    assert done.status_code == 200, done.text[:2000]
    data = done.json()
    claims, userinfo = data["claims"], data["userinfo"]
    assert claims["iss"] == server.url
    assert claims["aud"] == client_id or client_id in claims["aud"]
    assert claims["sub"] == userinfo["sub"]
    assert claims["acr"]
    assert userinfo["email"] == citizen.email
