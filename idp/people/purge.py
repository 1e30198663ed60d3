"""The purge of citizen accounts that were never confirmed (issue 16's registration defences).

A registration whose e-mail address and mobile number were never confirmed cannot sign in; left alone it
would hold its NIK, address and number for ever (a typo, or somebody else's data).  :func:`purge_unverified`
deletes such accounts older than ``UNVERIFIED_PURGE_DAYS`` with their person and identity link (nothing
else can exist: such a person never had a session; the audit log keeps its rows, removed only by age).
``idp citizens purge-unverified`` runs it (daily from cron); issue 15's NIK dispute handling can call it
with its own age.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from idp import audit
from idp.extensions import db, setting
from idp.models import CitizenAccount, IdentityLink, Person, utcnow


def purge_unverified(days: int | None = None, *, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Delete never-confirmed citizen accounts older than ``days`` (default ``UNVERIFIED_PURGE_DAYS``);
    the number deleted.  Commits per batch."""
    age = int(setting("UNVERIFIED_PURGE_DAYS")) if days is None else days
    cutoff = (now or utcnow()) - dt.timedelta(days=age)
    deleted = 0
    while True:
        rows = db.session.execute(
            select(CitizenAccount.id, CitizenAccount.person_id)
            .join(Person, Person.id == CitizenAccount.person_id)
            .where(CitizenAccount.email_verified_at.is_(None), Person.phone_number.is_(None),
                   CitizenAccount.created_at < cutoff)
            .limit(batch)
        ).all()
        if not rows:
            break
        account_ids = [r.id for r in rows]
        person_ids = [r.person_id for r in rows]
        db.session.execute(delete(CitizenAccount).where(CitizenAccount.id.in_(account_ids)))
        db.session.execute(delete(IdentityLink).where(IdentityLink.person_id.in_(person_ids)))
        db.session.execute(delete(Person).where(Person.id.in_(person_ids)))
        deleted += len(rows)
        db.session.commit()
        if len(rows) < batch:
            break
    if deleted:
        audit.record("citizen.unverified_purged", count=deleted, days=age, commit=True)
    return deleted
