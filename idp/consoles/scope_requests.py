"""Decisions on sensitive-scope requests (UU PDP 27/2022 purpose limitation) and the purposes they record.

A team asks for a sensitive scope (``nik``, ``staff``, any in ``IDP_SENSITIVE_SCOPES``) for one of its
clients with a purpose (the developer portal writes the :class:`ScopeRequest`).  An administrator
approves it (the scope joins ``Client.approved_scopes``, so the client may obtain it, RFC 6749 3.3),
refuses it with a note, or later revokes an approval (the scope leaves ``approved_scopes``: the release
stops at once, see :mod:`idp.people.claims`).  The team is told by e-mail.  :func:`purposes_for` gives the
consent page the approved purpose of each scope.  Callers commit; mails go out after the commit
(:func:`notify`).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from idp import audit, mail
from idp.extensions import db, state
from idp.models import Client, Person, ScopeRequest, Team, TeamMember, utcnow

log = logging.getLogger(__name__)

PENDING, APPROVED, REFUSED, WITHDRAWN, REVOKED = "pending", "approved", "refused", "withdrawn", "revoked"
NOTE_MAX = 1000


class DecisionError(Exception):
    """The request cannot take this decision (already decided, not a sensitive scope ...)."""


def _actor(admin_id: int | None, api_client: str | None) -> dict[str, Any]:
    """The audit detail naming who decided: an administrator, or a client of the administration API."""
    return {"api_client": api_client} if api_client is not None else {"admin": admin_id}


def sensitive_scopes() -> set[str]:
    return set(state().config["SENSITIVE_SCOPES"])


def _scopes(client: Client) -> list[str]:
    return (client.approved_scopes or "").split()


def pending() -> list[tuple[ScopeRequest, Client, Team | None]]:
    """Every pending request, oldest first, with its client and team."""
    rows = db.session.execute(
        select(ScopeRequest, Client, Team).join(Client, Client.id == ScopeRequest.client_id)
        .outerjoin(Team, Team.id == Client.team_id)
        .where(ScopeRequest.status == PENDING).order_by(ScopeRequest.requested_at, ScopeRequest.id)).all()
    return [(r, c, t) for r, c, t in rows]


def approved() -> list[tuple[ScopeRequest, Client, Team | None]]:
    """Every approval in force (newest first), for revoking."""
    rows = db.session.execute(
        select(ScopeRequest, Client, Team).join(Client, Client.id == ScopeRequest.client_id)
        .outerjoin(Team, Team.id == Client.team_id)
        .where(ScopeRequest.status == APPROVED).order_by(ScopeRequest.decided_at.desc(), ScopeRequest.id.desc())
    ).all()
    return [(r, c, t) for r, c, t in rows]


def _decide(request_row: ScopeRequest, status: str, admin_id: int | None, note: str | None) -> None:
    request_row.status = status
    request_row.decided_by = admin_id
    request_row.decided_at = utcnow()
    request_row.decision_note = (note or "").strip()[:NOTE_MAX] or None


def approve(request_row: ScopeRequest, *, admin_id: int | None = None, note: str | None = None,
            api_client: str | None = None) -> Client:
    """Approve a pending request: the scope joins the client's approved scopes; audited."""
    client = db.session.get(Client, request_row.client_id)
    if request_row.status != PENDING or client is None:
        raise DecisionError("not pending")
    if request_row.scope not in sensitive_scopes():
        raise DecisionError("not a sensitive scope")
    # An earlier approval of the same scope for the same client is replaced (one purpose in force).
    for older in db.session.execute(select(ScopeRequest).where(
            ScopeRequest.client_id == client.id, ScopeRequest.scope == request_row.scope,
            ScopeRequest.status == APPROVED, ScopeRequest.id != request_row.id)).scalars():
        older.status = REVOKED
    _decide(request_row, APPROVED, admin_id, note)
    if request_row.scope not in _scopes(client):
        client.approved_scopes = " ".join([*_scopes(client), request_row.scope])
    audit.record("admin.scope_approved", person_id=request_row.requested_by, client_id=client.client_id,
                 **_actor(admin_id, api_client), scope=request_row.scope, request=request_row.id)
    return client


def refuse(request_row: ScopeRequest, *, admin_id: int | None = None, note: str,
           api_client: str | None = None) -> Client:
    """Refuse a pending request with a note (told to the team); audited."""
    client = db.session.get(Client, request_row.client_id)
    if request_row.status != PENDING or client is None:
        raise DecisionError("not pending")
    _decide(request_row, REFUSED, admin_id, note)
    audit.record("admin.scope_refused", person_id=request_row.requested_by, client_id=client.client_id,
                 **_actor(admin_id, api_client), scope=request_row.scope, request=request_row.id)
    return client


def revoke(request_row: ScopeRequest, *, admin_id: int | None = None, note: str | None = None,
           api_client: str | None = None) -> Client:
    """Withdraw an approval: the scope leaves the client's approved scopes (release stops at once)."""
    client = db.session.get(Client, request_row.client_id)
    if request_row.status != APPROVED or client is None:
        raise DecisionError("not approved")
    _decide(request_row, REVOKED, admin_id, note)
    client.approved_scopes = " ".join(s for s in _scopes(client) if s != request_row.scope)
    audit.record("admin.scope_revoked", person_id=request_row.requested_by, client_id=client.client_id,
                 **_actor(admin_id, api_client), scope=request_row.scope, request=request_row.id)
    return client


def purposes_for(client_pk: int) -> dict[str, str]:
    """``{scope: purpose}`` of the approvals in force for the client (the consent page shows them)."""
    client = db.session.get(Client, client_pk)
    if client is None:
        return {}
    current = set(_scopes(client))
    rows = db.session.execute(
        select(ScopeRequest.scope, ScopeRequest.purpose).where(
            ScopeRequest.client_id == client_pk, ScopeRequest.status == APPROVED)
        .order_by(ScopeRequest.decided_at, ScopeRequest.id)).all()
    return {scope: purpose for scope, purpose in rows if scope in current}


def recipients(client: Client, request_row: ScopeRequest) -> list[str]:
    """The team's e-mail addresses (or the requester's, for a client without a team), deduplicated."""
    ids: set[int] = set()
    if client.team_id is not None:
        ids |= set(db.session.execute(select(TeamMember.person_id)
                                      .where(TeamMember.team_id == client.team_id)).scalars())
    if request_row.requested_by is not None:
        ids.add(request_row.requested_by)
    if not ids:
        return []
    emails = db.session.execute(select(Person.email).where(Person.id.in_(ids), Person.status == "active",
                                                           Person.email.is_not(None))).scalars()
    return sorted({e.strip().lower() for e in emails if e and "@" in e})


def notify(client: Client, request_row: ScopeRequest) -> int:
    """Tell the team about the decision (after the caller committed); mails sent (failures logged)."""
    context: dict[str, Any] = {
        "client_name": str((client.client_metadata or {}).get("client_name") or client.client_id),
        "client_id": client.client_id, "scope": request_row.scope, "purpose": request_row.purpose,
        "status": request_row.status, "note": request_row.decision_note,
    }
    context["portal_url"] = state().config["ISSUER"].rstrip("/") + "/portal"
    sent = 0
    for address in recipients(client, request_row):
        try:
            mail.send_template(address, "admin/mail/scope_decision.txt", **context)
            sent += 1
        except mail.MailError:
            log.warning("scope decision mail to %s not sent", mail.mask_address(address))
    return sent
