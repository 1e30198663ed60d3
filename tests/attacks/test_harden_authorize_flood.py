"""Flooding ``/authorize`` without signing in: every request used to store a pending authorization
request for ``IDP_AUTH_REQUEST_TTL`` (30 minutes) with no limit, so anyone could fill the store.  Now
each client address (IPv6: its /64) may open ``IDP_AUTH_REQUESTS_PER_IP`` per minute and the provider
``IDP_AUTH_REQUESTS_MAX`` in all; beyond that the application gets ``temporarily_unavailable`` at its
redirect URI (RFC 6749 4.1.2.1), with ``state`` and ``iss``, and nothing is stored.  Both store backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.oauth import keys
from tests.helpers import english as browser
from tests.oauth import helpers
from tests.oauth.conftest import TEST_DATA_KEY

PER_IP = 5
TOTAL = 100


@pytest.fixture(params=["postgres", "sqlite"], ids=["redis-store", "memory-store"])
def flood_app(request: pytest.FixtureRequest, make_app: Callable[..., Flask]) -> Flask:
    app = make_app(request.param, DATA_KEYS=[TEST_DATA_KEY], AUTH_REQUESTS_PER_IP=PER_IP, AUTH_REQUESTS_MAX=TOTAL)
    with app.app_context():
        keys.ensure()
    return app


def authorize(client: FlaskClient, client_id: str, **extra: Any) -> Any:
    return client.get("/authorize", query_string={"response_type": "code", "client_id": client_id,
                                                   "redirect_uri": helpers.REDIRECT, "scope": "openid",
                                                   "state": "s-1", "nonce": "n-1", **extra})


def stored(resp: Any) -> bool:
    """True when the answer is the sign-in page's redirect (a pending request was stored)."""
    return resp.status_code == 302 and "/login?req=" in resp.headers["Location"]


def refused(resp: Any) -> dict[str, str]:
    assert resp.status_code == 302 and resp.headers["Location"].startswith(helpers.REDIRECT), resp.headers
    return helpers.query(resp.headers["Location"])


def test_one_address_is_bounded(flood_app: Flask) -> None:
    client_id, _ = helpers.create_client(flood_app)
    attacker = browser(flood_app, "203.0.113.7")
    assert all(stored(authorize(attacker, client_id)) for _ in range(PER_IP))
    for _ in range(3):
        answer = refused(authorize(attacker, client_id))
        assert answer["error"] == "temporarily_unavailable" and answer["state"] == "s-1"
        assert answer["iss"] == flood_app.extensions["idp"].config["ISSUER"]
    # Someone else is not affected.
    assert stored(authorize(browser(flood_app, "198.51.100.9"), client_id))


def test_an_ipv6_network_counts_as_one_address(flood_app: Flask) -> None:
    client_id, _ = helpers.create_client(flood_app)
    for i in range(PER_IP):
        assert stored(authorize(browser(flood_app, f"2001:db8:1:2::{i + 1:x}"), client_id))
    answer = refused(authorize(browser(flood_app, "2001:db8:1:2:ffff::1"), client_id))  # same /64
    assert answer["error"] == "temporarily_unavailable"
    assert stored(authorize(browser(flood_app, "2001:db8:1:3::1"), client_id))  # another /64


def test_many_addresses_meet_the_total_cap(flood_app: Flask) -> None:
    client_id, _ = helpers.create_client(flood_app)
    opened = 0
    for host in range(1, 200):
        if not stored(authorize(browser(flood_app, f"10.20.{host}.1"), client_id)):
            break
        opened += 1
    assert opened == TOTAL
    answer = refused(authorize(browser(flood_app, "10.99.0.1"), client_id))
    assert answer["error"] == "temporarily_unavailable" and "busy" in answer["error_description"]


def test_a_signed_in_person_still_gets_a_code(flood_app: Flask) -> None:
    """The normal flow: with a session no pending request is needed, so the limit does not stand in the way."""
    client_id, _ = helpers.create_client(flood_app, first_party=True)
    person_id, sub = helpers.create_person(flood_app)
    person = browser(flood_app, "203.0.113.8")
    for _ in range(PER_IP + 1):
        authorize(person, client_id)  # the address's allowance is used up
    helpers.sign_in(flood_app, person, person_id, sub)
    _verifier, challenge = helpers.pkce_pair()
    resp = authorize(person, client_id, code_challenge=challenge, code_challenge_method="S256")
    assert resp.status_code == 302 and "code" in helpers.query(resp.headers["Location"]), resp.headers
