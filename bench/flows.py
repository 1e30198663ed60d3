"""The browser-and-application side of the sign-in workloads: a load generator run as its own process.

One *flow* is what a person and a relying party do for one sign-in with consent already given:
GET /authorize (302 to the sign-in page) -> GET /login (the form and its CSRF token) -> POST /login
(password check: argon2id for citizens, an LDAP bind for staff) -> GET /authorize/resume (302 with the
code, consent remembered) -> POST /token (code + PKCE S256, HTTP Basic client authentication) ->
GET /userinfo.  Each flow uses a fresh cookie jar, as a new browser would.

``python bench/flows.py --base URL ... --duration 10`` (password and client secret in
``BENCH_PASSWORD`` and ``BENCH_CLIENT_SECRET``) runs flows from several threads until the time
is up and prints one ``BENCH_JSON`` line (flows, errors, latency percentiles).  :func:`seed_tokens`
is used by ``run.py`` to obtain access and refresh tokens through the same public endpoints.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import requests

# The sign-in form (WTForms) and the consent form (a template) write their hidden fields differently.
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
HIDDEN_RE = re.compile(r'type="hidden" name="(csrf_token|req)" value="([^"]+)"')


class FlowError(RuntimeError):
    """A step answered something a working provider would not."""


@dataclass
class Rp:
    """The relying party of the flows (a registered confidential client)."""

    base: str
    client_id: str
    secret: str
    redirect_uri: str
    scope: str = "openid profile email"

    def basic(self) -> dict[str, str]:
        raw = f"{quote(self.client_id, safe='')}:{quote(self.secret, safe='')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _expect(resp: requests.Response, status: int, step: str) -> requests.Response:
    if resp.status_code != status:
        raise FlowError(f"{step}: HTTP {resp.status_code}, expected {status}")
    return resp


def _absolute(rp: Rp, location: str) -> str:
    return location if location.startswith("http") else rp.base + location


def authorize(rp: Rp, browser: requests.Session, verifier_challenge: tuple[str, str]) -> requests.Response:
    _, challenge = verifier_challenge
    params = {"response_type": "code", "client_id": rp.client_id, "redirect_uri": rp.redirect_uri,
              "scope": rp.scope, "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
              "code_challenge": challenge, "code_challenge_method": "S256"}
    return browser.get(rp.base + "/authorize", params=params, allow_redirects=False, timeout=30)


def sign_in(rp: Rp, browser: requests.Session, login_url: str, identifier: str, password: str,
            kind: str) -> str:
    """The sign-in page and its form; returns the resume URL."""
    page = _expect(browser.get(_absolute(rp, login_url), timeout=30), 200, "GET /login")
    found = CSRF_RE.search(page.text)
    if not found:
        raise FlowError("GET /login: no CSRF token in the page")
    req = _query(login_url).get("req", "")
    resp = browser.post(rp.base + "/login", allow_redirects=False, timeout=30, data={
        "csrf_token": found.group(1), "identifier": identifier, "password": password, "kind": kind, "req": req})
    _expect(resp, 303, "POST /login")
    return _absolute(rp, resp.headers["Location"])


def consent(rp: Rp, browser: requests.Session, page: requests.Response) -> requests.Response:
    """Press "allow" on the consent page (seeding only: the measured flows have consent remembered)."""
    fields = dict(HIDDEN_RE.findall(page.text))
    if set(fields) != {"csrf_token", "req"}:
        raise FlowError("consent page without its form")
    return browser.post(rp.base + "/authorize/consent", allow_redirects=False, timeout=30,
                        data={**fields, "decision": "allow"})


def redeem(rp: Rp, http: requests.Session, answer: requests.Response, verifier: str) -> dict[str, Any]:
    _expect(answer, 302, "authorization response")
    code = _query(answer.headers["Location"]).get("code")
    if not code:
        raise FlowError("authorization response without a code")
    token = http.post(rp.base + "/token", headers=rp.basic(), timeout=30, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
        "code_verifier": verifier})
    _expect(token, 200, "POST /token")
    body: dict[str, Any] = token.json()
    return body


def full_flow(rp: Rp, identifier: str, password: str, kind: str, *, allow_consent: bool = False) -> dict[str, Any]:
    """One complete sign-in as a new browser; returns the token response.  Raises FlowError."""
    with requests.Session() as browser:
        pair = _pkce()
        start = _expect(authorize(rp, browser, pair), 302, "GET /authorize")
        resume = sign_in(rp, browser, start.headers["Location"], identifier, password, kind)
        answer = browser.get(resume, allow_redirects=False, timeout=30)
        if answer.status_code == 200 and allow_consent:
            answer = consent(rp, browser, answer)
        tokens = redeem(rp, browser, answer, pair[0])
        info = browser.get(rp.base + "/userinfo", timeout=30,
                           headers={"Authorization": f"Bearer {tokens['access_token']}"})
        _expect(info, 200, "GET /userinfo")
        return tokens


def seed_tokens(rp: Rp, identifier: str, password: str, kind: str, count: int) -> list[dict[str, Any]]:
    """Sign in once (giving consent), then run ``count`` authorizations in that browser session; each
    yields a token response from its own family (so each refresh token can rotate independently)."""
    out = [full_flow(rp, identifier, password, kind, allow_consent=True)]
    with requests.Session() as browser:
        pair = _pkce()
        start = _expect(authorize(rp, browser, pair), 302, "GET /authorize")
        resume = sign_in(rp, browser, start.headers["Location"], identifier, password, kind)
        out.append(redeem(rp, browser, browser.get(resume, allow_redirects=False, timeout=30), pair[0]))
        while len(out) < count:
            pair = _pkce()
            out.append(redeem(rp, browser, authorize(rp, browser, pair), pair[0]))
    return out


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def drive(rp: Rp, identifier: str, password: str, kind: str, duration: float, concurrency: int) -> dict[str, Any]:
    """Run flows from ``concurrency`` threads for ``duration`` seconds."""
    tally = Tally()
    deadline = time.monotonic() + duration

    def worker() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                full_flow(rp, identifier, password, kind)
            except (FlowError, requests.RequestException, KeyError, ValueError) as exc:
                with tally.lock:
                    tally.errors += 1
                    if len(tally.first_errors) < 5:
                        tally.first_errors.append(str(exc)[:200])
                continue
            elapsed = time.perf_counter() - started
            with tally.lock:
                tally.latencies.append(elapsed)

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 60)
    wall = time.perf_counter() - began
    lat = tally.latencies
    return {"flows": len(lat), "errors": tally.errors, "first_errors": tally.first_errors, "wall_s": wall,
            "p50_us": _percentile(lat, 50) * 1e6, "p90_us": _percentile(lat, 90) * 1e6,
            "p99_us": _percentile(lat, 99) * 1e6, "mean_us": (statistics.fmean(lat) * 1e6) if lat else 0.0,
            "requests_per_flow": 6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--redirect-uri", required=True)
    parser.add_argument("--scope", default="openid profile email")
    parser.add_argument("--identifier", required=True)
    parser.add_argument("--kind", choices=("citizen", "ldap"), required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    # The password and the client secret come from the environment: a command line is visible in ps.
    rp = Rp(base=args.base, client_id=args.client_id, secret=os.environ["BENCH_CLIENT_SECRET"],
            redirect_uri=args.redirect_uri, scope=args.scope)
    result = drive(rp, args.identifier, os.environ["BENCH_PASSWORD"], args.kind, args.duration, args.concurrency)
    sys.stdout.write("BENCH_JSON " + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
