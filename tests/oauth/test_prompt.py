"""prompt, max_age, login_hint and id_token_hint (OpenID Connect Core 3.1.2.1)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from . import helpers

ISS = "http://127.0.0.1:5000"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _error(resp) -> str:
    assert resp.status_code == 302, resp.get_data(as_text=True)
    q = helpers.query(resp.headers["Location"])
    assert q["iss"] == ISS and q["state"] == "st-123"
    return q.get("error", "")


def _req_of(resp) -> str:
    assert resp.status_code == 302 and "/login?req=" in resp.headers["Location"], resp.headers.get("Location")
    return helpers.query(resp.headers["Location"])["req"]


def test_prompt_none_without_session(make_rp) -> None:
    rp = make_rp(signed_in=False)
    assert _error(rp.authorize(prompt="none")) == "login_required"


def test_prompt_none_with_session(rp) -> None:
    assert "code" in helpers.query(rp.authorize(prompt="none").headers["Location"])


def test_prompt_login_forces_sign_in_once(rp) -> None:
    rp.sign_in(auth_time=int(time.time()) - 100)
    req = _req_of(rp.authorize(prompt="login"))
    stored = rp.app.extensions["idp"].store.get("authreq", req)
    assert stored["force_login"] is True  # a session existed but is not good enough
    rp.sign_in()  # the sign-in page starts a new session
    resp = rp.browser.get(f"/authorize/resume?req={req}")
    assert "code" in helpers.query(resp.headers["Location"])  # no loop back to sign-in


def test_prompt_login_without_new_sign_in_asks_again(rp) -> None:
    rp.sign_in(auth_time=int(time.time()) - 100)
    req = _req_of(rp.authorize(prompt="login"))
    resp = rp.browser.get(f"/authorize/resume?req={req}")  # the same old session comes back
    _req_of(resp)


@pytest.mark.parametrize(("age", "max_age", "login"), [(100, "60", True), (30, "60", False), (5, "0", True),
                                                       (0, "0", True),  # signed in this very second: still
                                                       (3000, "", False)])
def test_max_age(rp, age, max_age, login) -> None:
    rp.sign_in(auth_time=int(time.time()) - age)
    resp = rp.authorize(max_age=max_age)
    if login:
        req = _req_of(resp)
        rp.sign_in()
        resp = rp.browser.get(f"/authorize/resume?req={req}")
    code = helpers.query(resp.headers["Location"])["code"]
    assert code


def test_max_age_with_prompt_none(rp) -> None:
    rp.sign_in(auth_time=int(time.time()) - 100)
    assert _error(rp.authorize(max_age="10", prompt="none")) == "login_required"


def test_login_hint_is_handed_to_sign_in(make_rp) -> None:
    rp = make_rp(signed_in=False)
    req = _req_of(rp.authorize(login_hint="3603********0001"))
    assert rp.app.extensions["idp"].store.get("authreq", req)["login_hint"] == "3603********0001"


def _id_token(rp, **params) -> str:
    return rp.tokens(**params)["id_token"]


def test_id_token_hint_of_session_user(rp) -> None:
    hint = _id_token(rp)
    assert "code" in helpers.query(rp.authorize(id_token_hint=hint, prompt="none").headers["Location"])


def test_id_token_hint_of_another_user(make_rp) -> None:
    rp = make_rp()
    hint = _id_token(rp)
    other_id, other_sub = helpers.create_person(rp.app, email="other@example.org", nik="3603014501900002")
    helpers.sign_in(rp.app, rp.browser, other_id, other_sub)
    assert _error(rp.authorize(id_token_hint=hint, prompt="none")) == "login_required"
    _req_of(rp.authorize(id_token_hint=hint))  # without prompt=none: sign in again


def test_expired_id_token_hint_is_accepted(rp) -> None:
    hint = rp.expired_id_token_hint("RS256")
    assert "code" in helpers.query(rp.authorize(id_token_hint=hint).headers["Location"])


def _forged_hints(rp) -> list[str]:
    from idp.oauth import keys

    with rp.app.app_context():
        kid, _ = keys.keyring().signing_key("RS256")
    claims = {"iss": ISS, "sub": rp.sub, "aud": rp.client_id, "iat": int(time.time()),
              "exp": int(time.time()) + 600}
    foreign = RSAKey.generate_key(2048, private=True)
    real = _id_token(rp)
    head, payload, sig = real.split(".")
    return [
        _b64({"alg": "none", "kid": kid}) + "." + _b64(claims) + ".",
        _b64({"alg": "none"}) + "." + _b64(claims) + ".",
        jwt.encode({"alg": "RS256", "kid": kid}, claims, foreign),
        jwt.encode({"alg": "RS256"}, claims, foreign),
        jwt.encode({"alg": "HS256", "kid": kid}, claims, OctKey.import_key("s" * 32)),
        f"{head}.{_b64({**claims, 'sub': 'admin'})}.{sig}",
        jwt.encode({"alg": "RS256", "kid": kid}, {**claims, "iss": "https://evil.example"}, foreign),
        "' OR 1=1 --",
        "a.b.c",
        "x" * 7000,
    ]


def test_forged_id_token_hints_are_invalid_request(rp) -> None:
    for hint in _forged_hints(rp):
        assert _error(rp.authorize(id_token_hint=hint)) == "invalid_request", hint[:60]


def test_hint_from_another_issuer_signed_by_us_is_refused(rp) -> None:
    from idp.oauth import keys

    with rp.app.app_context():
        kid, key = keys.keyring().signing_key("RS256")
    hint = jwt.encode({"alg": "RS256", "kid": kid}, {"iss": "https://other.example", "sub": rp.sub}, key)
    assert _error(rp.authorize(id_token_hint=hint)) == "invalid_request"


def test_prompt_none_needing_consent(make_rp) -> None:
    rp = make_rp(first_party=False)
    assert _error(rp.authorize(prompt="none")) == "consent_required"


def test_select_account_is_accepted(rp) -> None:
    assert "code" in helpers.query(rp.authorize(prompt="select_account").headers["Location"])


def test_acr_values_above_session_level_asks_for_sign_in_once(rp) -> None:
    from idp import assurance

    rp.sign_in(acr=assurance.CITIZEN_REVIEW)
    req = _req_of(rp.authorize(acr_values=assurance.CITIZEN))
    assert _error(rp.authorize(acr_values=assurance.CITIZEN, prompt="none")) == "login_required"
    rp.sign_in(acr=assurance.CITIZEN_REVIEW)  # the new sign-in reaches the same level only
    resp = rp.browser.get(f"/authorize/resume?req={req}")
    assert "code" in helpers.query(resp.headers["Location"])  # voluntary: the token tells the truth


@pytest.mark.parametrize("acr", ["urn:unknown", "' OR 1=1", ""])
def test_unknown_acr_values_are_ignored(rp, acr) -> None:
    assert "code" in helpers.query(rp.authorize(acr_values=acr).headers["Location"])
