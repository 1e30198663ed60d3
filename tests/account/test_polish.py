"""Page polish found on a phone (issue 16): the remember-me checkbox inside its label, destructive buttons
marked, a cancel on the sign-out confirmation, an otpauth:// link beside the QR code, the start page
links to the account pages, the show-password toggle on every password field, the current page marked in
the account menu, every assurance level in words, one product name per language and one spelling of
e-mail.  The rules a new page could forget are checked by scanning the templates and the catalogue."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from gettext import GNUTranslations
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, render_template_string
from flask_babel import force_locale
from sqlalchemy import select

from idp import assurance
from idp.config import SETTINGS_BY_NAME
from idp.extensions import db
from idp.i18n import PRODUCT_NAME, PRODUCT_NAMES
from idp.models import CitizenAccount, Client
from idp.people import mfa
from idp.sources.ldap import get_connector
from idp.web.portal.forms import ACR_TEXT
from tests.admin.conftest import admin, post_form, set_up_totp, staff
from tests.citizen.helpers import outbox, sign_in
from tests.helpers import english
from tests.ldap.conftest import SITI, ldap_settings
from tests.oauth.helpers import create_client

from .conftest import signed_in_citizen


def test_the_remember_checkbox_sits_in_its_label(app: Flask) -> None:
    html = app.test_client().get("/login").get_data(as_text=True)
    assert re.search(r'<label for="remember" class="tap"><input[^>]*id="remember"', html)


def test_signed_in_pages(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    assert re.search(r'href="/account" id="account-link"', browser.get("/").get_data(as_text=True))
    assert 'class="danger" id="confirm-delete"' in browser.get("/account/delete").get_data(as_text=True)
    assert 'class="danger" id="sign-out-everywhere"' in browser.get("/account/sessions").get_data(as_text=True)
    setup = browser.get("/account/two-step/setup").get_data(as_text=True)
    assert re.search(r'<a href="otpauth://totp/[^"]+" id="totp-link">', setup)
    confirm = browser.get("/end_session").get_data(as_text=True)
    assert 'id="cancel-sign-out"' in confirm


def test_the_consent_page_names_the_account_and_the_applications_policies(app: Flask, make_rp: Any) -> None:
    rp = make_rp(first_party=False, policy_uri="https://app.example.org/privasi",
                 tos_uri="https://app.example.org/syarat")
    page = rp.authorize()
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="consent-account"' in html and "Siti Aminah" in html
    assert 'href="https://app.example.org/privasi"' in html and 'href="https://app.example.org/syarat"' in html


def test_assurance_levels_are_words(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    html = browser.get("/account/sessions").get_data(as_text=True)
    assert "urn:" not in html and "password" in html


# --- scans of the templates: a new page cannot forget the polish ----------------------------------------
ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
FORM = re.compile(r'<form\b((?:[^>"]|"[^"]*")*)>(.*?)</form>', re.S)
BUTTON = re.compile(r'<button\b((?:[^>"]|"[^"]*")*)>', re.S)
# A form posting to one of these actions removes, disables, revokes, deletes or ends something: its
# submit buttons carry class="danger" (red), and no other button does.  The rule is the endpoint's name:
# a view named so is destructive.  The sign-out confirmation (oauth.end_session) is the person's own
# request to leave this browser, its primary action, not a destructive one.
DESTRUCTIVE = re.compile(r"\.(delete|remove|revoke|disable|unlink|withdraw|lock|end_|not_me)\w*$")
NOT_DESTRUCTIVE = frozenset({"oauth.end_session"})


def _templates(*suffixes: str) -> list[Path]:
    return sorted(p for p in TEMPLATES.rglob("*") if p.suffix in suffixes and "examples" not in p.parts)


def _attr(tag: str, name: str) -> str | None:
    found = re.search(r"\b" + name + r'="([^"]*)"', tag)
    return found.group(1) if found else None


def _submit_buttons() -> list[tuple[str, str, list[str]]]:
    """(template, endpoint or literal action, classes) of every submit button of a POST form."""
    out = []
    for path in _templates(".html"):
        for form in FORM.finditer(path.read_text()):
            if (_attr(form.group(1), "method") or "").lower() != "post":
                continue
            for button in BUTTON.finditer(form.group(2)):
                if _attr(button.group(1), "type") == "button":
                    continue
                action = _attr(button.group(1), "formaction") or _attr(form.group(1), "action") or ""
                endpoint = re.search(r"url_for\('([\w.]+)'", action)
                out.append((path.relative_to(TEMPLATES).as_posix(), endpoint.group(1) if endpoint else action,
                            (_attr(button.group(1), "class") or "").split()))
    return out


def test_every_page_with_a_password_field_offers_the_show_password_toggle() -> None:
    pages = [p for p in _templates(".html") if re.search(r"""type=["']?password\b""", p.read_text())]
    names = {p.relative_to(TEMPLATES).as_posix() for p in pages}
    assert {"auth/login.html", "account/password.html", "linking/link.html", "auth/verify.html"} <= names
    missing = [n for p, n in zip(pages, sorted(names), strict=True)
               if '{% include "_show_password.html" %}' not in p.read_text()]
    assert not missing, f"password fields without the show-password toggle: {missing}"


def test_the_toggle_script_is_on_the_change_password_page(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    html = browser.get("/account/password").get_data(as_text=True)
    assert 'type="password"' in html and "/static/js/show_password.js" in html


def test_destructive_buttons_are_marked_and_only_they() -> None:
    buttons = _submit_buttons()
    assert len(buttons) > 50  # the scan found the forms
    unmarked = [(t, e) for t, e, classes in buttons
                if DESTRUCTIVE.search(e) and e not in NOT_DESTRUCTIVE and "danger" not in classes]
    assert not unmarked, f"destructive actions without class=danger: {unmarked}"
    stray = [(t, e) for t, e, classes in buttons
             if "danger" in classes and not (DESTRUCTIVE.search(e) and e not in NOT_DESTRUCTIVE)]
    assert not stray, f"class=danger on actions that destroy nothing: {stray}"
    # Every action the brief named is covered by the rule (a renamed view must not slip out of it).
    covered = {e for _, e, _ in buttons if DESTRUCTIVE.search(e)}
    assert {"mfa.disable", "passkeys.remove", "account.revoke_app", "linking.unlink", "portal.delete",
            "portal.disable", "portal.remove_member", "portal.revoke_grant", "admin.delete_client",
            "admin.disable_client", "admin.end_sessions", "admin.lock", "account.end_everywhere",
            "account.delete_account"} <= covered
    css = (ROOT / "idp/static/css/idp.css").read_text()
    assert re.search(r"button\.danger[^{]*\{[^}]*background: #b3261e", css)


def test_each_account_page_marks_exactly_its_own_menu_entry(app: Flask) -> None:
    browser, _ = signed_in_citizen(app)
    menu = re.search(r'<nav class="account-nav".*?</nav>', browser.get("/account").get_data(as_text=True), re.S)
    assert menu is not None
    entries = re.findall(r'<a href="([^"]+)"', menu.group(0))
    assert len(entries) >= 10 and "/account" in entries
    for href in entries:
        page = browser.get(href)
        assert page.status_code == 200, (href, page.status_code)
        nav = re.search(r'<nav class="account-nav".*?</nav>', page.get_data(as_text=True), re.S)
        assert nav is not None, href
        assert re.findall(r'<a href="([^"]+)" aria-current="page"', nav.group(0)) == [href]
    # Shown by more than colour (WCAG 1.4.1): bold and a bar under it.
    css = (ROOT / "idp/static/css/idp.css").read_text()
    rule = re.search(r'\.account-nav \[aria-current="page"\] \{([^}]*)\}', css)
    assert rule is not None and "font-weight: 700" in rule.group(1) and "border-bottom: 3px solid" in rule.group(1)


# --- assurance levels in words -------------------------------------------------------------------------
def _words(app: Flask, acr: str, locale: str) -> str:
    with app.test_request_context("/"), force_locale(locale):
        return render_template_string('{% from "_acr.html" import acr_words %}{{ acr_words(acr) }}', acr=acr)


def test_every_acr_value_has_words_in_both_languages(app: Flask) -> None:
    assert set(assurance.WORDS) == set(assurance.LEVELS)  # one table of every value the provider issues
    with app.app_context():
        discovered = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert set(discovered["acr_values_supported"]) <= set(assurance.WORDS)
    assert all(assurance.WORDS[acr].nik for acr in assurance.NIK_LEVELS)  # an account's NIK proof, too
    for acr in assurance.LEVELS:
        english_words, indonesian = _words(app, acr, "en"), _words(app, acr, "id")
        assert english_words == str(assurance.WORDS[acr].signed_in) and english_words != "unknown"
        assert indonesian and indonesian != english_words and "urn:" not in indonesian + english_words
        policy = {}
        for lang in ("en", "id"):
            with app.test_request_context("/"), force_locale(lang):
                policy[lang] = str(ACR_TEXT[acr])
        assert policy["en"] == str(assurance.WORDS[acr].policy) != policy["id"]  # translated
        assert "urn:" not in policy["en"] + policy["id"]


@pytest.fixture
def staff_app(oauth_app: Callable[..., Flask], slapd_main: Any) -> Iterator[Flask]:
    """The provider with the test directory (budi is an administrator) and signing keys."""
    made = oauth_app(**ldap_settings([slapd_main.url]))
    yield made
    found = get_connector(made)
    if found is not None:
        found.close()


def _set_account(app: Flask, email: str, **values: Any) -> tuple[int, str | None]:
    """Change the citizen's account row (what an officer's or the registry's proof would set); the person's
    id and the NIK hash before the change."""
    with app.app_context():
        account = db.session.scalar(select(CitizenAccount).where(CitizenAccount.email == email))
        assert account is not None
        before = account.nik_hash
        for name, value in values.items():
            setattr(account, name, value)
        db.session.commit()
        return int(account.person_id), before


def test_every_acr_value_reads_as_words_on_sessions_person_and_clients_pages(staff_app: Flask) -> None:
    app = staff_app
    first, citizen = signed_in_citizen(app)
    assert sign_in(english(app), citizen).status_code == 303  # citizen
    person_id, _ = _set_account(app, citizen.email, assurance=assurance.CITIZEN_REGISTRY)
    assert sign_in(english(app), citizen).status_code == 303  # citizen-registry
    _set_account(app, citizen.email, assurance=assurance.CITIZEN_IN_PERSON)
    assert sign_in(english(app), citizen).status_code == 303  # citizen-in-person
    _, nik_hash = _set_account(app, citizen.email, nik_hash=None)  # only claims its NIK: citizen-review
    assert sign_in(english(app), citizen.email, citizen.password).status_code == 303
    _set_account(app, citizen.email, nik_hash=nik_hash)
    set_up_totp(first)  # the first session: mfa (last: with a second factor the others would need it too)
    siti = staff(app, SITI)  # staff
    budi = admin(app)  # mfa

    citizen_levels = [assurance.CITIZEN_REVIEW, assurance.CITIZEN, assurance.CITIZEN_REGISTRY,
                      assurance.CITIZEN_IN_PERSON, assurance.MFA]
    own = first.get("/account/sessions").get_data(as_text=True)
    person = budi.get(f"/admin/people/{person_id}").get_data(as_text=True)
    for html in (own, person):
        for acr in citizen_levels:
            assert f"· {assurance.WORDS[acr].signed_in}</span>" in html, (acr, html[:3000])
    assert f"· {assurance.WORDS[assurance.CITIZEN_IN_PERSON].nik}" in person  # the account's NIK level
    staff_sessions = siti.get("/account/sessions").get_data(as_text=True)
    assert f"· {assurance.WORDS[assurance.STAFF].signed_in}</span>" in staff_sessions

    client_id, _ = create_client(app)
    with app.app_context():
        client_pk = db.session.scalar(select(Client.id).where(Client.client_id == client_id))
    for acr in assurance.LEVELS:
        saved = post_form(budi, "/admin/clients", f"/admin/clients/{client_pk}/policy",
                          {"required_person_type": "any", "required_acr": acr})
        assert saved.status_code == 303, saved.get_data(as_text=True)[:2000]
        listed = budi.get("/admin/clients").get_data(as_text=True)
        summary = re.search(rf'<details id="policy-{client_pk}"><summary>(.*?)</summary>', listed, re.S)
        assert summary is not None and f"· {assurance.WORDS[acr].policy}" in summary.group(1)
        assert re.search(rf'<option value="{re.escape(acr)}" selected>', listed)  # a save keeps it
    for browser, page in ((first, "/account/sessions"), (budi, f"/admin/people/{person_id}"),
                          (budi, "/admin/clients")):
        for lang in ("en", "id"):
            html = browser.get(f"{page}?lang={lang}").get_data(as_text=True)
            assert not re.search(r"· (unknown|tidak diketahui)</span>", html), (page, lang)
            assert "urn:" not in re.sub(r'<option value="urn:[^"]+"', "", html), (page, lang)



# --- one product name per language, one spelling of e-mail ------------------------------------------------
# Every spelling of the product's name seen before issue 16; the name itself is idp.i18n.PRODUCT_NAMES.
NAME_VARIANTS = re.compile(r"Single Sign-On|SSO Provinsi|Banten SSO|SSO Banten")  # the province itself is no variant


def _catalogue() -> dict[str, str]:
    with (ROOT / "idp/translations/id/LC_MESSAGES/messages.mo").open("rb") as fh:
        compiled = GNUTranslations(fh)
    return {str(k): str(v) for k, v in compiled._catalog.items() if k}  # type: ignore[attr-defined]


def test_templates_say_the_product_name_only_through_the_constant() -> None:
    written = [p.relative_to(TEMPLATES).as_posix() for p in _templates(".html", ".txt")
               if NAME_VARIANTS.search(p.read_text())]
    assert not written, f"templates spelling the product's name out (use {{{{ product }}}}): {written}"


def test_the_catalogue_has_one_name_per_language_and_one_spelling_of_email() -> None:
    catalogue = _catalogue()
    assert len(catalogue) > 500
    for english_text, indonesian in catalogue.items():
        names = set(NAME_VARIANTS.findall(english_text))
        assert names <= {PRODUCT_NAMES["en"]}, english_text
        assert set(NAME_VARIANTS.findall(indonesian)) <= {PRODUCT_NAMES["id"]}, indonesian
        assert "e-mail" not in indonesian.lower(), indonesian  # Indonesian: "email"
        assert not re.search(r"\bemail\b", english_text, re.I), english_text  # English: "e-mail"


def test_the_product_name_in_each_language(app: Flask) -> None:
    assert PRODUCT_NAME == PRODUCT_NAMES["id"] == "SSO Banten" and PRODUCT_NAMES["en"] == "Banten SSO"
    assert SETTINGS_BY_NAME["MAIL_FROM"].default.startswith(PRODUCT_NAME + " <") and mfa.ISSUER_NAME == PRODUCT_NAME
    indonesian = app.test_client().get("/").get_data(as_text=True)
    assert "<title>SSO Banten</title>" in indonesian and "<h1>SSO Banten</h1>" in indonesian
    english_home = english(app).get("/").get_data(as_text=True)
    assert "<title>Banten SSO</title>" in english_home and "<h1>Banten SSO</h1>" in english_home
    assert re.search(r"<title>[^<·]+ · Banten SSO</title>", english(app).get("/login").get_data(as_text=True))
    # A mail: its subject in both languages, each with its own name.
    signed_in_citizen(app)
    subjects = [str(m["Subject"]) for m in outbox(app)]
    assert "Konfirmasi alamat email Anda untuk SSO Banten / Confirm your e-mail address for Banten SSO" in subjects
