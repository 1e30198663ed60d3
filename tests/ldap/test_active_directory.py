"""The Active Directory preset's decoding rules (no AD server here: the entry shapes AD returns).

objectGUID is 16 bytes in little-endian GUID order; userAccountControl bit 0x2 means disabled;
``lockoutTime`` > 0 means locked; Who am I? answers ``u:DOMAIN\\sAMAccountName``.  The bind failure
"data" codes are parsed from the diagnostic message of result 49.
"""

from __future__ import annotations

import logging
import uuid

import pytest

from idp.sources.ldap import _AD_DATA, AD_DATA_REASONS, Entry, _ppolicy_error

from .conftest import BUDI, closed_port_url

GUID = uuid.UUID("2f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8")


@pytest.fixture
def ad(make_connector):
    return make_connector(["ldaps://dc1.bantenprov.go.id"], LDAP_PRESET="activedirectory", LDAP_ALLOW_PLAINTEXT=False,
                          LDAP_ATTR_DISABLED="")


def entry(**attrs: list[bytes]) -> Entry:
    return Entry(dn="CN=Budi Santoso,OU=Diskominfo,DC=banten,DC=local",
                 raw={k.lower(): v for k, v in attrs.items()})


def test_object_guid_is_the_subject(ad):
    assert ad.subject_of(entry(objectGUID=[GUID.bytes_le])) == str(GUID)
    assert ad.subject_of(entry()) is None


@pytest.mark.parametrize(
    ("attrs", "state"),
    [
        ({"userAccountControl": [b"512"]}, "active"),  # NORMAL_ACCOUNT
        ({"userAccountControl": [b"514"]}, "disabled"),  # NORMAL_ACCOUNT | ACCOUNTDISABLE
        ({"userAccountControl": [b"66050"]}, "disabled"),  # ... | DONT_EXPIRE_PASSWORD
        ({"userAccountControl": [b"512"], "lockoutTime": [b"0"]}, "active"),
        ({"userAccountControl": [b"512"], "lockoutTime": [b"133512345678901234"]}, "locked"),
        ({"userAccountControl": [b"not a number"]}, "active"),
    ],
)
def test_account_state(ad, attrs, state):
    assert ad.state_of(entry(**attrs)) == state


@pytest.mark.parametrize(
    ("who", "same"),
    [
        ("u:BANTEN\\budi", True),
        ("u:banten\\BUDI", True),
        ("u:BANTEN\\siti", False),
        ("dn:CN=Budi Santoso,OU=Diskominfo,DC=banten,DC=local", True),
        ("dn:cn=budi santoso, ou=diskominfo, dc=banten, dc=local", True),
        ("dn:CN=Siti,OU=Diskominfo,DC=banten,DC=local", False),
        ("", False),
        (None, False),
        ("budi", False),
    ],
)
def test_who_am_i_must_name_the_entry(ad, who, same):
    assert ad._same_entry(who, entry(sAMAccountName=[b"budi"])) is same


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 532, v4563", "password_expired"),
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 773, v4563", "must_change"),
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533, v4563", "disabled"),
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563", "locked"),
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563", None),
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 525, v4563", None),
    ],
)
def test_bind_failure_data_codes(message, reason):
    found = _AD_DATA.search(message)
    assert found is not None
    assert AD_DATA_REASONS.get(found.group(1).lower()) == reason


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (b"0\x03\x81\x01\x00", 0),  # passwordExpired
        (b"0\x03\x81\x01\x01", 1),  # accountLocked
        (b"0\x03\x81\x01\x02", 2),  # changeAfterReset
        (b"0\x00", None),  # no warning, no error
        (b"0\x05\xa0\x03\x80\x01\x05", None),  # a warning only (timeBeforeExpiration)
        (b"0\x08\xa0\x03\x81\x01\x02\x81\x01\x02", 2),  # a warning and an error
        (b"", None),
        (b"\x04\x00", None),
        (b"0\x7f\x81", None),  # truncated
    ],
)
def test_ppolicy_response_control(value, error):
    result = {"controls": {"1.3.6.1.4.1.42.2.27.8.5.1": {"value": value}}}
    assert _ppolicy_error(result) == error
    assert _ppolicy_error({}) is None


def test_no_password_in_the_log(make_connector, slapd_main, hung_server, caplog):
    """Every failing path logs what failed and where, never the typed password or the service password."""
    caplog.set_level(logging.DEBUG)
    secret = "Sangat-Rahasia-123"
    for urls, usernames in (([slapd_main.url], ("budi", "no-such-person", "gantisandi")),
                            ([hung_server.url], ("budi",)), ([closed_port_url()], ("budi",))):
        connector = make_connector(urls, LDAP_RECEIVE_TIMEOUT=1)
        for username in usernames:
            with pytest.raises(Exception):  # BadCredentials or SourceUnavailable
                connector.authenticate(username, secret)
    make_connector([slapd_main.url]).authenticate(*BUDI)
    assert caplog.text
    for value in (secret, BUDI[1], "service-secret-1"):
        assert value not in caplog.text
