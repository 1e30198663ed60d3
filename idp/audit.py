"""Append-only audit events (no secrets, no full NIK), also shipped to the SIEM sink after commit (:mod:`idp.siem`)."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from idp import metrics, siem
from idp.extensions import db
from idp.models import AuditEvent


def record(event: str, *, outcome: str = "success", person_id: int | None = None,
           client_id: str | None = None, commit: bool = False, account_key: str | None = None,
           **detail: Any) -> None:
    """Add an audit event to the current transaction (committed with the caller's work).

    Sign-in events also move the ``idp_sign_ins`` counter (:mod:`idp.metrics`).  With a SIEM sink
    configured, the event is shipped once the transaction commits, never when it rolls back;
    ``account_key`` (a keyed hash of the typed sign-in identifier) is for the SIEM's burst detection
    only and is not stored.
    """
    if event in SIGN_IN_EVENTS:
        _count_sign_in(event, outcome, detail)
    ip = ua = None
    if has_request_context():
        ip = request.remote_addr
        ua = (request.user_agent.string or "")[:256] or None
    db.session.add(AuditEvent(event=event, outcome=outcome, person_id=person_id, client_id=client_id,
                              ip=ip, user_agent=ua, detail=detail or None))
    if siem.enabled():
        siem.park(siem.build(event, outcome, person_id, client_id, ip, ua, detail, account=account_key))
    if commit:
        db.session.commit()


# "login": a password check (success, or failure with a reason); "login.second_factor": a wrong
# second-factor code.  "login.locked" is not counted: it follows a "login" failure already counted.
SIGN_IN_EVENTS = frozenset({"login", "login.second_factor"})


def _count_sign_in(event: str, outcome: str, detail: dict[str, Any]) -> None:
    source = detail.get("source")
    if outcome == "success":
        if event == "login":
            metrics.sign_in(source, "success")
    elif detail.get("reason") == "locked":
        metrics.sign_in(source, "locked")
    else:
        metrics.sign_in(source, "failure")
