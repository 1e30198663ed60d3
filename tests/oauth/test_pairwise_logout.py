"""Pairwise clients (OIDC Core 8.1) get their own ``sub`` in logout tokens too, and their ID tokens work
as ``id_token_hint`` for ``prompt=none`` (the hint is compared after mapping the person's subject)."""

from __future__ import annotations

from idp.people import pairwise

from . import helpers
from . import test_backchannel as bc
from .test_backchannel import check_logout_token, deliver, logout, verify

app = bc.app  # loopback receivers allowed, delivery driven by the test
receivers = bc.receivers


def test_logout_token_carries_the_pairwise_sub(app, make_rp, receivers) -> None:
    recv = receivers()
    rp = make_rp(backchannel_logout_uri=recv.url, subject_type="pairwise")
    id_token = rp.tokens()["id_token"]
    claims = verify(app, id_token)[1]
    with app.app_context():
        expected = pairwise.subject_for({"subject_type": "pairwise", "redirect_uris": [rp.redirect_uri]}, rp.sub)
    assert claims["sub"] == expected != rp.sub
    logout(rp, id_token)
    assert deliver(app) == {"delivered": 1}
    check_logout_token(app, recv.tokens()[0], aud=rp.client_id, sid=claims["sid"], sub=expected)


def test_pairwise_id_token_hint_matches_the_session(app, make_rp) -> None:
    rp = make_rp(subject_type="pairwise")
    id_token = rp.tokens()["id_token"]
    resp = rp.authorize(prompt="none", id_token_hint=id_token)
    assert resp.status_code == 302 and "code" in helpers.query(resp.headers["Location"])
    # Another person's session in this browser: the hint no longer matches.
    other_id, other_sub = helpers.create_person(app, nik="3603015501900077")
    helpers.sign_in(app, rp.browser, other_id, other_sub)
    resp = rp.authorize(prompt="none", id_token_hint=id_token)
    assert helpers.query(resp.headers["Location"]).get("error") == "login_required"
