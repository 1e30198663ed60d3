"""The consent page: shown, remembered per client and scopes, prompt=consent, deny, CSRF."""

from __future__ import annotations

import re

import pytest

from idp.extensions import db
from idp.models import Consent

from . import helpers


def _form(resp) -> dict[str, str]:
    assert resp.status_code == 200, resp.headers.get("Location")
    html = resp.get_data(as_text=True)
    return {"req": re.search(r'name="req" value="([^"]+)"', html).group(1),
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)}


def _decide(rp, resp, decision: str):
    return rp.browser.post("/authorize/consent", data={**_form(resp), "decision": decision})


@pytest.fixture
def third(make_rp):
    return make_rp(first_party=False, client_name="Aplikasi Perizinan", logo_uri="https://rp.example.org/logo.png",
                   policy_uri="https://rp.example.org/privacy", tos_uri="https://rp.example.org/terms")


def test_consent_page_content(third) -> None:
    resp = third.authorize(scope="openid profile email", ui_locales="en")
    html = resp.get_data(as_text=True)
    assert "Aplikasi Perizinan" in html
    assert 'src="https://rp.example.org/logo.png"' in html
    assert "https://rp.example.org/privacy" in html and "https://rp.example.org/terms" in html
    assert "Your e-mail address" in html and "Your name" in html
    assert "Allow" in html and "Deny" in html and 'name="csrf_token"' in html
    assert resp.headers["Cache-Control"] == "no-store"


def test_allow_issues_code_and_is_remembered(third) -> None:
    resp = _decide(third, third.authorize(), "allow")
    q = helpers.query(resp.headers["Location"])
    assert q["code"] and q["state"] == "st-123" and q["iss"]
    with third.app.app_context():
        consent = db.session.query(Consent).one()
        assert set(consent.scopes.split()) == {"openid", "profile", "email"}
    # Remembered: no page for the same (or fewer) scopes.
    assert "code" in helpers.query(third.authorize(scope="openid email").headers["Location"])
    # A new scope asks again.
    assert third.authorize(scope="openid email offline_access").status_code == 200


def test_prompt_consent_always_shows_page(third, make_rp) -> None:
    _decide(third, third.authorize(), "allow")
    assert third.authorize(prompt="consent").status_code == 200
    first = make_rp(first_party=True)
    assert first.authorize(prompt="consent").status_code == 200
    assert first.authorize().status_code == 302  # first-party: no page otherwise


def test_deny_is_access_denied(third) -> None:
    resp = _decide(third, third.authorize(), "deny")
    q = helpers.query(resp.headers["Location"])
    assert q["error"] == "access_denied" and q["state"] == "st-123" and q["iss"]
    with third.app.app_context():
        assert db.session.query(Consent).count() == 0


def test_deny_with_form_post(third) -> None:
    resp = _decide(third, third.authorize(response_mode="form_post"), "deny")
    assert resp.status_code == 200 and 'name="error" value="access_denied"' in resp.get_data(as_text=True)


def test_consent_needs_csrf(third) -> None:
    form = _form(third.authorize())
    resp = third.browser.post("/authorize/consent", data={"req": form["req"], "decision": "allow"})
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_consent_from_another_browser_session(third) -> None:
    form = _form(third.authorize())
    third.sign_in()  # a different session in the same browser
    resp = third.browser.post("/authorize/consent", data={**form, "decision": "allow"})
    assert resp.status_code == 400 and "Location" not in resp.headers


@pytest.mark.parametrize("req", ["", "unknown", "' OR 1=1 --", "x" * 3000])
def test_consent_with_bad_request_id(third, req) -> None:
    form = _form(third.authorize())
    resp = third.browser.post("/authorize/consent", data={**form, "req": req, "decision": "allow"})
    assert resp.status_code in (400, 413) and "Location" not in resp.headers


def test_consent_is_single_use(third) -> None:
    resp = third.authorize()
    form = _form(resp)
    assert third.browser.post("/authorize/consent", data={**form, "decision": "allow"}).status_code == 302
    assert third.browser.post("/authorize/consent", data={**form, "decision": "allow"}).status_code == 400


def test_hostile_client_metadata_is_escaped(make_rp) -> None:
    rp = make_rp(first_party=False, client_name='<img src=x onerror=alert(1)>',
                 logo_uri="javascript:alert(1)", policy_uri="javascript:alert(2)")
    html = rp.authorize().get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "javascript:" not in html


def test_sensitive_scope_not_shown_to_unapproved_client(third) -> None:
    html = third.authorize(scope="openid nik", ui_locales="en").get_data(as_text=True)
    assert "NIK" not in html


def test_language_switch_on_consent_page_after_sign_in(make_rp) -> None:
    rp = make_rp(first_party=False, signed_in=False)
    req = helpers.query(rp.authorize().headers["Location"])["req"]
    rp.sign_in()
    page = rp.browser.get(f"/authorize/resume?req={req}")  # Indonesian: the default
    assert page.status_code == 200
    link = re.search(r'href="(\?[^"]*lang=en[^"]*)"', page.get_data(as_text=True)).group(1).replace("&amp;", "&")
    english = rp.browser.get("/authorize/resume" + link)
    assert english.status_code == 200 and '<html lang="en">' in english.get_data(as_text=True)
    resp = _decide(rp, english, "allow")
    assert "code" in helpers.query(resp.headers["Location"])
    assert rp.browser.get(f"/authorize/resume?req={req}").status_code == 400  # answered: gone
