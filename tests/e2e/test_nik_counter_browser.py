"""A NIK dispute settled at the service counter, in a real headless Chromium against the live provider (issue 15).

A squatter holds Budi's NIK (signed in, self-declared); the real Budi's registration only claims it.  An
officer (directory group mapped to ``officer``; the second factor is set up on the way, as the default
rule asks) finds the NIK, sees the holder and the claimant, checks Budi's KTP-el and verifies his account
in person: the NIK moves to Budi, the squatter is signed out, and Budi's own page says how and when.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from idp import passwords
from idp.extensions import db
from idp.models import CitizenAccount
from idp.sources.ldap import get_connector
from tests.oauth import helpers

from .conftest import directory_settings
from .sso_support import staff_sign_in
from .test_citizen_flow import wait_for

pytestmark = pytest.mark.e2e

NIK = "3604011205900002"
SQUATTER_PASSWORD = "teh manis hangat sore hari"  # noqa: S105 - test passwords
OWNER_PASSWORD = "kopi tubruk di pagi hari"  # noqa: S105


@pytest.fixture
def provider(live_server: Callable[..., Any], directory: Any) -> Iterator[Any]:
    """The live provider; budi's group maps to ``officer``, which needs a second factor (the default rule)."""
    settings = directory_settings(directory)
    settings["LDAP_GROUP_ROLES"] = settings["LDAP_GROUP_ROLES"].replace("=admin", "=officer")
    server = live_server(**settings)
    try:
        yield server
    finally:
        connector = get_connector(server.app)
        if connector is not None:
            connector.close()


def _accounts(app: Any) -> tuple[str, str]:
    """The squatter holds the NIK; the real owner's account only claims it. Their e-mail addresses."""
    with app.app_context():
        squatter_id, _ = helpers.create_person(app, name="Joko Penyerobot", email="joko@example.org", nik=NIK)
        owner_id, _ = helpers.create_person(app, name="Budi Santoso", email="budi.warga@example.org",
                                            nik="3604011205900099")  # replaced by the claim below
        by_person = select(CitizenAccount).where
        squatter = db.session.execute(by_person(CitizenAccount.person_id == squatter_id)).scalar_one()
        owner = db.session.execute(by_person(CitizenAccount.person_id == owner_id)).scalar_one()
        squatter.password_hash = passwords.hash(SQUATTER_PASSWORD)
        owner.password_hash = passwords.hash(OWNER_PASSWORD)
        owner.nik_enc, owner.nik_masked = squatter.nik_enc, squatter.nik_masked
        owner.nik_hash, owner.claimed_nik_hash = None, squatter.nik_hash
        db.session.commit()
        return squatter.email, owner.email


def _citizen_sign_in(driver: Any, idp: str, identifier: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{idp}/login")
    wait_for(driver, lambda d: d.find_elements(By.ID, "sign-in"), "the sign-in page")
    driver.find_element(By.NAME, "identifier").send_keys(identifier)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
    # The click does not wait for the answer: wait until the browser has left the sign-in page.
    wait_for(driver, lambda d: "/login" not in d.current_url, "the page after signing in")


def _verified_in_person(driver: Any) -> list[Any]:
    """The account page after the officer's click says "verified in person" (the page before the click has
    the same element with the old method: wait for the new page, not for the element)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        found = driver.find_elements(By.ID, "citizen-method")
        text = found[0].text if found else ""
    except StaleElementReferenceException:  # the old page went away under us
        return []
    return found if "Verified in person" in text or "Diverifikasi langsung" in text else []


def test_the_counter_moves_the_nik_to_the_person_with_the_card(browsers: Callable[[], Any], provider: Any) -> None:
    from selenium.webdriver.common.by import By

    idp, app = provider.url, provider.app
    squatter_email, owner_email = _accounts(app)

    squatter = browsers()
    _citizen_sign_in(squatter, idp, NIK, SQUATTER_PASSWORD)  # the NIK signs the squatter in, for now
    squatter.get(f"{idp}/account/nik")
    wait_for(squatter, lambda d: d.find_elements(By.ID, "nik-method"), "the squatter's NIK page")

    # The officer signs in with the directory password and sets up the authenticator app on the way.
    officer = browsers()
    officer.get(f"{idp}/officer?lang=en")  # the officer chooses English (the switch; the cookie keeps it)
    staff_sign_in(officer, "budi", "Budi-Pass-2026")
    secret_el = wait_for(officer, lambda d: d.find_elements(By.ID, "totp-secret"), "the two-step set-up page")
    officer.find_element(By.NAME, "code").send_keys(pyotp.TOTP(secret_el[0].text.replace(" ", "")).now())
    officer.find_element(By.ID, "two-step-confirm").click()
    wait_for(officer, lambda d: d.find_elements(By.ID, "recovery-codes"), "the recovery codes")

    # Budi shows his KTP-el: the officer types the NIK and the queue number.
    officer.get(f"{idp}/officer")
    wait_for(officer, lambda d: d.find_elements(By.ID, "officer-search"), "the counter console")
    officer.find_element(By.NAME, "nik").send_keys(NIK)
    officer.find_element(By.NAME, "reason").send_keys("Antrian B-042, MPP Serang")
    officer.find_element(By.ID, "officer-find").click()
    links = wait_for(officer, lambda d: d.find_elements(By.CSS_SELECTOR, "#accounts li"), "holder and claimant")
    assert len(links) == 2 and "holds the NIK" in links[0].text and "claims the NIK" in links[1].text
    assert NIK not in officer.page_source  # masked only
    links[1].find_element(By.CSS_SELECTOR, "a").click()
    wait_for(officer, lambda d: d.find_elements(By.ID, "citizen-claims"), "the claimant's page")
    officer.find_element(By.ID, "officer-checked").click()
    officer.find_element(By.NAME, "reason").send_keys("KTP-el asli diperiksa, foto cocok")
    officer.find_element(By.ID, "officer-mark-verified").click()
    method = wait_for(officer, _verified_in_person, "the verified account")
    assert method

    # The squatter is signed out; the NIK now signs in Budi, whose page says how and when it was proven.
    squatter.get(f"{idp}/account/nik")
    wait_for(squatter, lambda d: d.find_elements(By.ID, "sign-in"), "the sign-in page for the squatter")
    owner = browsers()
    _citizen_sign_in(owner, idp, NIK, OWNER_PASSWORD)
    owner.get(f"{idp}/account/nik")
    shown = wait_for(owner, lambda d: d.find_elements(By.ID, "nik-method"), "Budi's NIK page")
    assert "Verified in person" in shown[0].text or "Diverifikasi langsung" in shown[0].text
    assert owner.find_elements(By.ID, "nik-verified-at")
    with app.app_context():
        held = db.session.execute(select(CitizenAccount.email).where(CitizenAccount.nik_hash.is_not(None))
                                  ).scalars().all()
    assert held == [owner_email] and squatter_email not in held
