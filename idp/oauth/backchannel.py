"""OpenID Connect Back-Channel Logout 1.0: logout tokens and their durable, background delivery.

When a sign-in session ends, :func:`enqueue` adds one :class:`~idp.models.LogoutNotice` row per
application of that session that registered a ``backchannel_logout_uri`` (one notice per application
AND session), in the caller's transaction.  After the commit the process's delivery thread is woken;
it claims due rows (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers and nodes
never send the same notice twice at once; a compare-and-set update on SQLite), makes a fresh logout
token and POSTs it.  The person is never kept waiting: nothing here runs in their request.

A claimed row gets a lease (its ``next_attempt_at`` moves past the timeout) before the request is
made, so a process that dies mid-delivery leaves the row pending and another pass retries it.  Failed
attempts are retried with exponential backoff; after ``IDP_BACKCHANNEL_MAX_ATTEMPTS`` the row is
``failed``, logged at WARNING and counted by ``idp logout status``.

The sessions are those :mod:`idp.people.signout` reports through the ``sessions_ended`` event
(:mod:`idp.events`, subscribed in :func:`init_app`), and the expired ones its sweep finds among the
sessions :func:`watch` recorded.

The POST is a server-side request to a client-chosen URL, so it goes through the outbound guard of
:mod:`idp.net`: no redirects, proxies or retries, a short timeout, a small response
read, and loopback/private addresses refused unless the test/development switch allows them; the
connection goes to the address that was checked (no second DNS lookup).

A little over 400 lines: queueing, claiming, delivery and the expiry watch share the notice rows and
their lease rules, which read best in one place.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import urllib3
from flask import Flask
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp import events, leases, metrics, net
from idp.extensions import db, setting, state
from idp.models import LogoutNotice, WatchedSession, utcnow
from idp.oauth import keys
from idp.oauth.clients import OAuthClient, query_client
from idp.people import nik_proof, pairwise, signout
from idp.people.session import LoginSession
from idp.sources import citizen

log = logging.getLogger(__name__)

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_TTL = 120  # seconds; Back-Channel Logout 2.4 recommends a short exp (two minutes)
MAX_BACKOFF = 3600
BATCH = 50
LEASE_MARGIN = 30  # seconds beyond the timeout before a claimed, unfinished row may be retried
KEEP_DELIVERED = dt.timedelta(days=7)
KEEP_FAILED = dt.timedelta(days=30)
WAKE_KEY = "idp_backchannel_wake"
START_DELAY = 2.0  # seconds before the first pass of a new thread (unless woken earlier)



# --------------------------------------------------------------------------- the logout token
def logout_token(client: OAuthClient, sid: str, sub: str) -> str:
    """A signed Logout Token (Back-Channel Logout 2.4) for ``client`` about session ``sid`` of ``sub``.

    Signed like the client's ID tokens (same algorithm and keys, so the client verifies it with what
    it already has); ``typ`` is ``logout+jwt`` (2.4, explicit typing against token confusion, RFC 8725
    3.11); never a ``nonce`` (2.4: a logout token with one is rejected).
    """
    alg = client.id_token_alg if client.id_token_alg in keys.ALGORITHMS else keys.DEFAULT_ALG
    kid, key = keys.keyring().signing_key(alg)
    now = int(time.time())
    # The sub as this client knows it: pairwise clients get their own (OIDC Core 8.1).
    claims = {"iss": setting("ISSUER"), "sub": pairwise.subject_for(client, sub), "aud": client.client_id,
              "iat": now, "exp": now + TOKEN_TTL, "jti": uuid.uuid4().hex, "events": {EVENT: {}}, "sid": sid}
    return keys.sign({"alg": alg, "kid": kid, "typ": "logout+jwt"}, claims, key)


# --------------------------------------------------------------------------- the queue
def enqueue(session: LoginSession) -> int:
    """Queue one notice per application of ``session`` that has a back-channel URI; rows added.

    Joins the caller's transaction (the caller commits).  A session already queued for an
    application is not queued twice.
    """
    wanted: list[str] = []
    for client_id in dict.fromkeys(session.clients or []):
        client = query_client(client_id)
        if client is not None and client.backchannel_logout_uri:
            wanted.append(client_id)
    if not wanted:
        return 0
    have = set(db.session.execute(
        select(LogoutNotice.client_id).where(LogoutNotice.sid == session.sid,
                                             LogoutNotice.client_id.in_(wanted))
    ).scalars())
    have.update(obj.client_id for obj in db.session.new
                if isinstance(obj, LogoutNotice) and obj.sid == session.sid)
    now = utcnow()
    added = 0
    for client_id in wanted:
        if client_id not in have:
            db.session.add(LogoutNotice(client_id=client_id, sid=session.sid, sub=session.sub, created_at=now,
                                        attempts=0, next_attempt_at=now, status="pending"))
            added += 1
    if added:
        worker = state().extra.get("backchannel_worker")
        if worker is not None:
            db.session.info[WAKE_KEY] = worker  # woken after the commit (see _after_commit)
    return added


def notify_ended(sessions: Iterable[LoginSession | None]) -> int:
    """Queue the notices for every ended session (None entries skipped); the caller commits."""
    return sum(enqueue(s) for s in sessions if s is not None)


def _sessions_ended(*, sessions: list[LoginSession], reason: str, keep_offline: bool) -> None:
    """Event handler (idp.people.signout.sessions_ended): queue the notices, in the caller's transaction."""
    notify_ended(sessions)


# --------------------------------------------------------------------------- expiry
def watch(session: LoginSession) -> None:
    """Record that ``session`` has an application to tell when it expires; commits its own transaction.

    Called when an application joins the session.  Only sessions with at least one application that
    registered a ``backchannel_logout_uri`` are watched: the others have nobody to tell, and the
    authorization endpoint stays free of a database write for them.  :func:`idp.people.signout.sweep`
    finds the watched sessions that expired.
    """
    if not any((c := query_client(cid)) is not None and c.backchannel_logout_uri for cid in session.clients):
        return
    absolute = dt.datetime.fromtimestamp(session.absolute_exp, dt.UTC).replace(tzinfo=None)
    for _attempt in range(2):  # a concurrent first write of the same sid (two tabs) wins once
        row = db.session.get(WatchedSession, session.sid)
        if row is None:
            db.session.add(WatchedSession(sid=session.sid, person_id=session.person_id, sub=session.sub,
                                          clients=list(session.clients), absolute_exp=absolute,
                                          checked_at=utcnow()))
        else:
            row.clients = sorted(set(row.clients) | set(session.clients))
        try:
            db.session.commit()
            return
        except IntegrityError:
            db.session.rollback()
    log.warning("could not record a watched session")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    worker = session.info.pop(WAKE_KEY, None)
    if worker is not None:
        worker.wake()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(WAKE_KEY, None)


# --------------------------------------------------------------------------- delivery
@dataclass(frozen=True)
class _Claimed:
    id: int
    client_id: str
    sid: str
    sub: str
    attempts: int


def _claim(now: dt.datetime, limit: int) -> list[_Claimed]:
    """Take up to ``limit`` due notices: count the attempt and lease them, then commit (idp.leases)."""
    lease = now + dt.timedelta(seconds=setting("BACKCHANNEL_TIMEOUT") + LEASE_MARGIN)
    return leases.claim_due(LogoutNotice, now, limit, lease,
                            lambda row, attempts: _Claimed(row.id, row.client_id, row.sid, row.sub, attempts))


def _post(uri: str, token: str) -> int:
    """POST ``logout_token`` (Back-Channel Logout 2.5) to ``uri``; the HTTP status. Raises on refusal."""
    try:
        # The body is not used; a small read lets the connection close cleanly.
        resp = net.request("POST", uri, timeout=setting("BACKCHANNEL_TIMEOUT"), max_bytes=4095,
                           body=urlencode({"logout_token": token}),
                           headers={"Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-store"})
    except net.Refused as exc:
        if exc.reason == "not https":
            raise ValueError("refused: not https") from None
        raise ValueError("refused: host does not resolve or address not allowed") from None
    return resp.status


def _attempt(item: _Claimed) -> str | None:
    """Send one notice; None when delivered, else a short reason (never the token)."""
    client = query_client(item.client_id)
    if client is None:
        return "client unknown or disabled"
    uri = client.backchannel_logout_uri
    if not uri:
        return "client has no backchannel_logout_uri"
    try:
        status = _post(uri, logout_token(client, item.sid, item.sub))
    except ValueError as exc:
        return str(exc)[:200]
    except urllib3.exceptions.NewConnectionError:
        # Checked first: urllib3 makes it a subclass of its timeout errors.
        return "connection error (refused or unreachable)"
    except urllib3.exceptions.TimeoutError:
        return "timeout"
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return f"connection error ({type(exc).__name__})"
    # Back-Channel Logout 2.8: 200 on success; some frameworks answer 204, which is accepted too.
    return None if status in (200, 204) else f"HTTP {status}"


def _finish(item: _Claimed, error: str | None, now: dt.datetime) -> str:
    """Record the outcome of one attempt; the new status."""
    values: dict[str, Any]
    if error is None:
        values = {"status": "delivered", "last_error": None}
    elif item.attempts >= setting("BACKCHANNEL_MAX_ATTEMPTS"):
        values = {"status": "failed", "last_error": error}
        log.warning("back-channel logout to client %s failed after %d attempts: %s", item.client_id,
                    item.attempts, error)
    else:
        delay = min(setting("BACKCHANNEL_RETRY_SECONDS") * 2 ** (item.attempts - 1), MAX_BACKOFF)
        values = {"next_attempt_at": now + dt.timedelta(seconds=delay), "last_error": error}
        log.info("back-channel logout to client %s: attempt %d failed (%s); retry in %d s", item.client_id,
                 item.attempts, error, delay)
    db.session.execute(update(LogoutNotice).where(LogoutNotice.id == item.id).values(**values)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    return str(values.get("status", "pending"))


def deliver(now: dt.datetime | None = None, limit: int | None = None) -> Counter[str]:
    """One delivery pass over the due notices (``now``: the clock, for tests and replays).

    Returns counts of the outcomes: ``delivered``, ``pending`` (will retry) and ``failed``.
    """
    now = now or utcnow()
    outcomes: Counter[str] = Counter()
    remaining = limit
    while remaining is None or remaining > 0:
        batch = _claim(now, BATCH if remaining is None else min(BATCH, remaining))
        if not batch:
            break
        for item in batch:
            outcome = _finish(item, _attempt(item), now)
            metrics.backchannel_delivered(outcome)
            outcomes[outcome] += 1
        if remaining is not None:
            remaining -= len(batch)
    _purge(now)
    return outcomes


def _purge(now: dt.datetime) -> None:
    """Forget delivered notices after a week and failed ones after a month (operators saw them)."""
    db.session.execute(delete(LogoutNotice).where(
        ((LogoutNotice.status == "delivered") & (LogoutNotice.created_at < now - KEEP_DELIVERED))
        | ((LogoutNotice.status == "failed") & (LogoutNotice.created_at < now - KEEP_FAILED))))
    db.session.commit()


def next_due() -> dt.datetime | None:
    """When the earliest pending notice is due, or None."""
    value = db.session.execute(select(func.min(LogoutNotice.next_attempt_at))
                               .where(LogoutNotice.status == "pending")).scalar()
    db.session.rollback()
    return value


def status_counts() -> dict[str, dict[str, int]]:
    """{client_id: {status: count}} for pending and failed notices (operators)."""
    rows = db.session.execute(
        select(LogoutNotice.client_id, LogoutNotice.status, func.count())
        .where(LogoutNotice.status.in_(("pending", "failed")))
        .group_by(LogoutNotice.client_id, LogoutNotice.status).order_by(LogoutNotice.client_id)).all()
    out: dict[str, dict[str, int]] = {}
    for client_id, status, count in rows:
        out.setdefault(client_id, {"pending": 0, "failed": 0})[status] = int(count)
    return out


# --------------------------------------------------------------------------- the background thread
class Worker:
    """The delivery thread of one app in one process: woken after enqueue, else polls.

    It holds the app only weakly, so an app that is dropped (tests build many) ends its thread.  The
    thread is (re)started lazily in the current process, so a gunicorn worker forked from a preloaded
    app gets its own.
    """

    def __init__(self, app: Flask) -> None:
        self._app = weakref.ref(app)
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._stopped = False
        self._next_sweep = 0.0

    def ensure_started(self) -> None:
        if self._pid == os.getpid() or self._stopped:
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="idp-backchannel", daemon=True).start()

    def wake(self) -> None:
        self.ensure_started()
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def _run(self) -> None:
        # A short pause first: notices left by a restart go out within seconds, and a process that
        # is still setting up (migrations, tests building their schema) is not raced.
        wait: float | None = START_DELAY
        while not self._stopped:
            self._wake.wait(wait)
            self._wake.clear()
            if self._stopped:
                return
            wait = self._pass()
            if wait is None:
                return

    def _pass(self) -> float | None:
        """One delivery pass; seconds to sleep, or None when the app is gone."""
        app = self._app()
        if app is None:
            return None
        poll = float(state(app).config["BACKCHANNEL_POLL_SECONDS"])
        try:
            with app.app_context():
                pools = [db.engine.pool]
                try:
                    self._sweep(app)
                    deliver()
                    self._registry()
                    due = next_due()
                finally:
                    db.session.remove()
                    if self._stopped:
                        # The engine was disposed of during this pass: the connection just returned
                        # went to a pool nobody else will close.
                        pools.append(db.engine.pool)
                        for pool in pools:
                            pool.dispose()
        except Exception as exc:  # noqa: BLE001 - database down etc.: keep the thread, try again later
            log.warning("back-channel logout delivery pass failed: %s", type(exc).__name__)
            return poll
        if due is None:
            return poll
        return max(0.05, min(poll, (due - utcnow()).total_seconds()))

    def _registry(self) -> None:
        """Work the population-registry queue (idp.people.nik_proof) and delete registrations left unconfirmed
        (idp.sources.citizen.purge_unverified): the same thread, the same pass."""
        for task in (nik_proof.work, citizen.purge_unverified):
            try:
                task()
            except Exception as exc:  # noqa: BLE001 - store or database down: try again at the next pass
                db.session.rollback()
                log.warning("citizen upkeep pass failed: %s", type(exc).__name__)

    def _sweep(self, app: Flask) -> None:
        """Look for expired sessions (idp.people.signout.sweep) every ``IDP_SESSION_SWEEP_SECONDS``."""
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + state(app).config["SESSION_SWEEP_SECONDS"]
        try:
            signout.sweep()
        except Exception as exc:  # noqa: BLE001 - store or database down: try again at the next sweep
            db.session.rollback()
            log.warning("session expiry sweep failed: %s", type(exc).__name__)


def init_app(app: Flask) -> None:
    """Queue notices when sessions end (event ``sessions_ended``); create and start the delivery thread
    of ``app`` when ``IDP_BACKCHANNEL_WORKER`` is on."""
    events.subscribe(app, events.SESSIONS_ENDED, _sessions_ended)
    if not state(app).config["BACKCHANNEL_WORKER"]:
        return
    worker = Worker(app)
    state(app).extra["backchannel_worker"] = worker

    @app.before_request
    def _ensure_worker() -> None:
        worker.ensure_started()  # one attribute comparison; starts the thread after a fork

    with app.app_context():
        # Disposing of the app's engine means the app is being shut down (tests do it for every app
        # they build): the thread stops instead of opening new connections behind its back.
        event.listen(db.engine, "engine_disposed", lambda _engine: worker.stop())
    worker.ensure_started()
