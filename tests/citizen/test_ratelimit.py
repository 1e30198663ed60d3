"""Brute-force limits: a temporary lock after LOGIN_MAX_FAILURES, the same for existing and unknown
accounts, per identifier and per IP, lifted after LOGIN_LOCK_SECONDS or not extended by success."""

from __future__ import annotations

import re
import time

import pytest

from .helpers import make_nik, register_and_verify, sign_in

GENERIC = b"The NIK/e-mail or the password is wrong."
WRONG = "not the password at all"


def _strip(html: bytes) -> str:
    return re.sub(r'value="[^"]*"', 'value=""', html.decode())


@pytest.fixture
def limited(make_app):
    return make_app(LOGIN_MAX_FAILURES=3, LOGIN_LOCK_SECONDS=120)


@pytest.mark.parametrize("target", ["existing", "unknown", "email"])
def test_lock_after_max_failures(limited, target):
    client = limited.test_client()
    citizen = register_and_verify(client)
    identifier = {"existing": citizen.nik, "unknown": make_nik(), "email": citizen.email}[target]
    answers = [sign_in(client, identifier, WRONG) for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert b"Too many attempts. Try again in 2 minutes." in answers[-1].data
    locked = sign_in(client, identifier, citizen.password if target != "unknown" else WRONG)
    assert locked.status_code == 429  # even the right password waits
    assert GENERIC in locked.data and b"Try again in 2 minutes" in locked.data
    assert client.get_cookie("idp_session") is None


def test_locked_answer_is_identical_for_existing_and_unknown(limited):
    client = limited.test_client()
    citizen = register_and_verify(client)
    unknown = make_nik()
    for identifier in (citizen.nik, unknown):
        for _ in range(3):
            sign_in(client, identifier, WRONG)
    a = sign_in(client, citizen.nik, WRONG)
    b = sign_in(client, unknown, WRONG)
    assert a.status_code == b.status_code == 429
    assert _strip(a.data).replace(citizen.nik, "") == _strip(b.data).replace(unknown, "")


def test_other_accounts_are_not_locked(limited):
    client = limited.test_client()
    victim = register_and_verify(client)
    other = register_and_verify(client)
    for _ in range(3):
        sign_in(client, victim.nik, WRONG)
    assert sign_in(client, other).status_code == 303


def test_success_resets_the_counter(limited):
    client = limited.test_client()
    citizen = register_and_verify(client)
    for _ in range(2):
        assert sign_in(client, citizen.nik, WRONG).status_code == 401
    assert sign_in(client, citizen).status_code == 303
    for _ in range(2):
        assert sign_in(client, citizen.nik, WRONG).status_code == 401


def test_lock_is_lifted_after_its_time(make_app):
    app = make_app(LOGIN_MAX_FAILURES=3, LOGIN_LOCK_SECONDS=30)
    client = app.test_client()
    citizen = register_and_verify(client)
    for _ in range(3):
        sign_in(client, citizen.nik, WRONG)
    assert sign_in(client, citizen).status_code == 429
    # fast-forward: shorten the lock entry as if its time had passed
    from idp import ratelimit

    with app.test_request_context():
        key = ratelimit.identifier_key("citizen:" + citizen.nik)
        store = app.extensions["idp"].store
        store.put("rl", f"lock:id:{key}", {"until": time.time() + 1}, 1)
    time.sleep(1.2)
    assert sign_in(client, citizen).status_code == 303


def test_ip_lock_after_five_times_as_many_failures(limited):
    client = limited.test_client()
    citizen = register_and_verify(client)
    codes = [sign_in(client, make_nik(), WRONG).status_code for _ in range(15)]
    assert codes[:14] == [401] * 14 and codes[14] == 429
    assert sign_in(client, citizen).status_code == 429  # the whole IP waits
    other_ip = limited.test_client()
    other_ip.environ_base["REMOTE_ADDR"] = "127.0.0.2"
    assert sign_in(other_ip, citizen).status_code == 303


def test_counters_never_hold_the_nik(limited):
    import redis

    client = limited.test_client()
    citizen = register_and_verify(client)
    sign_in(client, citizen.nik, WRONG)
    conn = redis.Redis.from_url(limited.extensions["idp"].config["REDIS_URL"])
    try:
        for key in conn.scan_iter("*"):
            assert citizen.nik.encode() not in key
            value = conn.get(key) if conn.type(key) == b"string" else b""
            assert citizen.nik.encode() not in (value or b"")
    finally:
        conn.close()
