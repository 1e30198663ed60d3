"""Attack: find out through "forgot your password?" which NIKs and addresses have accounts (issue 16).

The attacker asks for codes for a real account, an unknown NIK, an unknown address and an account whose
address was never confirmed: every answer is the same redirect to the same page, no mail reaches anyone
but the real, confirmed owner, and the time taken does not tell the cases apart (the mail leaves from a
thread)."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable

from flask import Flask

from tests.citizen.helpers import csrf, forgot, make_nik, outbox, register, register_and_verify, wait_for_mails
from tests.helpers import from_address as browser


def normalized(html: str) -> str:
    return re.sub(r'value="[^"]+"', 'value=""', html)


def test_every_identifier_gets_the_same_answer(oauth_app: Callable[..., Flask]) -> None:
    app = oauth_app()
    real = register_and_verify(browser(app, "10.7.0.1"))
    unconfirmed, _ = register(browser(app, "10.7.0.2"))
    mails_before = len(outbox(app))
    answers = []
    for n, typed in enumerate([real.nik, real.email, make_nik(), "nobody-here@example.org", unconfirmed.nik,
                               unconfirmed.email]):
        attacker = browser(app, f"10.7.1.{n}")
        resp = forgot(attacker, typed)
        page = attacker.get(resp.headers["Location"])
        answers.append((resp.status_code, resp.headers["Location"], page.status_code,
                        normalized(page.get_data(as_text=True))))
    assert len(set(answers)) == 1, [a[:3] for a in answers]
    sent = wait_for_mails(app, real.email, 3)  # verification + two codes
    assert len(outbox(app)) - mails_before == 2 and len(sent) == 3
    assert all(m["To"] == real.email for m in outbox(app)[mails_before:])


def test_the_time_taken_does_not_tell(oauth_app: Callable[..., Flask]) -> None:
    """Median time for a real account and for an unknown NIK within 25 percent, over alternating tries."""
    app = oauth_app(RECOVERY_REQUESTS_PER_IP=1000)
    real = register_and_verify(browser(app, "10.7.2.1"))
    attacker = browser(app, "10.7.2.2")
    token = csrf(attacker.get("/forgot-password").data)
    unknown = make_nik()
    timings: dict[str, list[float]] = {"real": [], "unknown": []}
    for n in range(60):
        for label, typed in (("real", real.nik), ("unknown", unknown)) if n % 2 else (("unknown", unknown),
                                                                                      ("real", real.nik)):
            started = time.perf_counter()
            resp = attacker.post("/forgot-password", data={"csrf_token": token, "identifier": typed})
            timings[label].append(time.perf_counter() - started)
            assert resp.status_code == 303
    real_ms, unknown_ms = statistics.median(timings["real"][10:]), statistics.median(timings["unknown"][10:])
    assert abs(real_ms - unknown_ms) <= 0.25 * max(real_ms, unknown_ms), (real_ms, unknown_ms)
