"""Directory servers that stop, restart or hang: failover within one sign-in, timeouts, reconnection."""

from __future__ import annotations

import time

import pytest

from idp.sources.base import BadCredentials, SourceUnavailable

from .conftest import BUDI, closed_port_url


def test_failover_to_the_second_server_when_the_first_stops(make_connector, slapd_spare, slapd_main):
    """FIRST strategy: the spare answers while it runs; once stopped, the same sign-in goes to the next."""
    connector = make_connector([slapd_spare.url, slapd_main.url])
    on_spare = connector.authenticate(*BUDI)  # two seeded copies: each has its own entryUUID
    slapd_spare.stop()
    started = time.monotonic()
    on_main = connector.authenticate(*BUDI)
    assert time.monotonic() - started < 2  # refused connections fail over at once
    assert on_main.subject != on_spare.subject
    assert on_main.subject == make_connector([slapd_main.url]).authenticate(*BUDI).subject
    # Wrong passwords are still wrong on the second server (no failover for a refusal).
    with pytest.raises(BadCredentials):
        connector.authenticate("budi", "wrong-password")


def test_first_server_down_from_the_start(make_connector, slapd_main):
    connector = make_connector([closed_port_url(), slapd_main.url])
    assert connector.authenticate(*BUDI).attributes["username"] == "budi"


def test_service_connection_survives_a_restart(make_connector, slapd_spare):
    """The pooled service connection dies with the server; the next sign-in reconnects by itself."""
    connector = make_connector([slapd_spare.url])
    subject = connector.authenticate(*BUDI).subject
    slapd_spare.stop()
    with pytest.raises(SourceUnavailable):
        connector.authenticate(*BUDI)
    slapd_spare.start()
    assert connector.authenticate(*BUDI).subject == subject


def test_restart_without_downtime_seen_by_the_pool(make_connector, slapd_spare):
    """The server restarts between two sign-ins: the stale pooled connection is replaced silently."""
    connector = make_connector([slapd_spare.url])
    subject = connector.authenticate(*BUDI).subject
    slapd_spare.stop()
    slapd_spare.start()
    assert connector.authenticate(*BUDI).subject == subject


def test_hung_server_hits_the_receive_timeout(make_connector, hung_server):
    """A server that accepts and never answers costs the configured seconds, then 'unavailable'."""
    connector = make_connector([hung_server.url], LDAP_RECEIVE_TIMEOUT=1, LDAP_CONNECT_TIMEOUT=1)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable):
        connector.authenticate(*BUDI)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3.5, elapsed  # one receive timeout per attempt; never ldap3's 10 s pool sleep
    assert hung_server.accepted  # it was really tried


def test_hung_first_server_fails_over_within_the_same_sign_in(make_connector, hung_server, slapd_main):
    connector = make_connector([hung_server.url, slapd_main.url], LDAP_RECEIVE_TIMEOUT=1)
    started = time.monotonic()
    assert connector.authenticate(*BUDI).attributes["username"] == "budi"
    assert time.monotonic() - started < 2.5
    # The hung server stays out of the pool for a while: the next sign-in does not wait again.
    started = time.monotonic()
    assert connector.authenticate(*BUDI).attributes["username"] == "budi"
    assert time.monotonic() - started < 0.5


def test_every_server_down_is_unavailable_quickly(make_connector):
    connector = make_connector([closed_port_url(), closed_port_url(), closed_port_url()])
    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(SourceUnavailable):
            connector.authenticate(*BUDI)
        assert time.monotonic() - started < 1.5
