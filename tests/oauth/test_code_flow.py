"""The authorization code flow end to end: code, PKCE, token response, reuse and concurrency."""

from __future__ import annotations

from flask import Flask

from idp.oauth import clients, tokens

from . import helpers


def test_client_lookup_and_secret(app: Flask) -> None:
    cid, secret = helpers.create_client(app)
    dcid, _ = helpers.create_client(app, disabled=True)
    with app.test_request_context():
        client = clients.query_client(cid)
        assert client is not None and client.check_client_secret(secret)
        assert not client.check_client_secret(secret + "x")
        assert clients.query_client(dcid) is None
        assert clients.query_client("x" * 65) is None
        assert clients.query_client("a\x00b") is None
        assert client.get_allowed_scope("openid nik profile bogus openid") == "openid profile"


def test_access_token_lookup_and_family_revocation(app: Flask) -> None:
    with app.test_request_context():
        store = app.extensions["idp"].store
        family = tokens.new_family()
        token = f"abc.{family}"
        store.put("at", token, {"family": family, "exp": 2**40, "sub": "s"}, 60)
        assert tokens.lookup_access_token(token)["sub"] == "s"
        assert tokens.lookup_access_token("abc.other") is None
        assert tokens.lookup_access_token("x" * 500) is None
        tokens.revoke_family(family, "test")
        assert tokens.lookup_access_token(token) is None


def test_full_code_flow_with_pkce(rp) -> None:
    verifier, challenge = helpers.pkce_pair()
    code, q = rp.get_code(code_challenge=challenge, code_challenge_method="S256")
    assert q["state"] == "st-123" and q["iss"] == rp.app.extensions["idp"].config["ISSUER"]
    resp = rp.token(code, verifier=verifier)
    assert resp.status_code == 200, resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Pragma"] == "no-cache"
    body = resp.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert set(body) >= {"access_token", "id_token", "scope"} and "refresh_token" not in body
    info = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.status_code == 200 and info.get_json()["sub"] == rp.sub


def _code(rp, **params):
    verifier, challenge = helpers.pkce_pair()
    code, _ = rp.get_code(code_challenge=challenge, code_challenge_method="S256", **params)
    return code, verifier


def test_reused_code_is_refused_and_revokes_first_tokens(rp) -> None:
    code, verifier = _code(rp, scope="openid offline_access")
    first = rp.token(code, verifier=verifier)
    assert first.status_code == 200
    body = first.get_json()
    assert "refresh_token" in body
    second = rp.token(code, verifier=verifier)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    info = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.status_code == 401
    assert 'error="invalid_token"' in info.headers["WWW-Authenticate"]
    from idp.extensions import db
    from idp.models import RefreshToken

    with rp.app.app_context():
        rows = db.session.query(RefreshToken).all()
        assert len(rows) == 1 and rows[0].revoked_at is not None and rows[0].revoked_reason == "code_reuse"
        from idp.models import AuditEvent

        assert db.session.query(AuditEvent).filter_by(event="oauth.code_reuse", client_id=rp.client_id).count() == 1


def test_concurrent_redemption_exactly_one_wins(rp) -> None:
    import threading

    code, verifier = _code(rp)
    barrier = threading.Barrier(2)
    results: list = []

    def redeem() -> None:
        browser = rp.app.test_client()
        barrier.wait()
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
                "code_verifier": verifier}
        resp = browser.post("/token", data=data, headers=helpers.basic(rp.client_id, rp.secret))
        results.append((resp.status_code, resp.get_json()))

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    statuses = sorted(r[0] for r in results)
    assert statuses == [200, 400], results
    loser = next(r[1] for r in results if r[0] == 400)
    assert loser["error"] == "invalid_grant"
    winner = next(r[1] for r in results if r[0] == 200)
    # The family of the winner is revoked: its access token no longer works.
    info = rp.browser.get("/userinfo", headers={"Authorization": "Bearer " + winner["access_token"]})
    assert info.status_code == 401


def test_code_of_another_client_is_invalid_grant(make_rp) -> None:
    a = make_rp()
    b = make_rp()
    code, verifier = _code(a)
    resp = a.token(code, verifier=verifier, client_id=b.client_id, secret=b.secret)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_redirect_uri_mismatch_is_invalid_grant(make_rp) -> None:
    rp = make_rp(redirect_uris=[helpers.REDIRECT, helpers.REDIRECT + "2"])
    code, verifier = _code(rp)
    resp = rp.token(code, verifier=verifier, redirect_uri=helpers.REDIRECT + "2")
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_wrong_pkce_verifier_is_invalid_grant(rp) -> None:
    code, verifier = _code(rp)
    resp = rp.token(code, verifier=helpers.pkce_pair()[0])
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_missing_verifier_when_challenge_was_sent(rp) -> None:
    code, _ = _code(rp)
    resp = rp.token(code)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"


def test_expired_code_is_invalid_grant(rp) -> None:
    import time

    code, verifier = _code(rp)
    assert rp.app.extensions["idp"].store.touch("code", code, 1)
    time.sleep(1.2)
    resp = rp.token(code, verifier=verifier)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_confidential_client_without_pkce_is_accepted(rp) -> None:
    code, _ = rp.get_code()
    resp = rp.token(code)
    assert resp.status_code == 200
    # RFC 9700 4.8: a verifier without a challenge in the request is refused.
    code, _ = rp.get_code()
    resp = rp.token(code, verifier=helpers.pkce_pair()[0])
    assert resp.status_code == 400


def test_public_client_needs_pkce(make_rp) -> None:
    rp = make_rp(secret=None)
    resp = rp.authorize()
    q = helpers.query(resp.headers["Location"])
    assert q["error"] == "invalid_request" and "code_challenge" in q["error_description"]
    assert q["state"] == "st-123" and "iss" in q
    verifier, challenge = helpers.pkce_pair()
    code, _ = rp.get_code(code_challenge=challenge, code_challenge_method="S256")
    resp = rp.token(code, verifier=verifier)
    assert resp.status_code == 200, resp.get_json()


def test_require_pkce_client_without_challenge(make_rp) -> None:
    rp = make_rp(require_pkce=True)
    q = helpers.query(rp.authorize().headers["Location"])
    assert q["error"] == "invalid_request"


def test_plain_pkce_refused(rp) -> None:
    verifier = helpers.pkce_pair()[0]
    for method in ("plain", None, "s256"):
        q = helpers.query(rp.authorize(code_challenge=verifier, code_challenge_method=method).headers["Location"])
        assert q["error"] == "invalid_request", method


def test_client_secret_post_and_form_urlencoded_basic(make_rp) -> None:
    rp = make_rp(client_id="app:with+odd/chars", secret="s3cr:et+/=%", auth_method="client_secret_basic")
    code, verifier = _code(rp)
    # helpers.basic form-urlencodes both parts, as openid-client does (RFC 6749 2.3.1).
    assert rp.token(code, verifier=verifier).status_code == 200
    post = make_rp(auth_method="client_secret_post")
    code, verifier = _code(post)
    resp = post.browser.post("/token", data={"grant_type": "authorization_code", "code": code,
                                             "redirect_uri": post.redirect_uri, "code_verifier": verifier,
                                             "client_id": post.client_id, "client_secret": post.secret})
    assert resp.status_code == 200
    # A client registered for client_secret_post may not use Basic (and vice versa).
    code, verifier = _code(post)
    assert post.token(code, verifier=verifier).status_code in (400, 401)


def test_basic_credentials_are_form_urlencoded(make_rp) -> None:
    import base64
    from urllib.parse import quote_plus

    rp = make_rp(client_id="odd id+1", secret="a secret with spaces+plus")
    code, verifier = _code(rp)
    raw = f"{quote_plus(rp.client_id)}:{quote_plus(rp.secret)}".encode()  # as openid-client sends them
    resp = rp.browser.post("/token", data={"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": rp.redirect_uri, "code_verifier": verifier},
                           headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
    assert resp.status_code == 200, resp.get_json()


def test_wrong_secret_is_invalid_client(rp) -> None:
    code, verifier = _code(rp)
    resp = rp.token(code, verifier=verifier, secret="wrong")
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"


BAD_TOKEN_REQUESTS = [
    ({"grant_type": "password", "username": "a", "password": "b"}, None, "unsupported_grant_type"),
    ({"grant_type": "authorization_code"}, None, "invalid_request"),
    ({"grant_type": "authorization_code", "code": "' OR 1=1 --"}, None, "invalid_grant"),
    ({"grant_type": "authorization_code", "code": "x" * 5000}, None, "invalid_grant"),
    ({"grant_type": "authorization_code", "code": "a\x00b"}, None, "invalid_grant"),
    ({"grant_type": "authorization_code", "code": "abc"}, {"Authorization": "Basic %%%"}, "invalid_client"),
    ({"grant_type": "authorization_code", "code": "abc"}, {"Authorization": "Basic " + "//79"}, "invalid_client"),
    ({"grant_type": "authorization_code", "code": "abc"}, {"Authorization": "Basic w6k6w6k="}, "invalid_client"),
    ({"grant_type": "authorization_code", "code": "abc"}, {"Authorization": "Basic JUZGOiVGRg=="}, "invalid_client"),
    ({"grant_type": "authorization_code", "code": "abc"}, {"Authorization": "Basic bm9ib2R5OnNlY3JldA=="},
     "invalid_client"),
    ({"grant_type": "authorization_code", "code": "abc"}, {"Authorization": "Basic"}, "invalid_client"),
    ({"grant_type": "authorization_code", "code": "abc", "client_id": "nobody"}, {}, "invalid_client"),
    ({"grant_type": "authorization_code", "code": "abc", "client_id": "' OR '1'='1"}, {}, "invalid_client"),
    ({"grant_type": "authorization_code", "code": "abc", "client_id": "x" * 10000}, {}, "invalid_client"),
]


import pytest  # noqa: E402


@pytest.mark.parametrize(("data", "headers", "error"), BAD_TOKEN_REQUESTS)
def test_hostile_token_requests(rp, data, headers, error) -> None:
    if headers is None:
        headers = helpers.basic(rp.client_id, rp.secret)
    resp = rp.browser.post("/token", data=data, headers=headers)
    assert 400 <= resp.status_code < 500
    assert resp.get_json()["error"] == error
    assert resp.headers["Cache-Control"] == "no-store"


def test_token_endpoint_methods_and_size(rp) -> None:
    assert rp.browser.get("/token").status_code == 405
    resp = rp.browser.post("/token", data={"grant_type": "authorization_code", "code": "x" * 70000},
                           headers=helpers.basic(rp.client_id, rp.secret))
    assert resp.status_code == 413
    resp = rp.browser.post("/token", json={"grant_type": "authorization_code"},
                           headers=helpers.basic(rp.client_id, rp.secret))
    assert resp.status_code == 400


def test_refresh_token_row_for_offline_access(rp) -> None:
    from idp.extensions import db
    from idp.models import RefreshToken

    body = rp.tokens(scope="openid offline_access")
    assert body["refresh_token"]
    with rp.app.app_context():
        row = db.session.query(RefreshToken).one()
        crypto = rp.app.extensions["idp"].crypto
        assert row.token_hash == crypto.keyed_hash("refresh_token", body["refresh_token"])
        assert row.sid and row.acr and row.amr == ["pwd"] and row.revoked_at is None
        assert row.family_id == body["access_token"].rsplit(".", 1)[1]


def test_disabled_person_gets_no_tokens_and_no_codes(rp) -> None:
    from idp.extensions import db
    from idp.models import Person

    code, verifier = _code(rp)
    with rp.app.app_context():
        db.session.query(Person).filter_by(id=rp.person_id).update({"status": "disabled"})
        db.session.commit()
    resp = rp.token(code, verifier=verifier)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
    resp = rp.authorize(prompt="none")
    assert helpers.query(resp.headers["Location"])["error"] == "login_required"


def test_refresh_token_for_clients_registered_for_the_refresh_grant(make_rp) -> None:
    rp = make_rp(grant_types=["authorization_code", "refresh_token"])
    assert rp.tokens(scope="openid")["refresh_token"]
    plain = make_rp()
    assert "refresh_token" not in plain.tokens(scope="openid")


def test_offline_access_is_dropped_for_clients_without_it(make_rp) -> None:
    rp = make_rp(scope="openid profile")
    body = rp.tokens(scope="openid offline_access")
    assert body["scope"] == "openid" and "refresh_token" not in body


def test_code_flow_through_the_real_sign_in_page(app) -> None:
    """No shortcut: register, verify, and sign in through B's pages, then finish the code flow."""
    from tests.citizen import helpers as citizen_helpers

    browser = app.test_client()
    citizen = citizen_helpers.register_and_verify(browser)
    client_id, secret = helpers.create_client(app, first_party=True)
    verifier, challenge = helpers.pkce_pair()
    resp = browser.get("/authorize", query_string={
        "response_type": "code", "client_id": client_id, "redirect_uri": helpers.REDIRECT, "scope": "openid",
        "state": "s1", "nonce": "n1", "code_challenge": challenge, "code_challenge_method": "S256"})
    req = helpers.query(resp.headers["Location"])["req"]
    resp = citizen_helpers.sign_in(browser, citizen, req=req)
    assert resp.status_code == 303 and "/authorize/resume" in resp.headers["Location"]
    resp = browser.get(resp.headers["Location"])
    q = helpers.query(resp.headers["Location"])
    assert q["state"] == "s1"
    resp = browser.post("/token", data={"grant_type": "authorization_code", "code": q["code"],
                                        "redirect_uri": helpers.REDIRECT, "code_verifier": verifier},
                        headers=helpers.basic(client_id, secret))
    assert resp.status_code == 200 and resp.get_json()["id_token"]
