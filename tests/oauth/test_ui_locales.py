"""The application's ``ui_locales`` (OpenID Connect Core 3.1.2.1) chooses the language of the provider's
pages for its user; without it the pages are Indonesian, whatever the browser's Accept-Language says
(issue 16; the person's own choice is tests/test_i18n.py)."""

from __future__ import annotations

from collections.abc import Callable

from idp.i18n import LANG_COOKIE
from tests.helpers import PHONE_IN_ENGLISH, choose_indonesian, language_switch

from .conftest import RP


def test_ui_locales_from_the_application_gives_english(make_rp: Callable[..., RP]) -> None:
    """OpenID Connect Core 3.1.2.1: the application chose English for its user; it wins over the browser
    and over an earlier choice of Indonesian here, also once the request waits for the sign-in."""
    rp = make_rp(signed_in=False)
    choose_indonesian(rp.browser)
    resp = rp.browser.get("/authorize", query_string=rp.auth_params(ui_locales="en-US en"), headers=PHONE_IN_ENGLISH)
    assert resp.status_code in (302, 303) and "/login?req=" in resp.headers["Location"]
    rp.browser.delete_cookie(LANG_COOKIE)  # the stored request alone says English
    login = rp.browser.get(resp.headers["Location"], headers={"Accept-Language": "id"}).get_data(as_text=True)
    assert '<html lang="en">' in login and language_switch(login)[0] == "id"


def test_without_ui_locales_the_sign_in_for_an_application_is_indonesian(make_rp: Callable[..., RP]) -> None:
    rp = make_rp(signed_in=False)
    resp = rp.browser.get("/authorize", query_string=rp.auth_params(), headers=PHONE_IN_ENGLISH)
    login = rp.browser.get(resp.headers["Location"], headers=PHONE_IN_ENGLISH).get_data(as_text=True)
    assert '<html lang="id">' in login and language_switch(login)[0] == "en"


def test_ui_locales_of_an_authorization_request_sent_by_post(make_rp: Callable[..., RP]) -> None:
    """OpenID Connect Core 3.1.2.1 also allows POST to /authorize: its ui_locales chooses English too, and
    the choice is remembered as for a GET."""
    rp = make_rp(signed_in=False)
    resp = rp.authorize("POST", ui_locales="en")
    assert resp.status_code == 303 and "ui_locales=en" in resp.headers["Location"]  # the same request, by GET
    resp = rp.browser.get(resp.headers["Location"], headers=PHONE_IN_ENGLISH)
    assert resp.status_code in (302, 303) and "/login?req=" in resp.headers["Location"]
    cookie = rp.browser.get_cookie(LANG_COOKIE)
    assert cookie is not None and cookie.value == "en"
    login = rp.browser.get(resp.headers["Location"], headers=PHONE_IN_ENGLISH).get_data(as_text=True)
    assert '<html lang="en">' in login
