"""Brute force (issue 7): locks back off exponentially but never last for ever, the real owner is told
by mail (an unknown account's answer is the same, and nobody is mailed), and an unknown account costs
the same time as a wrong password (within 10 percent, over many tries)."""

from __future__ import annotations

import statistics
import time

import pytest
from flask import Flask

from idp import ratelimit

from .helpers import csrf, mails_to, make_nik, outbox, register_and_verify, sign_in

WRONG = "not the password at all"


@pytest.fixture
def limited(make_app) -> Flask:
    return make_app(LOGIN_MAX_FAILURES=3, LOGIN_LOCK_SECONDS=60, LOGIN_LOCK_MAX_SECONDS=200)


def lock_seconds(app: Flask, identifier: str) -> int:
    with app.app_context():
        key = ratelimit.identifier_key(f"citizen:{identifier}")
        return ratelimit.locked_for(key, None)


def lift(app: Flask, identifier: str) -> None:
    """The lock ran out (as time would do): drop it from the store."""
    with app.app_context():
        key = ratelimit.identifier_key(f"citizen:{identifier}")
        app.extensions["idp"].store.delete(ratelimit.KIND, f"lock:id:{key}")


def test_locks_double_up_to_the_cap(limited: Flask) -> None:
    client = limited.test_client()
    unknown = make_nik()
    lengths = []
    for _ in range(4):
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{len(lengths) + 1}"  # the IP counter is not the point
        answers = [sign_in(client, unknown, WRONG).status_code for _ in range(3)]
        assert answers == [401, 401, 429]
        lengths.append(lock_seconds(limited, unknown))
        lift(limited, unknown)
    assert [round(x / 10) * 10 for x in lengths] == [60, 120, 200, 200]  # doubling, then the cap


def test_a_successful_sign_in_forgets_earlier_locks(limited: Flask) -> None:
    client = limited.test_client()
    citizen = register_and_verify(client)
    for _ in range(3):
        sign_in(client, citizen.nik, WRONG)
    lift(limited, citizen.nik)
    assert sign_in(client, citizen).status_code == 303
    for _ in range(3):
        sign_in(client, citizen.nik, WRONG)
    assert 50 <= lock_seconds(limited, citizen.nik) <= 60  # a first lock again, not a second


def wait_for_mail(app: Flask, address: str, count: int, timeout: float = 5) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mails_to(app, address)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    return mails_to(app, address)


def test_the_owner_is_told_and_nobody_else(limited: Flask) -> None:
    client = limited.test_client()
    citizen = register_and_verify(client)
    before = len(outbox(limited))
    for _ in range(3):
        sign_in(client, citizen.email, WRONG)
    notices = [m for m in wait_for_mail(limited, citizen.email, 2) if "paused" in str(m["Subject"]).lower()
               or "dijeda" in str(m["Subject"]).lower()]
    assert len(notices) == 1
    text = notices[0].get_content()
    assert citizen.nik not in text and WRONG not in text and "/account/two-step" in text
    count = len(outbox(limited))
    for _ in range(3):
        sign_in(client, make_nik(), WRONG)  # an unknown account locks the same way ...
    time.sleep(0.5)
    assert len(outbox(limited)) == count  # ... and nobody is mailed
    assert count == before + 1


def test_empty_fields_lock_nothing(limited: Flask) -> None:
    """Many empty submissions (an impatient tap on "Sign in") are not failed attempts: no lock, no mail,
    and the right password still signs in from the same address."""
    client = limited.test_client()
    citizen = register_and_verify(client)
    before = len(outbox(limited))
    for identifier, password in [(citizen.nik, ""), (citizen.email, "  "), ("", citizen.password), ("", "")] * 5:
        assert sign_in(client, identifier, password).status_code == 400  # 20: beyond the address's 15 too
    assert lock_seconds(limited, citizen.nik) == 0
    assert sign_in(client, citizen).status_code == 303
    time.sleep(0.3)  # a lock notice would leave from a thread
    assert len(outbox(limited)) == before


@pytest.mark.parametrize("rounds", [40])
def test_unknown_account_costs_the_same_time_as_a_wrong_password(make_app, rounds: int) -> None:
    app = make_app(LOGIN_MAX_FAILURES=1000)
    client = app.test_client()
    citizen = register_and_verify(client)
    token = csrf(client.get("/login").data)

    def attempt(identifier: str) -> float:
        """Seconds of the sign-in POST alone (the page fetch is the same for both and not timed)."""
        start = time.perf_counter()
        resp = client.post("/login", data={"csrf_token": token, "kind": "citizen", "identifier": identifier,
                                           "password": WRONG, "req": ""})
        elapsed = time.perf_counter() - start
        assert resp.status_code == 401
        return elapsed

    for _ in range(3):  # warm up both paths (dummy hash, connections, templates)
        attempt(citizen.nik), attempt(make_nik())
    known: list[float] = []
    unknown: list[float] = []
    for i in range(rounds):
        # Interleaved, so that drift in machine load hits both samples alike.
        pairs = [(citizen.nik, known), (make_nik(), unknown)]
        for target, sample in pairs if i % 2 else pairs[::-1]:
            sample.append(attempt(target))
    a, b = statistics.median(known), statistics.median(unknown)
    assert abs(a - b) / max(a, b) < 0.10, f"wrong password {a * 1000:.1f} ms, unknown account {b * 1000:.1f} ms"
