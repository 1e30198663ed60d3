"""Staff sign-in (issue 7): an unknown user name costs the same time as a wrong password (within 10
percent over many tries), against the real slapd."""

from __future__ import annotations

import statistics
import time
import uuid

from tests.citizen.helpers import csrf

from .conftest import BUDI


def test_unknown_user_costs_the_same_time_as_a_wrong_password(ldap_app) -> None:
    app = ldap_app(LOGIN_MAX_FAILURES=1000)
    client = app.test_client()
    token = csrf(client.get("/login").data)

    def attempt(user: str) -> float:
        start = time.perf_counter()
        resp = client.post("/login", data={"csrf_token": token, "kind": "ldap", "identifier": user,
                                           "password": "Salah-Sekali-2026", "req": ""})
        elapsed = time.perf_counter() - start
        assert resp.status_code == 401, resp.status_code
        return elapsed

    for _ in range(3):
        attempt(BUDI[0]), attempt("nobody" + uuid.uuid4().hex[:6])
    known: list[float] = []
    unknown: list[float] = []
    for i in range(40):
        pairs = [(BUDI[0], known), ("nobody" + uuid.uuid4().hex[:6], unknown)]
        for user, sample in pairs if i % 2 else pairs[::-1]:
            sample.append(attempt(user))
    a, b = statistics.median(known), statistics.median(unknown)
    assert abs(a - b) / max(a, b) < 0.10, f"wrong password {a * 1000:.1f} ms, unknown user {b * 1000:.1f} ms"
