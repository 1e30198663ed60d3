"""Staff sign-in through the HTTP sign-in page against a real slapd: outcomes, hostile input, the kind rule.

Every request goes through ``POST /login`` exactly as a browser without JavaScript sends it (CSRF
token included); the directory is a private slapd (tests/ldap/slapd.py).  The statuses are the
contract of the page: 303 signed in, 401 wrong credentials (one text for every reason), 403 a
refusal with its reason, 429 too many attempts, 503 the directory does not answer, never 500.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp import assurance, ratelimit
from idp.extensions import db
from idp.models import AuditEvent, IdentityLink, Person, StaffAccount
from idp.people import signin
from idp.sources.ldap import ldap3
from tests.citizen.helpers import csrf, register_and_verify
from tests.helpers import REQUIRED, english, field_error, field_input, field_value

from .conftest import BUDI, SITI, closed_port_url, unique, wait_since
from .slapd import LOCKOUT_POLICY, PEOPLE, add_user, admin_do

STAFF_WRONG = "The user name or the password is wrong."
CITIZEN_WRONG = "The NIK/e-mail or the password is wrong."
CHOOSE = "Choose how you sign in."
BUDI_NIK = "3603011503850002"  # budi's NIK in the directory (he has no citizen account)


def post_login(browser: FlaskClient, identifier: str, password: str, kind: str | None = "ldap",
               **extra: str) -> Any:
    """GET /login for a CSRF token, then POST the form; ``kind=None`` leaves the radio group unchosen."""
    page = browser.get("/login")
    assert page.status_code == 200
    data = {"csrf_token": csrf(page.data), "identifier": identifier, "password": password, "req": "", **extra}
    if kind is not None:
        data["kind"] = kind
    resp = browser.post("/login", data=data)
    assert resp.status_code != 500
    assert b"Traceback" not in resp.data
    return resp


def error_text(resp: Any) -> str:
    """The text of ``#login-error`` (the page re-shown with the reason)."""
    html = resp.get_data(as_text=True)
    start = html.find('id="login-error"')
    assert start != -1, html[:3000]
    return html[start:html.find("</div>", start)]


def session_of(app: Flask, browser: FlaskClient) -> dict[str, Any] | None:
    """The login session the browser's cookie names (read from the store), or None."""
    cookie = browser.get_cookie("idp_session")
    if cookie is None or not cookie.value:
        return None
    value = app.extensions["idp"].store.get("sid", cookie.value.split(".")[0])
    return value if isinstance(value, dict) else None


def signed_in_sub(app: Flask, username: str, password: str, **kwargs: Any) -> str:
    browser = english(app)
    resp = post_login(browser, username, password, **kwargs)
    assert resp.status_code == 303, error_text(resp)
    found = session_of(app, browser)
    assert found is not None
    return str(found["sub"])


# --- success -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["ldap", None, "auto"])
def test_search_then_bind_signs_in_with_staff_acr(ldap_app, kind):
    app = ldap_app()
    browser = english(app)
    resp = post_login(browser, *BUDI, kind=kind)
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/"
    found = session_of(app, browser)
    assert found is not None
    assert found["acr"] == assurance.STAFF == "urn:bantenprov:sso:acr:staff"
    assert found["amr"] == ["pwd"] and found["source"] == "ldap"
    with app.app_context():
        person = db.session.execute(select(Person).where(Person.sub == found["sub"])).scalar_one()
        assert person.name == "Budi Santoso"
        link = db.session.execute(select(IdentityLink).where(IdentityLink.person_id == person.id)).scalar_one()
        assert link.source == "ldap" and str(uuid.UUID(link.subject)) == link.subject  # entryUUID, not the DN
    home = browser.get("/").get_data(as_text=True)
    assert "Budi Santoso" in home


def test_second_sign_in_is_the_same_person(ldap_app):
    app = ldap_app()
    first = signed_in_sub(app, *BUDI)
    assert signed_in_sub(app, "  budi  ", BUDI[1]) == first
    assert signed_in_sub(app, *SITI) != first
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Person)) == 2
        assert db.session.scalar(select(func.count()).select_from(StaffAccount)) == 2


# --- the sign-in page and the kind rule ----------------------------------------------------------
def test_page_offers_warga_and_pegawai_with_neither_chosen(ldap_app):
    app = ldap_app()
    html = english(app).get("/login").get_data(as_text=True)
    assert html.count('name="kind"') == 2
    assert 'value="citizen"' in html and 'value="ldap"' in html
    assert "Warga" in html and "Pegawai" in html
    assert "<fieldset" in html and "<legend>" in html
    radios = [part.split(">", 1)[0] for part in html.split("<input")[1:] if 'name="kind"' in part.split(">", 1)[0]]
    assert len(radios) == 2 and not any("checked" in radio for radio in radios)
    assert "16 digits" in html  # the rule is written on the page (works without JavaScript)
    indonesian = app.test_client().get("/login").get_data(as_text=True)  # Indonesian: the default
    assert "Warga" in indonesian and "Pegawai" in indonesian


def test_without_ldap_everything_is_citizen(make_app):
    app = make_app()
    browser = english(app)
    assert 'name="kind"' not in browser.get("/login").get_data(as_text=True)
    chose_staff = post_login(browser, *BUDI, kind="ldap")
    assert chose_staff.status_code == 400 and CHOOSE in error_text(chose_staff)
    auto = post_login(browser, *BUDI, kind=None)
    assert auto.status_code == 401 and CITIZEN_WRONG in error_text(auto)


@pytest.mark.parametrize(
    ("identifier", "kind", "expected"),
    [
        # Nothing chosen: 16 digits (separators ignored) or an "@" is a citizen, anything else staff.
        (BUDI_NIK, None, "citizen"),
        ("3603 0115 0385 0002", None, "citizen"),
        ("3603.0115.0385.0002", None, "citizen"),
        ("3603-0115-0385-0002", "auto", "citizen"),
        (" 3603011503850002 ", None, "citizen"),
        ("budi.santoso@bantenprov.go.id", None, "citizen"),
        ("budi@bantenprov.go.id", "auto", "citizen"),
        ("budi", None, "staff-ok"),
        ("BUDI", "auto", "staff-ok"),
        ("360301150385000", None, "staff"),  # 15 digits: not a NIK
        ("36030115038500021", None, "staff"),  # 17 digits
        ("198503152010011002", None, "staff"),  # an 18-digit NIP is not a user name here
        ("\u0663\u0666\u0660\u0663\u0660\u0661\u0661\u0665\u0660\u0663\u0668\u0665\u0660\u0660\u0660\u0662",
         None, "staff"),  # 16 Arabic-Indic digits are not an ASCII NIK
        # The explicit choice always wins.
        ("budi", "citizen", "citizen"),
        (BUDI_NIK, "ldap", "staff"),
        ("budi@bantenprov.go.id", "ldap", "staff"),  # a UPN-style name chosen as Pegawai
        # Anything else in the kind field is a 400, never a guess.
        ("budi", "admin", "choose"),
        ("budi", "LDAP", "choose"),
        ("budi", "", "staff-ok"),  # an empty radio value is "not chosen"
        ("budi", "ldap\x00", "choose"),
    ],
)
def test_kind_rule(ldap_app, identifier, kind, expected):
    app = ldap_app()
    resp = post_login(english(app), identifier, BUDI[1], kind=kind)
    if expected == "staff-ok":
        assert resp.status_code == 303
    elif expected == "choose":
        assert resp.status_code == 400 and CHOOSE in error_text(resp)
    else:
        assert resp.status_code == 401
        text = error_text(resp)
        assert (STAFF_WRONG if expected == "staff" else CITIZEN_WRONG) in text


def test_explicit_pegawai_with_a_upn_signs_in_when_the_filter_takes_mail(ldap_app):
    """Active Directory staff type ``name@domain``: chosen as Pegawai it goes to the directory."""
    app = ldap_app(LDAP_USER_FILTER="(&(objectClass=inetOrgPerson)(mail={username}))")
    assert post_login(english(app), "budi.santoso@bantenprov.go.id", BUDI[1], kind="ldap").status_code == 303
    auto = post_login(english(app), "budi.santoso@bantenprov.go.id", BUDI[1], kind=None)
    assert auto.status_code == 401 and CITIZEN_WRONG in error_text(auto)


# --- wrong credentials: one answer for all -------------------------------------------------------
@pytest.mark.parametrize(
    ("identifier", "password"),
    [
        ("budi", "wrong-password"),
        ("budi", BUDI[1].lower()),
        ("budi", BUDI[1] + " "),
        ("no-such-person", BUDI[1]),
        ("no-such-person", "whatever-1"),
        ("siti", BUDI[1]),
        ("budi", "x" * 10_000),
        ("x" * 10_000, BUDI[1]),
        ("b" * 300, BUDI[1]),
        ("budi", "\x00"),
        ("budi", BUDI[1] + "\x00"),
        ("budi", "' OR '1'='1"),
        ("uid=budi,ou=diskominfo,ou=people,dc=bantenprov,dc=go,dc=id", BUDI[1]),
        ("cn=admin,dc=bantenprov,dc=go,dc=id", "admin-secret-1"),
        ("idp-service", "service-secret-1"),
        ("<script>alert(1)</script>", BUDI[1]),
    ],
)
def test_wrong_credentials_get_one_message(ldap_app, identifier, password):
    app = ldap_app()
    browser = english(app)
    resp = post_login(browser, identifier, password)
    assert resp.status_code == 401
    assert STAFF_WRONG in error_text(resp)
    assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)
    assert session_of(app, browser) is None


@pytest.mark.parametrize(
    "identifier",
    [
        "*",
        "**",
        "b*",
        "budi*",
        "admin*",
        "*udi",
        ")(uid=*",
        "*)(uid=*",
        "*)(|(uid=*",
        "budi)(uid=*",
        "admin)(|(uid=*",
        "budi)(|(uid=*",
        "*)(objectClass=*",
        "budi)(objectClass=*)(uid=budi",
        "\\00",
        "budi\\00",
        "\\2a",
        "\\62udi",  # "b" escaped: must not be unescaped into budi
        "budi\x00",
        "\x00",
        "\x00budi",
        "(uid=budi)",
        "budi)",
        "(budi",
        "budi\\",
        "\\",
        "budi\u200b",
        "bud\ni",
    ],
)
def test_filter_injection_is_refused(ldap_app, identifier):
    """Typed names are escaped (RFC 4515 section 3): no wildcard or filter syntax reaches budi's entry."""
    app = ldap_app()
    for kind in ("ldap", None):
        browser = english(app)
        resp = post_login(browser, identifier, BUDI[1], kind=kind)
        assert resp.status_code == 401, (kind, resp.status_code)
        assert STAFF_WRONG in error_text(resp)
        assert session_of(app, browser) is None


def test_wildcard_characters_are_literal(ldap_app):
    """``star*user`` exists: the literal name signs in; the wildcard-looking prefix does not."""
    app = ldap_app()
    assert post_login(english(app), "star*user", "Star-Pass-2026").status_code == 303
    assert post_login(english(app), "star*", "Star-Pass-2026").status_code == 401


# Empty fields, white space only included: "Required." at the field, never "wrong password" (issue 16).
# (identifier, password, the fields answered "Required.")
EMPTY_FIELDS = [
    ("budi", "", ["password"]),
    ("", BUDI[1], ["identifier"]),
    ("", "", ["identifier", "password"]),
    ("   ", BUDI[1], ["identifier"]),
    ("\t", "anything", ["identifier"]),
    ("", "anything", ["identifier"]),
    ("no-such-person", "", ["password"]),
    ("budi", "   ", ["password"]),
    ("budi", "\t\r\n", ["password"]),
    ("\u3000", BUDI[1], ["identifier"]),  # an ideographic space
    ("budi", "\xa0", ["password"]),  # a no-break space
    ("*", "", ["password"]),  # a filter wildcard with an empty password: nothing is searched
    ("cn=admin,dc=bantenprov,dc=go,dc=id", "", ["password"]),  # a DN with an empty password: no anonymous bind
]


@pytest.mark.parametrize("directory", ["slapd_main", "slapd_permissive"])
@pytest.mark.parametrize("kind", ["ldap", None])
@pytest.mark.parametrize(("identifier", "password", "empty"), EMPTY_FIELDS)
def test_empty_user_name_or_password_is_required_at_the_field(request, ldap_app, directory, kind, identifier,
                                                             password, empty):
    """With slapd's default AND ``allow bind_anon_dn`` (where a DN with an empty password binds anonymously):
    the page comes back (400) with "Required." at each empty field, the user name kept, no "wrong" message."""
    server = request.getfixturevalue(directory)
    app = ldap_app([server.url])
    browser = english(app)
    resp = post_login(browser, identifier, password, kind=kind)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    for name in ("identifier", "password"):
        assert field_error(html, name) == (REQUIRED if name in empty else None), name
        assert "required" in field_input(html, name).split()  # the HTML attribute, too
    if "identifier" not in empty:
        assert field_value(html, "identifier") == identifier
    assert field_value(html, "password") == ""
    assert 'id="login-error"' not in html and STAFF_WRONG not in html
    assert session_of(app, browser) is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Person)) == 0


def test_required_is_indonesian_by_default(ldap_app):
    app = ldap_app()
    browser = app.test_client()
    resp = post_login(browser, "budi", "")
    assert resp.status_code == 400
    assert field_error(resp.get_data(as_text=True), "password") == "Wajib diisi."


def test_empty_fields_are_not_failed_attempts(ldap_app):
    """Many empty submissions lock nothing (not the name, not the address): the right password still signs
    in, and the audit log records no failed sign-in."""
    app = ldap_app(LOGIN_MAX_FAILURES=2)
    for identifier, password, _ in EMPTY_FIELDS:  # 13 from one address: more than the address's limit (10)
        assert post_login(english(app), identifier, password).status_code == 400
        assert post_login(english(app), identifier, password, kind=None).status_code == 400
    assert post_login(english(app), *BUDI).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == "login", AuditEvent.outcome == "failure")) == 0


def test_missing_fields_are_refused_not_crashed(ldap_app):
    app = ldap_app()
    browser = english(app)
    token = csrf(browser.get("/login").data)
    for data in ({"kind": "ldap"}, {"kind": "ldap", "identifier": "budi"}, {"kind": "ldap", "password": BUDI[1]}):
        resp = browser.post("/login", data={"csrf_token": token, **data})
        assert resp.status_code == 400, (data, resp.status_code)
        html = resp.get_data(as_text=True)
        for name in ("identifier", "password"):
            assert field_error(html, name) == (None if name in data else REQUIRED), (data, name)
    no_token = browser.post("/login", data={"kind": "ldap", "identifier": "budi", "password": BUDI[1]})
    assert no_token.status_code == 400 and session_of(app, browser) is None


# --- refusals with a reason ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("username", "password", "words"),
    [
        ("nonaktif", "Nonaktif-Pass-2026", "disabled"),  # employeeType: disabled (IDP_LDAP_ATTR_DISABLED)
        ("dikunci", "Dikunci-Pass-2026", "disabled"),  # pwdAccountLockedTime 000001010000Z: an admin lock
        ("gantisandi", "Ganti-Pass-2026", "change"),  # pwdReset: must change the password
    ],
)
def test_refusal_is_told_after_the_right_password_only(ldap_app, username, password, words):
    app = ldap_app()
    wrong = post_login(english(app), username, "wrong-password")
    assert wrong.status_code == 401 and STAFF_WRONG in error_text(wrong)
    browser = english(app)
    resp = post_login(browser, username, password)
    assert resp.status_code == 403
    assert words in error_text(resp).lower()
    assert session_of(app, browser) is None


def test_expired_password(ldap_app, slapd_main):
    """The ``expiring`` policy has pwdMaxAge 1 s: the ppolicy response control says passwordExpired."""
    wait_since(slapd_main, 2.2)
    resp = post_login(english(ldap_app()), "kedaluwarsa", "Lama-Pass-2026")
    assert resp.status_code == 403 and "expired" in error_text(resp).lower()


def test_ppolicy_lockout_is_told_as_locked(ldap_app, slapd_main):
    """pwdMaxFailure 3 (its own user: ppolicy locks persist): then even the right password is 'locked'."""
    uid = unique("kunci")
    dn = add_user(slapd_main, uid, "Kunci-Pass-2026", pwdPolicySubentry=LOCKOUT_POLICY)
    app = ldap_app()
    for _ in range(3):
        assert post_login(english(app), uid, "wrong-password").status_code == 401
    resp = post_login(english(app), uid, "Kunci-Pass-2026")
    assert resp.status_code == 403 and "locked" in error_text(resp).lower()
    admin_do(slapd_main, "modify", dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]})
    assert post_login(english(app), uid, "Kunci-Pass-2026").status_code == 303


def test_entry_disabled_after_first_sign_in(ldap_app, slapd_main):
    """The directory disables someone who signed in before: the next sign-in is refused (403)."""
    uid = unique("aktif")
    dn = add_user(slapd_main, uid, "Aktif-Pass-2026")
    app = ldap_app()
    assert post_login(english(app), uid, "Aktif-Pass-2026").status_code == 303
    admin_do(slapd_main, "modify", dn, {"employeeType": [(ldap3.MODIFY_REPLACE, ["disabled"])]})
    resp = post_login(english(app), uid, "Aktif-Pass-2026")
    assert resp.status_code == 403 and "disabled" in error_text(resp).lower()


# --- the directory follows the person ------------------------------------------------------------
def test_moved_entry_is_the_same_person(ldap_app, slapd_main):
    """Modify DN with a new superior (another agency): same entryUUID, so the same ``sub``; DN followed."""
    uid = unique("pindah")
    dn = add_user(slapd_main, uid, "Pindah-Pass-2026", ou="diskominfo")
    app = ldap_app()
    before = signed_in_sub(app, uid, "Pindah-Pass-2026")
    new_dn = f"uid={uid},ou=bappeda,{PEOPLE}"
    admin_do(slapd_main, "modify_dn", dn, f"uid={uid}", new_superior=f"ou=bappeda,{PEOPLE}")
    assert signed_in_sub(app, uid, "Pindah-Pass-2026") == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Person)) == 1
        account = db.session.execute(select(StaffAccount)).scalar_one()
        assert account.dn == new_dn


def test_renamed_entry_is_the_same_person(ldap_app, slapd_main):
    """A new RDN (the user name changes): signing in with the new name is still the same ``sub``."""
    uid = unique("lama")
    new_uid = unique("baru")
    dn = add_user(slapd_main, uid, "Nama-Pass-2026")
    app = ldap_app()
    before = signed_in_sub(app, uid, "Nama-Pass-2026")
    admin_do(slapd_main, "modify_dn", dn, f"uid={new_uid}", delete_old_dn=True)
    assert post_login(english(app), uid, "Nama-Pass-2026").status_code == 401
    assert signed_in_sub(app, new_uid, "Nama-Pass-2026") == before


# --- servers that fail ---------------------------------------------------------------------------
def test_failover_when_the_first_server_stops(ldap_app, slapd_spare, slapd_main):
    app = ldap_app([slapd_spare.url, slapd_main.url])
    assert post_login(english(app), *BUDI).status_code == 303  # on the spare
    slapd_spare.stop()
    started = time.monotonic()
    resp = post_login(english(app), *BUDI)
    assert resp.status_code == 303
    assert time.monotonic() - started < 3


def test_first_server_never_up(ldap_app, slapd_main):
    app = ldap_app([closed_port_url(), slapd_main.url])
    assert post_login(english(app), *BUDI).status_code == 303


def test_hung_server_gives_503_within_the_timeout(ldap_app, hung_server):
    app = ldap_app([hung_server.url], LDAP_CONNECT_TIMEOUT=1, LDAP_RECEIVE_TIMEOUT=1)
    browser = english(app)
    started = time.monotonic()
    resp = post_login(browser, *BUDI)
    elapsed = time.monotonic() - started
    assert resp.status_code == 503
    assert "directory" in error_text(resp) and "not answering" in error_text(resp)
    assert elapsed < 4, elapsed
    assert hung_server.accepted  # it was really asked
    assert session_of(app, browser) is None


@pytest.mark.parametrize("down", ["closed", "hung", "stopped"])
def test_directory_down_staff_get_503_and_citizens_still_sign_in(request, ldap_app, hung_server, down):
    """The outage concerns staff only: a citizen signs in on the same app while a staff sign-in waits."""
    if down == "closed":
        urls = [closed_port_url(), closed_port_url()]
    elif down == "hung":
        urls = [hung_server.url]
    else:
        spare = request.getfixturevalue("slapd_spare")
        urls = [spare.url]
    app = ldap_app(urls, LDAP_CONNECT_TIMEOUT=1, LDAP_RECEIVE_TIMEOUT=2)
    if down == "stopped":
        assert post_login(english(app), *BUDI).status_code == 303
        spare.stop()
    citizen = register_and_verify(english(app))

    staff_result: list[Any] = []
    staff = threading.Thread(target=lambda: staff_result.append(post_login(english(app), *BUDI, kind=None)))
    staff.start()
    try:
        started = time.monotonic()
        browser = english(app)
        by_nik = post_login(browser, citizen.nik, citizen.password, kind=None)
        citizen_took = time.monotonic() - started
        by_email = post_login(english(app), citizen.email, citizen.password, kind="citizen")
    finally:
        staff.join(10)
    assert by_nik.status_code == 303 and by_email.status_code == 303
    assert session_of(app, browser)["acr"] == assurance.CITIZEN  # type: ignore[index]
    if down == "hung":
        assert citizen_took < 1.5, citizen_took  # not queued behind the hung directory
    assert len(staff_result) == 1
    resp = staff_result[0]
    assert resp.status_code == 503
    text = error_text(resp)
    assert "directory" in text and "Citizens can still sign in" in text


def test_directory_back_after_an_outage(ldap_app, slapd_spare):
    app = ldap_app([slapd_spare.url])
    sub = signed_in_sub(app, *BUDI)
    slapd_spare.stop()
    assert post_login(english(app), *BUDI).status_code == 503
    slapd_spare.start()
    assert signed_in_sub(app, *BUDI) == sub


def test_wrong_service_account_is_503_not_401(ldap_app):
    """A misconfigured service password is the provider's problem, not the person's: 503."""
    app = ldap_app(LDAP_BIND_PASSWORD="not-the-service-password")
    assert post_login(english(app), *BUDI).status_code == 503


# --- brute-force limits --------------------------------------------------------------------------
def test_locked_out_user_name_makes_no_directory_call(ldap_app, slapd_spare):
    """Per-username limit: once reached, even the right password gets 429, checked before the directory
    (stopping slapd changes nothing: still 429, not 503)."""
    app = ldap_app([slapd_spare.url], LOGIN_MAX_FAILURES=3)
    assert post_login(english(app), "budi", "wrong-1").status_code == 401
    assert post_login(english(app), "budi", "wrong-2").status_code == 401
    third = post_login(english(app), "budi", "wrong-3")
    assert third.status_code == 429 and STAFF_WRONG in error_text(third)
    assert "Too many attempts" in error_text(third)
    assert post_login(english(app), *BUDI).status_code == 429
    assert post_login(english(app), "BUDI", BUDI[1]).status_code == 429  # the same name in other case
    slapd_spare.stop()
    stopped = post_login(english(app), *BUDI)
    assert stopped.status_code == 429, stopped.status_code
    assert post_login(english(app), *SITI).status_code == 503  # another name does reach the (stopped) directory


def test_locked_out_user_name_never_connects(ldap_app, hung_server):
    """Empty fields fail before the network and count nothing; once wrong passwords have locked the name,
    the real password is not sent either.  Two nodes of one deployment (one store, one hash key): the
    name is locked through the node whose directory answers, then tried at the node whose directory hangs."""
    shared = {"HASH_KEY": base64.urlsafe_b64encode(b"k" * 32).decode(), "LOGIN_MAX_FAILURES": 2}
    hung = ldap_app([hung_server.url], LDAP_RECEIVE_TIMEOUT=2, **shared)
    answering = ldap_app(**shared)
    for _ in range(3):
        started = time.monotonic()
        empty = post_login(english(hung), "budi", "")
        assert empty.status_code == 400 and field_error(empty.get_data(as_text=True), "password") == REQUIRED
        assert time.monotonic() - started < 1
    assert hung_server.accepted == []
    assert post_login(english(answering), "budi", "wrong-1").status_code == 401
    assert post_login(english(answering), "budi", "wrong-2").status_code == 429
    started = time.monotonic()
    assert post_login(english(hung), *BUDI).status_code == 429
    assert time.monotonic() - started < 1
    assert hung_server.accepted == []


def test_prove_refuses_empty_fields_before_the_limits_and_the_directory(ldap_app, hung_server):
    """The rule below the pages (idp.people.signin.prove, also used by linking): an empty or white-space
    identifier or password is a 400 naming the empty fields; the directory is not asked, nothing counts."""
    app = ldap_app([hung_server.url], LOGIN_MAX_FAILURES=1, LDAP_RECEIVE_TIMEOUT=2)
    with app.test_request_context("/login", method="POST", environ_base={"REMOTE_ADDR": "192.0.2.40"}):
        for identifier, password, empty in EMPTY_FIELDS:
            with pytest.raises(signin.Refusal) as refused:
                signin.prove("ldap", identifier, password)
            assert refused.value.status == 400 and list(refused.value.missing) == empty
        assert ratelimit.locked_for(ratelimit.identifier_key("ldap:budi"), "192.0.2.40") == 0
    assert hung_server.accepted == []


def test_per_ip_limit(ldap_app, slapd_spare):
    """Five times the per-name limit from one address locks that address for every name."""
    app = ldap_app([slapd_spare.url], LOGIN_MAX_FAILURES=2)
    statuses = [post_login(english(app, "192.0.2.7"), f"no-such-{i}", "wrong").status_code for i in range(10)]
    assert statuses == [401] * 9 + [429]
    slapd_spare.stop()
    assert post_login(english(app, "192.0.2.7"), *BUDI).status_code == 429
    # Another address is not locked (and does reach the stopped directory).
    assert post_login(english(app, "192.0.2.8"), *BUDI).status_code == 503


def test_right_password_clears_the_name_counter(ldap_app):
    app = ldap_app(LOGIN_MAX_FAILURES=3)
    for _ in range(2):
        assert post_login(english(app), "budi", "wrong").status_code == 401
    assert post_login(english(app), *BUDI).status_code == 303
    for _ in range(2):
        assert post_login(english(app), "budi", "wrong").status_code == 401
    assert post_login(english(app), *BUDI).status_code == 303


def test_staff_and_citizen_counters_are_separate(ldap_app):
    """Failures for the staff name ``budi`` do not lock a citizen who types the same characters."""
    app = ldap_app(LOGIN_MAX_FAILURES=2)
    assert post_login(english(app), "budi", "wrong").status_code == 401
    assert post_login(english(app), "budi", "wrong").status_code == 429
    resp = post_login(english(app), "budi", "wrong", kind="citizen")
    assert resp.status_code == 401 and CITIZEN_WRONG in error_text(resp)
