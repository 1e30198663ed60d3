"""What follows the end of sign-in sessions, whatever ended them.

A session ends by RP-initiated logout, by a new sign-in in the same browser, by "sign out" on the
account pages, by an administrator, by the directory sync, or by expiring (idle or absolute timeout;
found by :func:`sweep`).  Every one of these calls
:func:`sessions_ended`, so that the consequences are the same everywhere:

- the refresh tokens issued in the session are revoked (their whole rotation family, so the access
  tokens issued with them stop too), except those issued for ``offline_access``: offline access is
  by definition access while the person is not signed in (OpenID Connect Core 11), so it outlives the
  session, unless the caller says otherwise (the person was disabled);
- every application that received tokens in the session is told through Back-Channel Logout 1.0
  (one notice per application and session, delivered in the background);
- one audit entry per session.

The caller commits: everything joins the caller's transaction, so the notices are queued if and only
if the revocations are stored.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from idp import audit
from idp.extensions import db, setting, state
from idp.models import RefreshToken, WatchedSession, utcnow

if TYPE_CHECKING:
    from idp.people.session import LoginSession

log = logging.getLogger(__name__)


def revoke_session_tokens(sid: str, reason: str, *, keep_offline: bool = True) -> int:
    """Revoke the refresh token families issued in session ``sid``; the number revoked."""
    from idp.oauth import tokens

    rows = db.session.execute(
        select(RefreshToken.family_id, RefreshToken.scope)
        .where(RefreshToken.sid == sid, RefreshToken.revoked_at.is_(None))
    ).all()
    families = {family for family, scope in rows
                if not (keep_offline and "offline_access" in (scope or "").split())}
    for family in sorted(families):
        tokens.revoke_family(family, reason)
    return len(families)


def sessions_ended(sessions: Iterable[LoginSession | None], *, reason: str, keep_offline: bool = True,
                   client_id: str | None = None) -> int:
    """Apply the consequences of ending ``sessions`` (None entries are skipped); families revoked."""
    ended = [s for s in sessions if s is not None]
    revoked = 0
    if ended:
        # Ended on purpose: the expiry sweep must not report these sessions a second time.
        db.session.execute(delete(WatchedSession).where(WatchedSession.sid.in_([s.sid for s in ended])))
    for session in ended:
        revoked += revoke_session_tokens(session.sid, f"logout:{reason}", keep_offline=keep_offline)
        audit.record("logout", person_id=session.person_id, client_id=client_id, reason=reason,
                     clients=len(session.clients))
    if ended:
        from idp.oauth import backchannel

        backchannel.notify_ended(ended)
    return revoked


# --------------------------------------------------------------------------- expiry
def watch(session: LoginSession) -> None:
    """Record that ``session`` has an application to tell when it expires; commits its own transaction.

    Called when an application joins the session.  Only sessions with at least one application that
    registered a ``backchannel_logout_uri`` are watched: the others have nobody to tell, and the
    authorization endpoint stays free of a database write for them.
    """
    from idp.oauth.clients import query_client

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



def sweep(*, batch: int = 500, max_batches: int = 20, now: float | None = None) -> int:
    """Tell the applications of sessions that expired since the last pass; the number of sessions found.

    A watched session whose store record is gone (idle timeout) or past its absolute timeout has
    expired: its row is deleted, and whoever deletes it (one process among several nodes: the
    DELETE's row count decides) revokes the session's refresh tokens, queues the Back-Channel Logout
    notices and audits, in one transaction.  Live sessions are marked checked and skipped until the
    next pass.  Bounded per call (``batch`` x ``max_batches`` rows), so a backlog is worked off over
    several passes instead of holding a worker.
    """
    from idp.oauth import backchannel
    from idp.people import session as login_session

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
            ended = login_session.LoginSession(sid=sid, person_id=person_id, sub=sub, auth_time=0, acr="",
                                               amr=[], created=0, absolute_exp=0, clients=clients)
            # The store may still hold the record (absolute timeout reached, key not yet evicted).
            store.delete("sid", sid)
            store.set_remove(login_session.INDEX, str(person_id), sid)
            revoke_session_tokens(sid, "logout:expired")
            audit.record("logout", person_id=person_id, reason="expired", clients=len(clients))
            backchannel.notify_ended([ended])
            db.session.commit()
            found += 1
        if len(rows) < batch:
            break
    return found
