"""The outbound-fetch guard against IPv6 addresses that carry a private IPv4 address.

An attacker who controls a client's ``jwks_uri``, ``sector_identifier_uri`` or ``backchannel_logout_uri``
(or the DNS of its host) names an IPv6 address that Python's ``is_global`` accepts by its prefix alone,
while the packets end up at a loopback, private or metadata-service IPv4 address: NAT64 (RFC 6052,
RFC 8215), 6to4 (RFC 3056), IPv4-mapped and IPv4-compatible (RFC 4291), Teredo (RFC 4380).  Each must be
refused by the very function the fetches use (``client_auth._get``, which pins the checked address), and
at registration time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from authlib.oauth2.rfc6749 import InvalidClientError
from flask import Flask

from idp import net
from idp.oauth import client_auth, keys, registration
from tests.oauth.conftest import TEST_DATA_KEY

HOSTILE = [
    pytest.param("64:ff9b::7f00:1", id="nat64-loopback"),
    pytest.param("64:ff9b::a9fe:a9fe", id="nat64-metadata-service"),
    pytest.param("64:ff9b::a00:1", id="nat64-10/8"),
    pytest.param("64:ff9b::c0a8:101", id="nat64-192.168/16"),
    pytest.param("64:ff9b::6440:1", id="nat64-cgnat-100.64/10"),
    pytest.param("64:ff9b::e000:1", id="nat64-multicast"),
    pytest.param("64:ff9b:1::a00:1", id="nat64-local-use"),
    pytest.param("64:ff9b:1::808:808", id="nat64-local-use-public-v4"),
    pytest.param("2002:7f00:1::", id="6to4-loopback"),
    pytest.param("2002:a9fe:a9fe::1", id="6to4-metadata-service"),
    pytest.param("2002:a00:1::1", id="6to4-10/8"),
    pytest.param("2002:e000:1::1", id="6to4-multicast"),
    pytest.param("::ffff:127.0.0.1", id="mapped-loopback"),
    pytest.param("::ffff:169.254.169.254", id="mapped-metadata-service"),
    pytest.param("::ffff:10.0.0.1", id="mapped-10/8"),
    pytest.param("::127.0.0.1", id="compatible-loopback"),
    pytest.param("::a9fe:a9fe", id="compatible-metadata-service"),
    pytest.param("::8.8.8.8", id="compatible-public"),
    pytest.param("2001:0:4136:e378:8000:63bf:80ff:fffe", id="teredo"),
    pytest.param("2001::1", id="teredo-bare"),
]

# Still reachable: DNS64 on an IPv6-only network answers public hosts with 64:ff9b::<public IPv4>.
PUBLIC = ["8.8.8.8", "2001:4860:4860::8888", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"]


@pytest.fixture
def strict_app(make_app: Callable[..., Flask]) -> Flask:
    """Production-like rules: the loopback switch off (it is off by default; said here for the reader)."""
    app = make_app(DATA_KEYS=[TEST_DATA_KEY], JWKS_URI_ALLOW_LOOPBACK=False)
    with app.app_context():
        keys.ensure()
    return app


@pytest.mark.parametrize("address", HOSTILE)
def test_fetch_refuses_embedded_private_ipv4(strict_app: Flask, address: str) -> None:
    """``_get`` (jwks_uri and sector_identifier_uri; the back-channel POST pins with the same check)
    refuses before any connection is made."""
    with strict_app.app_context():
        assert not net.address_allowed(address)
        with pytest.raises(InvalidClientError, match="not allowed"):
            client_auth._get(f"https://[{address}]/jwks.json")
        with pytest.raises(net.Refused, match="not allowed"):
            net.pinned_address(address, 443)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_stay_allowed(strict_app: Flask, address: str) -> None:
    with strict_app.app_context():
        assert net.address_allowed(address)
        assert net.pinned_address(address, 443) == address


def _register(app: Flask, metadata: dict[str, Any]) -> Any:
    with app.app_context():
        token = registration.initial_access_token(expires_in=3600, max_uses=1)
    return app.test_client().post("/register", json=metadata, headers={"Authorization": f"Bearer {token}"})


GOOD = {"client_name": "Dinas Contoh", "redirect_uris": ["https://rp.example.org/cb"],
        "token_endpoint_auth_method": "client_secret_basic"}


@pytest.mark.parametrize("field,extra", [
    ("backchannel_logout_uri", {}),
    ("jwks_uri", {"token_endpoint_auth_method": "private_key_jwt"}),
    ("sector_identifier_uri", {"subject_type": "pairwise"}),
])
@pytest.mark.parametrize("address", HOSTILE)
def test_registration_refuses_embedded_private_ipv4(strict_app: Flask, field: str, extra: dict[str, Any],
                                                     address: str) -> None:
    resp = _register(strict_app, {**GOOD, **extra, field: f"https://[{address}]/x"})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["error"] == "invalid_client_metadata"
    assert field in body["error_description"] and "public host" in body["error_description"]


@pytest.mark.parametrize("address", ["64:ff9b::a9fe:a9fe", "2002:7f00:1::", "::127.0.0.1"])
def test_private_key_jwt_with_hostile_jwks_uri_is_refused(strict_app: Flask, address: str) -> None:
    """A client stored before the rule (no registration check) still cannot make the token endpoint fetch."""
    from tests.oauth.test_private_key_jwt import assertion, pkjwt_client, token_request

    cid = pkjwt_client(strict_app, jwks=None, jwks_uri=f"https://[{address}]/jwks.json")
    resp = token_request(strict_app, assertion(cid))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_client"
