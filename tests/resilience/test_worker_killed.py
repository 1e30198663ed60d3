"""A provider worker killed with SIGKILL in the middle of token issuance leaves no half-written state.

A real provider under the production server (`idp serve`: one worker; the master starts a new one)
serves a stream of refresh grants with rotation from several threads; the worker is killed with
``kill -9`` while they run.  Afterwards every refresh-token family is whole: either the rotation
happened (the presented token is marked rotated AND its successor exists) or it did not (the presented
token is still the live one) — never a family with no live token and no revocation.  Every client that
kept a live token can go on refreshing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import requests
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import RefreshToken
from tests import services
from tests.oauth import helpers
from tests.oauth.conftest import TEST_DATA_KEY

IDP = str(Path(sys.executable).parent / "idp")
CHAINS = 6


@pytest.fixture
def node(oauth_app: Callable[..., Flask], redis_url: str, postgres_url: str,
         tmp_path: Path) -> Iterator[tuple[Flask, str, subprocess.Popen[bytes]]]:
    issuer = "http://localhost"
    app = oauth_app(ISSUER=issuer)
    cfg = app.extensions["idp"].config
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_INSTANCE_DIR=str(cfg["INSTANCE_DIR"]), IDP_DATABASE_URL=postgres_url, IDP_REDIS_URL=redis_url,
               IDP_ISSUER=issuer, IDP_DATA_KEYS=TEST_DATA_KEY, IDP_BACKCHANNEL_WORKER="false",
               IDP_LOG_LEVEL="WARNING")
    port = services.free_port()
    log = open(tmp_path / "node.log", "wb")  # noqa: SIM115 - closed after the process
    proc = subprocess.Popen([IDP, "serve", "--workers", "1", "--threads", "4", "--bind", f"127.0.0.1:{port}"],
                            env={**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        services.wait_port(port, timeout=30, proc=proc)
        yield app, f"http://127.0.0.1:{port}", proc
    finally:
        services.stop_process(proc)
        log.close()


def first_refresh_token(app: Flask, url: str, client: tuple[str, str], person: tuple[int, str]) -> str:
    browser = requests.Session()
    helpers.sign_in(app, browser, *person)
    verifier, challenge = helpers.pkce_pair()
    resp = browser.get(f"{url}/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": client[0], "redirect_uri": helpers.REDIRECT, "scope": "openid",
        "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"})
    code = helpers.query(resp.headers["Location"])["code"]
    resp = requests.post(f"{url}/token", auth=client, timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": helpers.REDIRECT,
        "code_verifier": verifier})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["refresh_token"])


def test_kill_9_during_token_issuance_leaves_whole_families(
        node: tuple[Flask, str, subprocess.Popen[bytes]]) -> None:
    app, url, master = node
    person = helpers.create_person(app)
    client_id, secret = helpers.create_client(app, first_party=True,
                                              grant_types=["authorization_code", "refresh_token"])
    assert secret
    client = (client_id, secret)
    latest = [first_refresh_token(app, url, client, person) for _ in range(CHAINS)]
    broken = [False] * CHAINS
    stop = threading.Event()
    outcomes: list[str] = []

    def chain(i: int) -> None:
        while not stop.is_set() and not broken[i]:
            try:
                resp = requests.post(f"{url}/token", auth=client, timeout=10,
                                     data={"grant_type": "refresh_token", "refresh_token": latest[i]})
            except requests.RequestException:
                outcomes.append("lost")  # the worker died under this request: we cannot know the outcome
                broken[i] = True
                return
            if resp.status_code == 200:
                latest[i] = resp.json()["refresh_token"]
                outcomes.append("ok")
            else:
                outcomes.append(f"http {resp.status_code}")
                broken[i] = resp.status_code != 503
                time.sleep(0.05)

    threads = [threading.Thread(target=chain, args=(i,)) for i in range(CHAINS)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    workers = psutil.Process(master.pid).children()
    assert len(workers) == 1
    os.kill(workers[0].pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the master starts a new worker
        children = psutil.Process(master.pid).children()
        if children and children[0].pid != workers[0].pid:
            break
        time.sleep(0.1)
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(20)
    assert outcomes.count("ok") > CHAINS, outcomes[:50]
    assert "lost" in outcomes or any(o.startswith("http 5") for o in outcomes), "the kill hit no request"

    with app.app_context():
        rows = db.session.execute(select(RefreshToken)).scalars().all()
        families: dict[str, list[RefreshToken]] = {}
        for row in rows:
            families.setdefault(row.family_id, []).append(row)
        for family, members in families.items():
            if any(r.revoked_at is not None for r in members):
                continue  # revoked as a whole (a replay after a lost answer): consistent too
            live = [r for r in members if r.rotated_at is None]
            rotated = [r for r in members if r.rotated_at is not None]
            # Whole: exactly one live token, and one more row than rotations (each rotation has its
            # successor).  A rotation without its successor would show as no live token at all.
            assert len(live) == 1 and len(members) == len(rotated) + 1, (family, len(live), len(members))
    # Chains that never lost an answer hold the live token of their family and can go on.
    for i in range(CHAINS):
        if not broken[i]:
            resp = requests.post(f"{url}/token", auth=client, timeout=10,
                                 data={"grant_type": "refresh_token", "refresh_token": latest[i]})
            assert resp.status_code == 200, resp.text
