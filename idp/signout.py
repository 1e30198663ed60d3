"""What follows the end of sign-in sessions, whatever ended them.

A session ends by RP-initiated logout, by a new sign-in in the same browser, by "sign out" on the
account pages, by an administrator, or by the directory sync.  Every one of these calls
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

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import select

from . import audit
from .extensions import db
from .models import RefreshToken

if TYPE_CHECKING:
    from .session import LoginSession

log = logging.getLogger(__name__)


def revoke_session_tokens(sid: str, reason: str, *, keep_offline: bool = True) -> int:
    """Revoke the refresh token families issued in session ``sid``; the number revoked."""
    from .oauth import tokens

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
    for session in ended:
        revoked += revoke_session_tokens(session.sid, f"logout:{reason}", keep_offline=keep_offline)
        audit.record("logout", person_id=session.person_id, client_id=client_id, reason=reason,
                     clients=len(session.clients))
    if ended:
        from .oauth import backchannel

        backchannel.notify_ended(ended)
    return revoked
