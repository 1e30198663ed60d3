"""A headless Chromium per test (Debian's chromium + chromedriver, no downloads, no outside traffic).

Screenshots are test artefacts (issue 16): each test's go to ``test-artifacts/screenshots/<test name>/``
under the repository (``TEST_ARTIFACTS_DIR`` moves the ``test-artifacts`` folder), emptied when the test
starts; a failing test adds ``failure-<n>.png`` of every browser it had open.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
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


ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR") or Path(__file__).resolve().parents[2] / "test-artifacts")
_OPEN: list[Any] = []  # the browsers open now (for the screenshot of a failure)


def screenshot_folder(item: pytest.Item) -> Path:
    """Where the screenshots of ``item`` go: test-artifacts/screenshots/<test name>/."""
    return ARTIFACTS / "screenshots" / re.sub(r"[^\w.-]+", "_", item.name)


@pytest.fixture(autouse=True)
def _fresh_screenshots(request: pytest.FixtureRequest) -> None:
    """The folder holds this run's screenshots only."""
    shutil.rmtree(screenshot_folder(request.node), ignore_errors=True)


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Path:
    """This test's screenshot folder (created)."""
    folder = screenshot_folder(request.node)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failing test leaves a screenshot of every browser it had open (before the fixtures close them)."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or not _OPEN:
        return
    folder = screenshot_folder(item)
    folder.mkdir(parents=True, exist_ok=True)
    for number, driver in enumerate(list(_OPEN), 1):
        try:
            driver.save_screenshot(str(folder / f"failure-{number}.png"))
        except Exception as exc:  # noqa: BLE001 - a dead browser must not hide the test's own failure
            report.sections.append(("screenshot", f"no failure screenshot of browser {number}: {exc}"))
    report.sections.append(("screenshots", f"screenshots in {folder}"))


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
    _OPEN.append(driver)
    try:
        yield driver
    finally:
        _OPEN.remove(driver)
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
