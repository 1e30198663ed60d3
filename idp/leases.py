"""Claiming due rows of a durable work queue (logout notices, registry verifications) across processes.

A row is *pending* with an ``attempts`` count and a ``next_attempt_at``.  :func:`claim_due` takes up to
``limit`` due rows and leases each one (its attempt counted, ``next_attempt_at`` moved to ``lease``) before
the work is done, so a process that dies mid-work leaves the row pending and a later pass retries it.  On
PostgreSQL rows another worker is claiming right now are skipped, not waited for (``SKIP LOCKED``); on
SQLite, which has no row locks, a compare-and-set on ``attempts`` makes sure only one process wins a row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select, update

from idp.extensions import db

T = TypeVar("T")


def claim_due(model: Any, now: dt.datetime, limit: int, lease: dt.datetime,
              snapshot: Callable[[Any, int], T]) -> list[T]:
    """``snapshot(row, attempts)`` of each due row of ``model`` this process won (``attempts`` counts this
    one), taken before the commit that ends the claim (the rows themselves expire with it)."""
    query = (select(model).where(model.status == "pending", model.next_attempt_at <= now)
             .order_by(model.next_attempt_at, model.id).limit(limit))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = db.session.execute(query).scalars().all()
    won: list[T] = []
    for row in rows:
        result = db.session.execute(
            update(model).where(model.id == row.id, model.status == "pending", model.attempts == row.attempts)
            .values(attempts=row.attempts + 1, next_attempt_at=lease)
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            won.append(snapshot(row, row.attempts + 1))
    db.session.commit()
    return won
