"""Staff sign-in against a real slapd: search-then-bind, refusals with their reasons, hostile user names."""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
import uuid

import pytest

from idp import assurance
from idp.sources.base import BadCredentials, Identity
from idp.sources.ldap import ldap3

from .conftest import ADMINS_GROUP, BUDI, SITI, STAFF_GROUP, closed_port_url, unique, wait_since
from .slapd import LOCKOUT_POLICY, PEOPLE, add_user, admin_do


def refused(connector, username, password) -> str:
    with pytest.raises(BadCredentials) as info:
        connector.authenticate(username, password)
    return info.value.reason


def test_search_then_bind_success(connector):
    identity = connector.authenticate(*BUDI)
    assert isinstance(identity, Identity)
    assert identity.source == "ldap"
    assert str(uuid.UUID(identity.subject)) == identity.subject  # entryUUID, never the DN
    assert identity.acr == assurance.STAFF and identity.amr == ["pwd"]
    attrs = identity.attributes
    assert attrs["dn"] == f"uid=budi,ou=diskominfo,{PEOPLE}"
    assert attrs["username"] == "budi"
    assert attrs["name"] == "Budi Santoso"
    assert attrs["email"] == "budi.santoso@bantenprov.go.id" and attrs["email_verified"] is True
    assert attrs["nip"] == "198503152010011002"
    assert attrs["nik"] == "3603011503850002"
    assert attrs["unit"] == "Dinas Komunikasi, Informatika, Statistik dan Persandian"
    assert attrs["title"] == "Pranata Komputer Ahli Muda"
    assert ADMINS_GROUP in attrs["groups"] and STAFF_GROUP in attrs["groups"]
    assert attrs["roles"] == ["admin"]


def test_same_subject_every_time_and_per_person(connector):
    first = connector.authenticate(*BUDI)
    again = connector.authenticate("  budi ", BUDI[1])  # surrounding spaces are not part of a user name
    other = connector.authenticate(*SITI)
    assert first.subject == again.subject != other.subject
    assert other.attributes["roles"] == []


@pytest.mark.parametrize("typed", ["BUDI", "Budi", "ｂｕｄｉ"])
def test_user_name_matching_follows_the_directory(connector, typed):
    """uid's caseIgnoreMatch (with the RFC 4518 string preparation: case folding and NFKC, so full-width
    letters too) decides which entry a name means; the provider does not second-guess the directory."""
    assert connector.authenticate(typed, BUDI[1]).attributes["username"] == "budi"


def test_wrong_password_and_unknown_user_get_the_same_reason(connector):
    assert refused(connector, "budi", "wrong-password") == "invalid"
    assert refused(connector, "budi", BUDI[1].lower()) == "invalid"
    assert refused(connector, "no-such-person", "whatever-1") == "invalid"
    assert refused(connector, "no-such-person", BUDI[1]) == "invalid"


def test_unknown_user_costs_about_what_a_wrong_password_costs(connector, slapd_main):
    """No user enumeration by timing: an unknown name also pays for a (dummy) bind on a new connection."""
    uid = unique("waktu")
    add_user(slapd_main, uid, "Waktu-Pass-2026")
    wrong: list[float] = []
    unknown: list[float] = []
    for _ in range(25):  # interleaved, so that load changes affect both alike
        for name, samples in ((uid, wrong), ("no-such-" + uid, unknown)):
            started = time.perf_counter()
            with pytest.raises(BadCredentials):
                connector.authenticate(name, "wrong-password")
            samples.append(time.perf_counter() - started)
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2.0, ratio


def test_invalid_nip_and_missing_attributes_are_left_out(connector):
    rudi = connector.authenticate("rudi", "Rudi-Pass-2026")
    assert rudi.attributes["nip"] is None  # "12345" in the directory is not a NIP
    assert rudi.attributes["nik"] is None and rudi.attributes["groups"] == []


@pytest.mark.parametrize("directory", ["default", "permissive"])
@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("budi", ""),
        ("", "Budi-Pass-2026"),
        ("", ""),
        ("   ", "Budi-Pass-2026"),
        ("\t\n", "x"),
        ("budi", None),
        (None, "Budi-Pass-2026"),
    ],
)
def test_empty_username_or_password_is_refused(request, make_connector, directory, username, password):
    """With slapd's default AND with ``allow bind_anon_dn`` (where a DN + empty password binds anonymously)."""
    server = request.getfixturevalue("slapd_main" if directory == "default" else "slapd_permissive")
    assert refused(make_connector([server.url]), username, password) == "invalid"


@pytest.mark.parametrize("directory", ["default", "permissive"])
def test_the_empty_password_trap_exists(request, directory):
    """Why the connector checks first: ldap3 binds anonymously with an empty user, and the permissive
    server accepts a real DN with an empty password as an anonymous bind (ldapwhoami shows it)."""
    server = request.getfixturevalue("slapd_main" if directory == "default" else "slapd_permissive")
    anonymous = ldap3.Connection(ldap3.Server(server.url, get_info=ldap3.NONE), user="", password="anything")
    try:
        assert anonymous.bind() is True  # ldap3: empty user -> anonymous bind, "success"
        assert not anonymous.extend.standard.who_am_i()
    finally:
        anonymous.unbind()
    result = subprocess.run(["ldapwhoami", "-x", "-H", server.url, "-D", f"uid=budi,ou=diskominfo,{PEOPLE}",
                             "-w", ""], capture_output=True, text=True, env={**os.environ, "LDAPNOINIT": "1"})
    if directory == "default":
        assert result.returncode != 0 and "unwilling" in result.stderr.lower()
    else:
        assert result.returncode == 0 and result.stdout.strip() == "anonymous"


def test_empty_credentials_never_reach_the_network(make_connector, hung_server):
    """Refused before any network call: a hung server would otherwise cost the receive timeout."""
    connector = make_connector([hung_server.url], LDAP_RECEIVE_TIMEOUT=5)
    started = time.monotonic()
    for username, password in [("budi", ""), ("", "x"), (" ", " x")][:2]:
        assert refused(connector, username, password) == "invalid"
    assert time.monotonic() - started < 0.5
    assert hung_server.accepted == []


@pytest.mark.parametrize(
    "username",
    [
        "*",
        "**",
        "b*",
        "budi*",
        "*udi",
        ")(uid=*",
        "*)(uid=*",
        "budi)(uid=*",
        "admin)(|(uid=*",
        "budi)(|(uid=*",
        "*)(objectClass=*",
        "budi)(objectClass=*)(uid=budi",
        "\\00",
        "budi\\00",
        "\\2a",
        "budi\x00",
        "\x00",
        "(uid=budi)",
        "budi)",
        "(budi",
        "budi\\",
        "\\",
        "uid=budi,ou=diskominfo,ou=people,dc=bantenprov,dc=go,dc=id",
        "cn=admin,dc=bantenprov,dc=go,dc=id",
        "budi\u200b",
        "b" * 300,
    ],
)
def test_filter_injection_is_refused(connector, username):
    """Typed names are escaped (RFC 4515): wildcards and filter syntax never match budi."""
    assert refused(connector, username, BUDI[1]) == "invalid"


def test_special_characters_are_matched_literally(connector):
    """``star*user`` exists: the literal name works, the wildcard-looking prefix does not."""
    assert connector.authenticate("star*user", "Star-Pass-2026").attributes["username"] == "star*user"
    assert refused(connector, "star*", "Star-Pass-2026") == "invalid"
    assert refused(connector, "*user", "Star-Pass-2026") == "invalid"


def test_more_than_one_match_is_refused(make_connector, slapd_main):
    """rudi and rina share an e-mail address: a filter on mail finds two entries; nobody signs in."""
    connector = make_connector([slapd_main.url],
                               LDAP_USER_FILTER="(&(objectClass=inetOrgPerson)(|(uid={username})(mail={username})))")
    assert refused(connector, "shared.desk@bantenprov.go.id", "Rudi-Pass-2026") == "invalid"
    assert connector.authenticate("budi.santoso@bantenprov.go.id", BUDI[1]).attributes["username"] == "budi"


def test_disabled_user(connector):
    """employeeType: disabled (IDP_LDAP_ATTR_DISABLED): the reason is told only to the right password."""
    assert refused(connector, "nonaktif", "Nonaktif-Pass-2026") == "disabled"
    assert refused(connector, "nonaktif", "wrong-password") == "invalid"


def test_administratively_locked_user_is_disabled(connector):
    """ppolicy's ``pwdAccountLockedTime: 000001010000Z`` (locked until an administrator unlocks)."""
    assert refused(connector, "dikunci", "Dikunci-Pass-2026") == "disabled"


def test_disabled_attribute_is_configurable(make_connector, slapd_main):
    connector = make_connector([slapd_main.url], LDAP_ATTR_DISABLED="title",
                               LDAP_DISABLED_VALUES=["Pranata Komputer Ahli Muda"])
    assert refused(connector, *BUDI) == "disabled"
    assert connector.authenticate("nonaktif", "Nonaktif-Pass-2026").attributes["username"] == "nonaktif"


def test_must_change_password(connector):
    """pwdReset (ppolicy pwdMustChange): the bind succeeds but the response control says changeAfterReset."""
    assert refused(connector, "gantisandi", "Ganti-Pass-2026") == "must_change"
    assert refused(connector, "gantisandi", "wrong-password") == "invalid"


def test_expired_password(connector, slapd_main):
    """The ``expiring`` policy has pwdMaxAge 1 s: the ppolicy control says passwordExpired."""
    wait_since(slapd_main, 2.2)
    assert refused(connector, "kedaluwarsa", "Lama-Pass-2026") == "password_expired"


def test_lockout_after_failures(connector, slapd_main):
    """pwdMaxFailure 3: after three wrong passwords even the right one is refused as locked."""
    uid = unique("kunci")
    dn = add_user(slapd_main, uid, "Kunci-Pass-2026", pwdPolicySubentry=LOCKOUT_POLICY)
    assert connector.authenticate(uid, "Kunci-Pass-2026").attributes["dn"] == dn
    for _ in range(3):
        assert refused(connector, uid, "wrong-password") == "invalid"
    assert refused(connector, uid, "Kunci-Pass-2026") == "locked"
    # The administrator unlocks: the person signs in again.
    admin_do(slapd_main, "modify", dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]})
    assert connector.authenticate(uid, "Kunci-Pass-2026").attributes["dn"] == dn


def test_group_to_role_mapping(make_connector, slapd_main):
    """Group DNs map to roles; the configured DN is compared case- and space-insensitively."""
    roles = "CN=IDP-Admins, OU=Groups, DC=bantenprov, DC=go, DC=id=admin;" \
            f"{STAFF_GROUP}=staff;cn=diskominfo,ou=groups,dc=bantenprov,dc=go,dc=id=kominfo"
    connector = make_connector([slapd_main.url], LDAP_GROUP_ROLES=roles)
    assert connector.authenticate(*BUDI).attributes["roles"] == ["admin", "kominfo", "staff"]
    assert connector.authenticate(*SITI).attributes["roles"] == ["staff"]
    assert connector.authenticate("star*user", "Star-Pass-2026").attributes["roles"] == ["kominfo"]


def test_group_membership_follows_the_directory(connector, slapd_main):
    uid = unique("grup")
    dn = add_user(slapd_main, uid, "Grup-Pass-2026")
    assert connector.authenticate(uid, "Grup-Pass-2026").attributes["roles"] == []
    admin_do(slapd_main, "modify", ADMINS_GROUP, {"member": [(ldap3.MODIFY_ADD, [dn])]})
    try:
        assert connector.authenticate(uid, "Grup-Pass-2026").attributes["roles"] == ["admin"]
    finally:
        admin_do(slapd_main, "modify", ADMINS_GROUP, {"member": [(ldap3.MODIFY_DELETE, [dn])]})


def test_moved_entry_keeps_its_subject(connector, slapd_main):
    """modrdn with newSuperior: the DN changes, entryUUID (the subject) does not."""
    uid = unique("pindah")
    dn = add_user(slapd_main, uid, "Pindah-Pass-2026", ou="diskominfo")
    before = connector.authenticate(uid, "Pindah-Pass-2026")
    admin_do(slapd_main, "modify_dn", dn, f"uid={uid}", new_superior=f"ou=bappeda,{PEOPLE}")
    after = connector.authenticate(uid, "Pindah-Pass-2026")
    assert after.subject == before.subject
    assert after.attributes["dn"] == f"uid={uid},ou=bappeda,{PEOPLE}" != before.attributes["dn"]


def test_service_connection_is_reused(connector):
    connector.authenticate(*BUDI)
    assert len(connector._idle) == 1
    pooled = connector._idle[0]
    for _ in range(3):
        connector.authenticate(*SITI)
        with pytest.raises(BadCredentials):
            connector.authenticate("no-such-person", "x")
    assert connector._idle == [pooled]


def test_concurrent_sign_ins(connector):
    results: list[object] = []

    def worker(i: int) -> None:
        try:
            who = BUDI if i % 2 else SITI
            results.append(connector.authenticate(*who).attributes["username"])
        except Exception as exc:  # the assertion below shows it
            results.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(map(str, results)) == ["budi"] * 6 + ["siti"] * 6
    assert 1 <= len(connector._idle) <= 4  # LDAP_POOL_SIZE


def test_wrong_service_password_is_unavailable_not_bad_credentials(make_connector, slapd_main):
    from idp.sources.base import SourceUnavailable

    connector = make_connector([slapd_main.url], LDAP_BIND_PASSWORD="not-the-service-password")
    with pytest.raises(SourceUnavailable):
        connector.authenticate(*BUDI)


def test_no_server_answers(make_connector):
    from idp.sources.base import SourceUnavailable

    connector = make_connector([closed_port_url(), closed_port_url()])
    started = time.monotonic()
    with pytest.raises(SourceUnavailable):
        connector.authenticate(*BUDI)
    assert time.monotonic() - started < 2


def test_iter_people_pages_through_the_directory(make_connector, slapd_main):
    """RFC 2696 simple paged results: more people than one page, each exactly once."""
    for _ in range(3):
        add_user(slapd_main, unique("halaman"), "Halaman-Pass-2026")
    connector = make_connector([slapd_main.url], LDAP_SYNC_PAGE_SIZE=10)
    entries = list(connector.iter_people())
    admin = slapd_main.admin()
    try:
        admin.search(PEOPLE, "(&(objectClass=inetOrgPerson)(uid=*))", attributes=["1.1"])
        expected = {e.entry_dn for e in admin.entries}
    finally:
        admin.unbind()
    assert len(entries) > 10
    assert sorted(e.dn for e in entries) == sorted(expected)
    assert all(connector.subject_of(e) for e in entries)
