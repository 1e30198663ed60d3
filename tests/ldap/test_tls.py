"""TLS to the directory: ldaps:// and StartTLS verified against the configured CA, with host name checks."""

from __future__ import annotations

import pytest

from idp.sources.base import BadCredentials, SourceUnavailable

from .conftest import BUDI


def test_ldaps_with_the_right_ca(make_connector, slapd_main, ldap_certs):
    connector = make_connector([slapd_main.ldaps_url], LDAP_ALLOW_PLAINTEXT=False, LDAP_CA_FILE=ldap_certs.ca)
    assert connector.authenticate(*BUDI).attributes["username"] == "budi"
    with pytest.raises(BadCredentials):
        connector.authenticate("budi", "wrong-password")


def test_start_tls_with_the_right_ca(make_connector, slapd_main, ldap_certs):
    connector = make_connector([slapd_main.url], LDAP_ALLOW_PLAINTEXT=False, LDAP_START_TLS=True,
                               LDAP_CA_FILE=ldap_certs.ca)
    assert connector.authenticate(*BUDI).attributes["username"] == "budi"
    pooled = connector._idle[0]
    assert pooled.tls_started  # the service connection is encrypted too


@pytest.mark.parametrize("start_tls", [False, True])
def test_a_certificate_from_another_ca_is_refused(make_connector, slapd_main, ldap_certs, start_tls, caplog):
    url = slapd_main.url if start_tls else slapd_main.ldaps_url
    connector = make_connector([url], LDAP_ALLOW_PLAINTEXT=False, LDAP_START_TLS=start_tls,
                               LDAP_CA_FILE=ldap_certs.other_ca)
    with pytest.raises(SourceUnavailable):
        connector.authenticate(*BUDI)
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text and url in caplog.text  # the log names the server
    assert BUDI[1] not in caplog.text


def test_the_system_trust_store_does_not_know_the_test_ca(make_connector, slapd_main):
    connector = make_connector([slapd_main.ldaps_url], LDAP_ALLOW_PLAINTEXT=False)
    with pytest.raises(SourceUnavailable):
        connector.authenticate(*BUDI)


def test_host_name_must_match_the_certificate(make_connector, slapd_main, ldap_certs, caplog):
    """The certificate names IP:127.0.0.1 only: the same server reached as ``localhost`` is refused."""
    url = slapd_main.ldaps_url.replace("127.0.0.1", "localhost")
    connector = make_connector([url], LDAP_ALLOW_PLAINTEXT=False, LDAP_CA_FILE=ldap_certs.ca)
    with pytest.raises(SourceUnavailable):
        connector.authenticate(*BUDI)
    assert "Hostname mismatch" in caplog.text


def test_tls_failure_on_the_first_server_fails_over(make_connector, slapd_main, ldap_certs, slapd_spare):
    """A server whose certificate does not verify is skipped like a server that is down."""
    bad = slapd_main.ldaps_url.replace("127.0.0.1", "localhost")
    connector = make_connector([bad, slapd_main.ldaps_url], LDAP_ALLOW_PLAINTEXT=False, LDAP_CA_FILE=ldap_certs.ca)
    assert connector.authenticate(*BUDI).attributes["username"] == "budi"
