"""Append-only audit events (no secrets, no full NIK)."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from .extensions import db
from .models import AuditEvent


def record(event: str, *, outcome: str = "success", person_id: int | None = None,
           client_id: str | None = None, commit: bool = False, **detail: Any) -> None:
    """Add an audit event to the current transaction (committed with the caller's work)."""
    ip = ua = None
    if has_request_context():
        ip = request.remote_addr
        ua = (request.user_agent.string or "")[:256] or None
    db.session.add(AuditEvent(event=event, outcome=outcome, person_id=person_id, client_id=client_id,
                              ip=ip, user_agent=ua, detail=detail or None))
    if commit:
        db.session.commit()
