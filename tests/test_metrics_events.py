"""The counters fed from the sign-in limits, the directory and back-channel delivery (issue 8)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from idp.oauth import backchannel
from tests.citizen.helpers import make_nik, sign_in
from tests.oauth.test_backchannel import Receiver
from tests.test_metrics import sample, scrape

from .oauth.conftest import RP, make_rp, oauth_app  # noqa: F401 - fixtures


def test_locked_sign_ins_are_counted(oauth_app: Callable[..., Flask]) -> None:  # noqa: F811
    app = oauth_app(LOGIN_MAX_FAILURES=3)
    before = scrape(app)
    browser = app.test_client()
    nik = make_nik()
    codes = [sign_in(browser, nik, "wrong").status_code for _ in range(4)]
    assert codes == [401, 401, 429, 429]
    after = scrape(app)
    locked = sample(after, "idp_sign_ins_total", source="citizen", result="locked")
    assert locked - sample(before, "idp_sign_ins_total", source="citizen", result="locked") == 1


@pytest.fixture
def app(oauth_app: Callable[..., Flask]) -> Flask:  # noqa: F811
    """The app make_rp signs in to: loopback back-channel receivers allowed."""
    return oauth_app(JWKS_URI_ALLOW_LOOPBACK=True)


def test_backchannel_deliveries_are_counted(app: Flask, make_rp) -> None:  # noqa: F811
    receiver = Receiver().start()
    try:
        rp = make_rp(backchannel_logout_uri=receiver.url)
        id_token = rp.tokens()["id_token"]
        rp.browser.get("/end_session", query_string={"id_token_hint": id_token})
        before = scrape(app)
        with app.app_context():
            assert dict(backchannel.deliver()) == {"delivered": 1}
        after = scrape(app)
        assert sample(after, "idp_backchannel_deliveries_total", outcome="delivered") - \
            sample(before, "idp_backchannel_deliveries_total", outcome="delivered") == 1
    finally:
        receiver.stop()
