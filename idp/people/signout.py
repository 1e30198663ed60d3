"""What follows the end of sign-in sessions, whatever ended them.

A session ends by RP-initiated logout, by a new sign-in in the same browser, by "sign out" on the
account pages, by an administrator, by the directory sync, or by expiring (idle or absolute timeout;
found by :func:`sweep`).  Every one of these calls
:func:`sessions_ended`, so that the consequences are the same everywhere:

- one audit entry per session;
- the event ``sessions_ended`` (:mod:`idp.events`), to which the protocol layer subscribed:
  :mod:`idp.oauth.tokens` revokes the refresh tokens issued in the sessions (their whole rotation
  family, so the access tokens issued with them stop too), except those issued for ``offline_access``:
  offline access is by definition access while the person is not signed in (OpenID Connect Core 11),
  so it outlives the session, unless the caller says otherwise (the person was disabled);
  :mod:`idp.oauth.backchannel` tells every application that received tokens in the session through
  Back-Channel Logout 1.0 (one notice per application and session, delivered in the background).

The caller commits: everything, the event handlers' work included (they run synchronously, in this
transaction), joins the caller's transaction, so the notices are queued if and only if the revocations
are stored.  This module never imports :mod:`idp.oauth` (the dependency points the other way).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable

from sqlalchemy import delete, select, update

from idp import audit, events
from idp.extensions import db, setting, state
from idp.models import WatchedSession
from idp.people import session as login_session
from idp.people.session import LoginSession


def sessions_ended(sessions: Iterable[LoginSession | None], *, reason: str, keep_offline: bool = True,
                   client_id: str | None = None) -> int:
    """Apply the consequences of ending ``sessions`` (None entries are skipped); families revoked."""
    ended = [s for s in sessions if s is not None]
    if not ended:
        return 0
    # Ended on purpose: the expiry sweep must not report these sessions a second time.
    db.session.execute(delete(WatchedSession).where(WatchedSession.sid.in_([s.sid for s in ended])))
    for session in ended:
        audit.record("logout", person_id=session.person_id, client_id=client_id, reason=reason,
                     clients=len(session.clients))
    results = events.emit(events.SESSIONS_ENDED, sessions=ended, reason=reason, keep_offline=keep_offline)
    return sum(r for r in results if isinstance(r, int))


# --------------------------------------------------------------------------- expiry
def sweep(*, batch: int = 500, max_batches: int = 20, now: float | None = None) -> int:
    """Tell the applications of sessions that expired since the last pass; the number of sessions found.

    Which sessions are watched is decided when an application joins one (``idp.oauth.backchannel.watch``).
    A watched session whose store record is gone (idle timeout) or past its absolute timeout has
    expired: its row is deleted, and whoever deletes it (one process among several nodes: the
    DELETE's row count decides) applies :func:`sessions_ended` (tokens revoked, Back-Channel Logout
    notices queued, audit) in one transaction.  Live sessions are marked checked and skipped until the
    next pass.  Bounded per call (``batch`` x ``max_batches`` rows), so a backlog is worked off over
    several passes instead of holding a worker.
    """
    store = state().store
    now_s = time.time() if now is None else now
    now_dt = dt.datetime.fromtimestamp(now_s, dt.UTC).replace(tzinfo=None)
    due_before = now_dt - dt.timedelta(seconds=setting("SESSION_SWEEP_SECONDS") // 2)
    found = 0
    for _ in range(max_batches):
        rows = db.session.execute(
            select(WatchedSession).where(WatchedSession.checked_at <= due_before)
            .order_by(WatchedSession.checked_at).limit(batch)
        ).scalars().all()
        if not rows:
            break
        records = store.get_many([("sid", row.sid) for row in rows])
        alive: list[WatchedSession] = []
        expired: list[WatchedSession] = []
        for row, data in zip(rows, records, strict=True):
            live = isinstance(data, dict) and int(data.get("absolute_exp", 0)) > now_s and row.absolute_exp > now_dt
            (alive if live else expired).append(row)
        snapshots = [(r.sid, r.person_id, r.sub, list(r.clients)) for r in expired]
        if alive:
            db.session.execute(update(WatchedSession).where(WatchedSession.sid.in_([r.sid for r in alive]))
                               .values(checked_at=now_dt))
        db.session.commit()
        for sid, person_id, sub, clients in snapshots:
            result = db.session.execute(delete(WatchedSession).where(WatchedSession.sid == sid))
            # Zero rows: another process took it, or the session was ended on purpose meanwhile.
            if getattr(result, "rowcount", 0) != 1:
                db.session.rollback()
                continue
            ended = LoginSession(sid=sid, person_id=person_id, sub=sub, auth_time=0, acr="",
                                 amr=[], created=0, absolute_exp=0, clients=clients)
            # The store may still hold the record (absolute timeout reached, key not yet evicted).
            login_session.discard(ended)
            sessions_ended([ended], reason="expired")
            db.session.commit()
            found += 1
        if len(rows) < batch:
            break
    return found
