"""Proving a NIK with the population registry: the account page queues, the work pass asks the simulator over HTTP.

The registry is ``idp registry-sim``'s server (its own seeded data set) started on a free port; its
misbehaving modes stand in for a slow, failing or malicious registry.  Nothing here blocks sign-in.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from idp import assurance
from idp.cli import registry as registry_cli
from idp.extensions import db
from idp.models import AuditEvent, CitizenAccount, NikVerification
from idp.people import nik_proof

from .helpers import csrf, register_and_verify, sign_in

SITI = {"nik": "3603014501900001", "name": "Siti Aminah", "birthdate": dt.date(1990, 1, 5)}


@pytest.fixture
def sim() -> Iterator[registry_cli.RunningSimulator]:
    running = registry_cli.RunningSimulator(registry_cli.Simulator()).start()
    yield running
    running.stop()


def _mode(sim: registry_cli.RunningSimulator, mode: str) -> None:
    req = urllib.request.Request(sim.url.replace("/verify", "/_sim/mode"), data=json.dumps({"mode": mode}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - the test's own loopback server
        assert resp.status == 200


@pytest.fixture
def reg_app(make_app: Callable[..., Flask], sim: registry_cli.RunningSimulator) -> Callable[..., Flask]:
    def factory(**overrides: Any) -> Flask:
        settings = {"REGISTRY_URL": sim.url, "REGISTRY_USER": "agency", "REGISTRY_PASSWORD": "registry-sim",
                    "REGISTRY_TIMEOUT": 2, "JWKS_URI_ALLOW_LOOPBACK": True, **overrides}
        return make_app(**settings)

    return factory


def _citizen(app: Flask, **person: Any) -> Any:
    person = {**SITI, **person}
    client = app.test_client()
    citizen = register_and_verify(client, nik=person["nik"], name=person["name"], birthdate=person["birthdate"])
    assert sign_in(client, citizen).status_code == 303
    return client


def _ask(client: Any, birthplace: str = "Tangerang", mother_name: str = "") -> Any:
    assert client.get("/account/nik").status_code == 200
    token = csrf(client.get("/account/data").data)  # the session's token (the form may not be offered)
    return client.post("/account/nik", data={"csrf_token": token, "birthplace": birthplace,
                                             "mother_name": mother_name})


def _work(app: Flask, **kwargs: Any) -> dict[str, int]:
    with app.app_context():
        return dict(nik_proof.work(**kwargs))


def _row(app: Flask) -> NikVerification:
    with app.app_context():
        row = db.session.execute(select(NikVerification).order_by(NikVerification.id.desc())).scalars().first()
        assert row is not None
        db.session.expunge(row)
        return row


def _level(app: Flask) -> str:
    with app.app_context():
        return str(db.session.execute(select(CitizenAccount.assurance)).scalar_one())


@pytest.mark.parametrize(("birthplace", "mother"), [("Tangerang", ""), ("  tangerang ", "aisyah"), ("TANGERANG", "")])
def test_a_registry_match_raises_the_nik_level(reg_app, sim, birthplace, mother) -> None:
    app = reg_app()
    client = _citizen(app)
    resp = _ask(client, birthplace, mother)
    assert resp.status_code == 303
    assert _row(app).status == "pending" and sim.simulator.calls == 0  # queued: the person did not wait
    assert _work(app) == {"matched": 1}
    row = _row(app)
    assert row.status == "matched" and row.payload_enc is None  # the typed data are erased with the answer
    assert set(row.matched or []) >= {"full_name", "birthdate", "birthplace"}
    assert row.request_id and row.request_id.startswith("SIM-") and row.completed_at is not None
    assert _level(app) == assurance.CITIZEN_REGISTRY
    page = client.get("/account/nik").get_data(as_text=True)
    assert "Matched by the population registry" in page and 'id="verify-nik"' not in page
    assert "Matched by the population registry" in client.get("/account").get_data(as_text=True)
    with app.app_context():
        events = db.session.execute(select(AuditEvent).where(AuditEvent.event.like("nik.%"))).scalars().all()
        text = json.dumps([e.detail for e in events])
    assert {e.event for e in events} == {"nik.registry_requested", "nik.registry_checked"}
    assert SITI["nik"] not in text and "3603********0001" in text  # masked form and keyed hash only
    exported = client.post("/account/data", data={"csrf_token": csrf(client.get("/account/data").data)})
    proof = exported.get_json()["citizen_account"]["nik_verification"]
    assert proof["method"] == "registry" and proof["verified_at"]
    assert proof["registry_requests"][0]["status"] == "matched"
    assert set(proof["registry_requests"][0]) == {"status", "matched", "requested_at", "answered_at", "request_id"}


@pytest.mark.parametrize(("person", "birthplace", "mother"), [
    ({}, "Serang", ""),  # wrong birth place
    ({}, "Tangerang", "Ratna"),  # a mother's name that was given must match too
    ({"name": "Siti Aminah Putri"}, "Tangerang", ""),  # a name the registry does not hold
    ({"nik": "3603014501900099"}, "Tangerang", ""),  # a NIK the registry does not know
])
def test_a_mismatch_changes_nothing(reg_app, person, birthplace, mother) -> None:
    app = reg_app()
    client = _citizen(app, **person)
    assert _ask(client, birthplace, mother).status_code == 303
    assert _work(app) == {"mismatch": 1}
    row = _row(app)
    assert row.status == "mismatch" and row.payload_enc is None
    assert _level(app) == assurance.CITIZEN
    assert "did not match" in client.get("/account/nik").get_data(as_text=True)


@pytest.mark.parametrize(("mode", "error"), [
    ("error", "HTTP 503"),
    ("html", "not JSON"),  # a login page of a proxy in front of the registry
    ("huge", "answer too large"),
    ("garbage", "malformed JSON"),
    ("liar", "malformed match flags"),  # "yes" and 1 are not a match
    ("slow", "timeout"),
])
def test_hostile_or_failing_answers_leave_the_request_queued(reg_app, sim, mode, error) -> None:
    app = reg_app(REGISTRY_TIMEOUT=1)
    client = _citizen(app)
    assert _ask(client).status_code == 303
    _mode(sim, mode)
    started = time.monotonic()
    assert _work(app) == {"pending": 1}
    assert time.monotonic() - started < 10  # the total timeout holds for a registry that never answers
    row = _row(app)
    assert row.status == "pending" and row.attempts == 1 and row.last_error == error
    assert row.payload_enc is not None  # kept (encrypted) for the retry
    assert _level(app) == assurance.CITIZEN
    # The registry misbehaving never blocks sign-in.
    again = app.test_client()
    assert sign_in(again, SITI["nik"], "kopi tubruk di pagi hari").status_code == 303
    # Back to normal: the retry, after its backoff, proves the NIK.
    _mode(sim, "normal")
    assert _work(app) == {}  # not due yet
    assert _work(app, now=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=5)) == {"matched": 1}
    assert _level(app) == assurance.CITIZEN_REGISTRY


def test_given_up_after_the_attempts_and_the_data_erased(reg_app, sim) -> None:
    app = reg_app(REGISTRY_MAX_ATTEMPTS=2, REGISTRY_BREAKER_FAILURES=10)
    client = _citizen(app)
    _ask(client)
    _mode(sim, "error")
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert _work(app, now=later) == {"pending": 1}
    assert _work(app, now=later + dt.timedelta(hours=2)) == {"failed": 1}
    row = _row(app)
    assert row.status == "failed" and row.payload_enc is None and row.last_error == "HTTP 503"
    assert "could not be reached" in client.get("/account/nik").get_data(as_text=True)
    assert _ask(client).status_code == 303  # the person may ask again


def test_circuit_breaker_stops_calling_a_failing_registry(reg_app, sim) -> None:
    app = reg_app(REGISTRY_BREAKER_FAILURES=2, REGISTRY_RETRY_SECONDS=1)
    clients = [_citizen(app, nik=n, name=name, birthdate=b) for n, name, b in (
        (SITI["nik"], SITI["name"], SITI["birthdate"]),
        ("3604011205900002", "Budi Santoso", dt.date(1990, 5, 12)),
        ("3672015708850003", "Dewi Lestari", dt.date(1985, 8, 17)))]
    for client, place in zip(clients, ("Tangerang", "Serang", "Cilegon"), strict=True):
        assert _ask(client, place).status_code == 303
    _mode(sim, "error")
    outcome = _work(app)
    assert outcome == {"pending": 2, "held": 3}  # two failures opened it; the third request was not sent
    assert sim.simulator.calls == 2
    _mode(sim, "normal")
    assert _work(app, now=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1))["held"] == 3
    assert sim.simulator.calls == 2  # still open: nothing sent
    with app.app_context():
        app.extensions["idp"].store.delete("registry-breaker", "open")  # its time is up
    assert _work(app, now=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)) == {"matched": 3}


@pytest.mark.parametrize(("overrides", "error"), [
    ({"REGISTRY_PASSWORD": "wrong"}, "HTTP 401"),
    ({"JWKS_URI_ALLOW_LOOPBACK": False}, "refused: not https"),  # the outbound guard applies (http, loopback)
])
def test_refused_requests_stay_queued(reg_app, overrides, error) -> None:
    app = reg_app(**overrides)
    _ask(_citizen(app))
    assert _work(app) == {"pending": 1}
    assert _row(app).last_error == error


def test_requests_are_refused_when_not_offered_or_not_needed(make_app, reg_app, sim) -> None:
    off = make_app()
    client = _citizen(off)
    assert 'id="verify-nik"' not in client.get("/account/nik").get_data(as_text=True)
    resp = _ask(client)
    assert resp.status_code == 400 and "not offered" in resp.get_data(as_text=True)
    app = reg_app()
    client = _citizen(app)
    assert _ask(client).status_code == 303
    second = _ask(client)
    assert second.status_code == 409 and "already waiting" in second.get_data(as_text=True)
    _work(app)
    assert _ask(client).status_code == 409  # already verified
    assert sim.simulator.calls == 1


@pytest.mark.parametrize("birthplace", ["", "x" * 101, "Tange\x00rang", "Tange\u202erang", "\ue000Serang"])
def test_bad_birthplace_is_refused(reg_app, birthplace) -> None:
    app = reg_app()
    resp = _ask(_citizen(app), birthplace)
    assert resp.status_code == 400 and "place of birth" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(NikVerification)).first() is None


def test_the_work_command_and_status(reg_app) -> None:
    app = reg_app()
    _ask(_citizen(app))
    runner = app.test_cli_runner()
    assert "pending 0" in runner.invoke(args=["registry", "work"]).output
    assert json.loads(runner.invoke(args=["registry", "status"]).output) == {"matched": 1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_registry_sim_command_serves_http(tmp_path) -> None:
    extra = tmp_path / "people.json"
    extra.write_text(json.dumps([{"nik": "3671010101010001", "full_name": "Rina", "birthdate": "2001-01-01",
                                  "birthplace": "Serang"}]))
    port = _free_port()
    idp = os.path.join(os.path.dirname(sys.executable), "idp")
    proc = subprocess.Popen([idp, "registry-sim", "--port", str(port), "--data", str(extra)],  # noqa: S603
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = json.dumps({"nik": "3671010101010001", "full_name": "RINA", "birthdate": "2001-01-01",
                           "birthplace": "Cilegon"}).encode()
        auth = "Basic YWdlbmN5OnJlZ2lzdHJ5LXNpbQ=="  # agency:registry-sim
        for _ in range(100):
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/verify", data=body, method="POST",
                                             headers={"Content-Type": "application/json", "Authorization": auth})
                with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - our own loopback server
                    answer = json.loads(resp.read())
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("the simulator did not start")
        assert answer["found"] is True
        assert answer["match"] == {"full_name": True, "birthdate": True, "birthplace": False}
        assert set(answer) == {"request_id", "found", "match"}  # flags only, never the record
    finally:
        proc.terminate()
        proc.wait(timeout=10)
