"""The authorization endpoint: validation, error delivery, response modes, the sign-in hand-off."""

from __future__ import annotations

import pytest

from . import helpers

ISS = "http://127.0.0.1:5000"

# Requests that must be answered with a page and never redirected (RFC 6749 4.1.2.1).
NO_REDIRECT = [
    {"client_id": None},
    {"client_id": "unknown-client"},
    {"client_id": "' OR '1'='1"},
    {"client_id": "x" * 3000},
    {"client_id": "a\x00b"},
    {"client_id": "<script>alert(1)</script>"},
    {"redirect_uri": None},
    {"redirect_uri": "https://evil.example/callback"},
    {"redirect_uri": helpers.REDIRECT + "/"},
    {"redirect_uri": helpers.REDIRECT.upper()},
    {"redirect_uri": helpers.REDIRECT + "?x=1"},
    {"redirect_uri": helpers.REDIRECT + "#frag"},
    {"redirect_uri": "javascript:alert(1)"},
    {"redirect_uri": "' UNION SELECT * FROM clients --"},
]


@pytest.mark.parametrize("override", NO_REDIRECT)
def test_bad_client_or_redirect_uri_shows_page(rp, override) -> None:
    resp = rp.authorize(**{k: v for k, v in override.items() if v is not None},
                        **{k: None for k, v in override.items() if v is None})
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    assert resp.mimetype == "text/html"
    assert "<script>alert" not in resp.get_data(as_text=True)


def test_disabled_client_is_unknown(make_rp) -> None:
    rp = make_rp(disabled=True)
    resp = rp.authorize()
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_repeated_client_id_or_redirect_uri_shows_page(rp) -> None:
    q = rp.auth_params()
    url = "/authorize?" + "&".join(f"{k}={v}" for k, v in q.items()) + f"&client_id={rp.client_id}"
    assert rp.browser.get(url).status_code == 400
    url = "/authorize?" + "&".join(f"{k}={v}" for k, v in q.items()) + "&redirect_uri=https://x.example/"
    resp = rp.browser.get(url)
    assert resp.status_code == 400 and "Location" not in resp.headers


# Errors delivered to the validated redirect URI: (extra parameters, expected error).
REDIRECTED_ERRORS = [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "code id_token"}, "unsupported_response_type"),
    ({"response_type": None}, "invalid_request"),  # missing: RFC 6749 4.1.2.1, OIDC Core 3.1.2.6
    ({"response_type": "' OR 1=1"}, "unsupported_response_type"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"prompt": "bogus"}, "invalid_request"),
    ({"max_age": "-1"}, "invalid_request"),
    ({"max_age": "abc"}, "invalid_request"),
    ({"max_age": "9" * 30}, "invalid_request"),
    ({"response_mode": "fragment"}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"request_uri": "https://evil.example/req"}, "request_uri_not_supported"),
    ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
    ({"id_token_hint": "not-a-jwt"}, "invalid_request"),
    ({"nonce": "n" * 5000}, "invalid_request"),
]


@pytest.mark.parametrize(("extra", "error"), REDIRECTED_ERRORS)
def test_errors_go_back_to_the_client(rp, extra, error) -> None:
    resp = rp.authorize(**extra)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    location = resp.headers["Location"]
    assert location.startswith(helpers.REDIRECT + "?")
    q = helpers.query(location)
    assert q["error"] == error
    assert q["error_description"]
    assert q["state"] == "st-123"
    assert q["iss"] == ISS


@pytest.mark.parametrize("param", ["scope", "state", "nonce", "response_type", "prompt", "code_challenge"])
def test_repeated_parameter_is_invalid_request(rp, param) -> None:
    q = rp.auth_params(code_challenge=helpers.pkce_pair()[1], code_challenge_method="S256", prompt="login")
    pairs = list(q.items()) + [(param, q[param])]
    from urllib.parse import urlencode

    resp = rp.browser.get("/authorize?" + urlencode(pairs))
    assert resp.status_code == 302
    q2 = helpers.query(resp.headers["Location"])
    assert q2["error"] == "invalid_request" and "repeated" in q2["error_description"]
    assert q2["iss"] == ISS


def test_oversized_request(rp) -> None:
    resp = rp.browser.get("/authorize", query_string=rp.auth_params(state="s" * 9000))
    assert resp.status_code == 414
    resp = rp.browser.post("/authorize", data=rp.auth_params(state="s" * 70000))
    assert resp.status_code == 413


def test_state_and_nonce_echoed_unchanged(rp) -> None:
    state = "ä ö/+=&?%20<x>'\""
    nonce = "nonce with spaces & symbols ü"
    verifier, challenge = helpers.pkce_pair()
    code, q = rp.get_code(state=state, nonce=nonce, code_challenge=challenge, code_challenge_method="S256")
    assert q["state"] == state and q["iss"] == ISS
    body = rp.token(code, verifier=verifier).get_json()
    from joserfc import jwt

    claims = jwt.decode(body["id_token"], _keyset(rp)).claims
    assert claims["nonce"] == nonce


def test_no_state_means_no_state_in_response(rp) -> None:
    code, q = rp.get_code(state=None)
    assert "state" not in q and q["iss"] == ISS


def _keyset(rp):
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(rp.browser.get("/jwks.json").get_json())


def test_post_authorization_request(rp) -> None:
    resp = rp.authorize(method="POST")
    assert resp.status_code == 302 and "code" in helpers.query(resp.headers["Location"])


def test_form_post_response_mode(rp) -> None:
    resp = rp.authorize(response_mode="form_post", state='"><script>alert(1)</script>')
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert f'action="{helpers.REDIRECT}"' in html
    assert 'name="code"' in html and 'name="iss"' in html and 'name="state"' in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "js/form_post.js" in html and "onload" not in html
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"


def test_form_post_error(rp) -> None:
    resp = rp.authorize(response_mode="form_post", prompt="bogus")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'name="error" value="invalid_request"' in html


def test_form_post_script_is_served(rp) -> None:
    with rp.browser.get("/static/js/form_post.js") as resp:
        assert resp.status_code == 200 and b"submit()" in resp.data


def test_no_session_hands_off_to_sign_in(make_rp) -> None:
    rp = make_rp(signed_in=False)
    resp = rp.authorize(login_hint="user@example.org", ui_locales="en-US id")
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert "/login?req=" in location
    req_id = helpers.query(location)["req"]
    stored = rp.app.extensions["idp"].store.get("authreq", req_id)
    assert stored["client_id"] == rp.client_id and stored["client_name"].startswith("Test App")
    assert stored["login_hint"] == "user@example.org" and stored["ui_locales"] == "en-US id"
    assert ["state", "st-123"] in stored["params"] and stored["force_login"] is False
    # The sign-in page signs the person in, then sends the browser to the resume URL.
    rp.sign_in()
    resp = rp.browser.get(f"/authorize/resume?req={req_id}")
    q = helpers.query(resp.headers["Location"])
    assert "code" in q and q["state"] == "st-123" and q["iss"] == ISS
    # A request id is single-use.
    resp = rp.browser.get(f"/authorize/resume?req={req_id}")
    assert resp.status_code == 400 and "Location" not in resp.headers


@pytest.mark.parametrize("req", ["", "nope", "' OR 1=1 --", "x" * 500, "%00"])
def test_resume_with_unknown_request(rp, req) -> None:
    resp = rp.browser.get("/authorize/resume", query_string={"req": req})
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_resume_revalidates_stored_parameters(make_rp) -> None:
    rp = make_rp(signed_in=False)
    req_id = helpers.query(rp.authorize().headers["Location"])["req"]
    from idp.extensions import db
    from idp.models import Client

    with rp.app.app_context():  # the client was disabled meanwhile
        db.session.query(Client).filter_by(client_id=rp.client_id).update({"disabled": True})
        db.session.commit()
    rp.sign_in()
    resp = rp.browser.get(f"/authorize/resume?req={req_id}")
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_unknown_scopes_are_dropped(rp) -> None:
    body = rp.tokens(scope="openid bogus profile admin")
    assert body["scope"] == "openid profile"


def test_ui_locales_picks_language(make_rp) -> None:
    rp = make_rp(first_party=False)
    resp = rp.authorize(ui_locales="en")
    assert resp.status_code == 200 and '<html lang="en">' in resp.get_data(as_text=True)


def test_cross_site_post_authorization_is_repeated_as_get(rp) -> None:
    other = rp.app.test_client()
    resp = other.post("/authorize", data=rp.auth_params(state="a b&c"))
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/authorize?")
    resp = rp.browser.get(resp.headers["Location"])
    q = helpers.query(resp.headers["Location"])
    assert q["code"] and q["state"] == "a b&c"


def test_form_post_needs_http_redirect_uri(make_rp) -> None:
    rp = make_rp(redirect_uris=["com.example.app:/cb"])
    rp.redirect_uri = "com.example.app:/cb"
    resp = rp.authorize(response_mode="form_post")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("com.example.app:/cb?")
    assert helpers.query(resp.headers["Location"])["error"] == "invalid_request"
    code, _ = rp.get_code()  # the app scheme itself works with the query mode
    assert code
