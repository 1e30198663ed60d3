"""Property-based tests of the protocol endpoints: hostile parameters never give a 5xx.

Every refusal carries an error code defined by the specifications (RFC 6749 4.1.2.1 and 5.2, RFC 6750
3.1, RFC 7591 3.2.2, OIDC Core 3.1.2.6, RFC 7009 2.2.1); pages for people are plain 4xx pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.hostile import fuzz_settings, numbers
from tests.oauth.conftest import RP

SPEC_ERRORS = {
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
    "invalid_scope", "unsupported_response_type", "access_denied", "server_error", "temporarily_unavailable",
    "invalid_redirect_uri", "invalid_client_metadata", "invalid_software_statement",
    "unapproved_software_statement", "invalid_token", "insufficient_scope", "unsupported_token_type",
    "login_required", "consent_required", "interaction_required", "account_selection_required",
    "invalid_request_uri", "invalid_request_object", "request_not_supported", "request_uri_not_supported",
    "registration_not_supported", "slow_down", "not_found",
}

# The function-scoped RP is shared by the examples on purpose: they must not change its state.
# Seeded and bounded in the default run; IDP_TEST_FUZZ_PROFILE=long for more (tests/fuzz/hostile.py).
FUZZ = fuzz_settings(120)

hostile = st.one_of(
    st.text(max_size=40),
    numbers,
    st.sampled_from(["", " ", "\x00", "openid", "code", "S256", "plain", "none", "authorization_code",
                     "refresh_token", "client_credentials", "http://127.0.0.1:1/cb", "javascript:alert(1)",
                     "a" * 3000, "%00", "{}", "[]", "\u202e", "openid openid", "code id_token",
                     "urn:ietf:params:oauth:grant-type:jwt-bearer", "0", "-1", "99999999999999999999"]),
)


def params(keys: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.sampled_from(keys), hostile, max_size=len(keys))


AUTHORIZE_KEYS = ["response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt", "max_age",
                  "code_challenge", "code_challenge_method", "ui_locales", "acr_values", "id_token_hint",
                  "login_hint", "request", "request_uri", "response_mode", "claims", "display", "registration"]
TOKEN_KEYS = ["grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "client_id",
              "client_secret", "client_assertion", "client_assertion_type", "assertion", "resource"]
TOKEN_KEYS_INTROSPECT = ["token", "token_type_hint", "client_id", "client_secret", "client_assertion",
                         "client_assertion_type"]


def _check_api(resp: Any) -> None:
    body = resp.get_data(as_text=True)
    assert resp.status_code < 500, (resp.status_code, body[:300])
    if resp.status_code >= 400:
        data = resp.get_json(silent=True)
        assert isinstance(data, dict), body[:300]
        assert data.get("error") in SPEC_ERRORS, data


def _check_authorize(resp: Any) -> None:
    body = resp.get_data(as_text=True)
    assert resp.status_code < 500, (resp.status_code, body[:300])
    assert "Traceback" not in body
    if resp.status_code in (302, 303) and "error=" in resp.headers.get("Location", ""):
        location = resp.headers["Location"]
        parts = urlsplit(location)
        found = parse_qs(parts.query).get("error") or parse_qs(parts.fragment).get("error")
        assert found and found[0] in SPEC_ERRORS, location


@pytest.fixture
def frp(make_rp: Callable[..., RP]) -> RP:
    return make_rp(grant_types=["authorization_code", "refresh_token", "client_credentials"])


@FUZZ
@given(data=params(AUTHORIZE_KEYS), method=st.sampled_from(["GET", "POST"]), own_client=st.booleans())
def test_authorize(frp: RP, data: dict[str, str], method: str, own_client: bool) -> None:
    if own_client:
        data = {"client_id": frp.client_id, "redirect_uri": frp.redirect_uri, **data}
    if method == "GET":
        resp = frp.browser.get("/authorize", query_string=data)
    else:
        resp = frp.browser.post("/authorize", data=data)
    _check_authorize(resp)


@FUZZ
@given(data=params(TOKEN_KEYS), authenticated=st.booleans())
def test_token(frp: RP, data: dict[str, str], authenticated: bool) -> None:
    if authenticated:
        _check_api(frp.client_post("/token", data))
    else:
        _check_api(frp.browser.post("/token", data=data))


@FUZZ
@given(header=st.one_of(st.text(max_size=60), st.builds(lambda t: "Bearer " + t, st.text(max_size=60)),
                        st.sampled_from(["Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "bearer x.y.z",
                                         "Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer " + "a" * 5000])),
       method=st.sampled_from(["GET", "POST"]))
def test_userinfo(frp: RP, header: str, method: str) -> None:
    header = "".join(ch for ch in header if ch not in "\r\n")  # header injection is the client's problem
    try:
        header.encode("latin-1")
    except UnicodeEncodeError:
        header = header.encode("utf-8").decode("latin-1")
    resp = frp.browser.open("/userinfo", method=method, headers={"Authorization": header})
    body = resp.get_data(as_text=True)
    assert resp.status_code < 500, (resp.status_code, body[:300])
    if resp.status_code == 401:
        # RFC 6750 3: the error is in WWW-Authenticate (and the JSON body when present).
        www = resp.headers.get("WWW-Authenticate", "")
        assert www.startswith("Bearer"), www
        data = resp.get_json(silent=True)
        if data:
            assert data.get("error") in SPEC_ERRORS, data
    elif resp.status_code >= 400:
        _check_api(resp)


@FUZZ
@given(data=params(TOKEN_KEYS_INTROSPECT), path=st.sampled_from(["/introspect", "/revoke"]),
       authenticated=st.booleans())
def test_introspect_and_revoke(frp: RP, data: dict[str, str], path: str, authenticated: bool) -> None:
    if authenticated:
        _check_api(frp.client_post(path, data))
    else:
        _check_api(frp.browser.post(path, data=data))


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), hostile),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
REGISTER_KEYS = ["redirect_uris", "client_name", "token_endpoint_auth_method", "grant_types", "response_types",
                 "scope", "jwks", "jwks_uri", "logo_uri", "client_uri", "policy_uri", "tos_uri", "contacts",
                 "application_type", "subject_type", "id_token_signed_response_alg", "post_logout_redirect_uris",
                 "backchannel_logout_uri", "backchannel_logout_session_required", "software_statement",
                 "sector_identifier_uri"]


@FUZZ
@given(body=st.one_of(st.dictionaries(st.sampled_from(REGISTER_KEYS), json_values, max_size=8), json_values),
       raw=st.one_of(st.none(), st.binary(max_size=50)))
def test_register(frp: RP, body: Any, raw: bytes | None) -> None:
    if raw is not None:
        resp = frp.browser.post("/register", data=raw, content_type="application/json")
    else:
        resp = frp.browser.post("/register", json=body)
    _check_api(resp)
