"""A headless Chromium per test (Debian's chromium + chromedriver, no downloads, no outside traffic)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--no-first-run", "--disable-quic",
         # A phone set to English: the provider's pages are still Indonesian until the person chooses
         # (issue 16); a test that reads English text chooses it with the switch (?lang=en).
         "--lang=en-US")


@pytest.fixture(scope="module")
def directory() -> Iterator[Any]:
    """A private, seeded slapd for the staff tests of one module (never the system instance)."""
    from tests.ldap import slapd as slapd_module

    server = slapd_module.start_slapd()
    yield server
    server.destroy()


def directory_settings(directory: Any) -> dict[str, Any]:
    """The live provider's settings for ``directory`` (plain ldap:// on loopback; ``idp-admins`` -> admin)."""
    from tests.ldap import slapd as slapd_module

    return {"LDAP_URLS": [directory.url], "LDAP_ALLOW_PLAINTEXT": True, "LDAP_BIND_DN": slapd_module.SERVICE_DN,
            "LDAP_BIND_PASSWORD": slapd_module.SERVICE_PASSWORD, "LDAP_USER_BASE": slapd_module.PEOPLE,
            "LDAP_ATTR_DISABLED": "employeeType", "LDAP_CONNECT_TIMEOUT": 2, "LDAP_RECEIVE_TIMEOUT": 2,
            "LDAP_GROUP_ROLES": f"cn=idp-admins,{slapd_module.GROUPS}=admin"}


@pytest.fixture
def browser() -> Iterator[object]:
    """A phone-sized (390x844) headless Chromium driven by Selenium; quit at teardown."""
    with _chromium() as driver:
        yield driver


@pytest.fixture
def browsers() -> Iterator[Callable[[], object]]:
    """A factory of separate headless Chromium instances (separate profiles: separate sessions)."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(_chromium())


@contextmanager
def _chromium() -> Iterator[object]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager try to download a driver
    home = os.environ.get("HOME", "")
    if not home or not os.access(home, os.W_OK):
        os.environ["HOME"] = tempfile.mkdtemp(prefix="e2e-home-")
    profile = tempfile.mkdtemp(prefix="e2e-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=390,844")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(390, 844)
    driver.implicitly_wait(2)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
