"""The developer portal's rules: teams, their applications, secret rotation and sensitive-scope requests.

Staff (:func:`idp.people.roles.is_staff`) form teams; every application (:class:`~idp.models.Client` with a
``team_id``) belongs to one team, whose members manage it together.  Owners manage the membership;
a team always keeps at least one owner.  Applications are registered and changed through
:func:`idp.oauth.registration.validate_metadata` (the RFC 7591 rules of dynamic registration), so the
portal cannot create anything dynamic registration would refuse.  Sensitive scopes (``nik``, ``staff``,
``IDP_SENSITIVE_SCOPES``) stay in the registered ``scope`` but are inert until an administrator
approves the team's :class:`~idp.models.ScopeRequest` (the ``approved_scopes`` gate, RFC 6749 3.3).
Callers commit; every change is audited as ``portal.<action>``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select

from idp import audit
from idp.extensions import db, state
from idp.models import Client, Person, RoleGrant, ScopeRequest, StaffAccount, Team, TeamMember, utcnow
from idp.oauth import registration
from idp.oauth.clients import DEFAULT_SCOPES
from idp.people import roles

OWNER, MEMBER = "owner", "member"
# Seconds the replaced secret keeps working after a rotation (no setting exists yet: see the report).
SECRET_GRACE_SECONDS = 86400
TEAM_NAME_MAX = 200
DESCRIPTION_MAX = 1000
PURPOSE_MIN, PURPOSE_MAX = 20, 1000
PENDING, APPROVED, WITHDRAWN = "pending", "approved", "withdrawn"


class PortalError(Exception):
    """A request the portal refuses; ``field`` names the form field it belongs to (or None)."""

    def __init__(self, message: Any, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


def _config(name: str) -> Any:
    return state().config[name]


def sensitive_scopes() -> list[str]:
    """The sensitive scopes a team may request, in the order of the known scopes."""
    sensitive = set(_config("SENSITIVE_SCOPES"))
    return [s for s in registration.KNOWN_SCOPES if s in sensitive]


# --- teams --------------------------------------------------------------------------------------
def teams_of(person_id: int) -> list[tuple[Team, str]]:
    """The person's teams with their role in each, by name."""
    rows = db.session.execute(select(Team, TeamMember.role).join(TeamMember, TeamMember.team_id == Team.id)
                              .where(TeamMember.person_id == person_id).order_by(Team.name)).all()
    return [(team, role) for team, role in rows]


def membership(team_id: int, person_id: int) -> TeamMember | None:
    return db.session.execute(select(TeamMember).where(TeamMember.team_id == team_id,
                                                       TeamMember.person_id == person_id)).scalars().first()


def members(team_id: int) -> list[tuple[TeamMember, Person, StaffAccount | None]]:
    """The team's members (owners first) with their person and staff record."""
    rows = db.session.execute(
        select(TeamMember, Person, StaffAccount).join(Person, Person.id == TeamMember.person_id)
        .outerjoin(StaffAccount, StaffAccount.person_id == Person.id)
        .where(TeamMember.team_id == team_id).order_by(TeamMember.role.desc(), Person.name, TeamMember.id)).all()
    seen: set[int] = set()
    out = []
    for member, person, staff in rows:
        if member.id not in seen:  # a person with two directory records is listed once
            seen.add(member.id)
            out.append((member, person, staff))
    return out


def _owners(team_id: int) -> int:
    return int(db.session.execute(select(func.count()).select_from(TeamMember).where(
        TeamMember.team_id == team_id, TeamMember.role == OWNER)).scalar_one())


def create_team(name: str, person_id: int) -> Team:
    """A new team with ``person_id`` as its owner; the name must be free (case-insensitive)."""
    clean = " ".join((name or "").split())
    if not roles.is_staff(person_id):
        # A vendor's developer works in the team an operator granted (issue 18), never starts one.
        raise PortalError(_l("Only staff can start a team; your access is to the team an operator granted."), "name")
    if not clean:
        raise PortalError(_l("Give the team a name."), "name")
    if len(clean) > TEAM_NAME_MAX or not clean.isprintable():
        raise PortalError(_l("The name may have at most 200 printable characters."), "name")
    taken = db.session.execute(select(Team.id).where(func.lower(Team.name) == clean.lower())).first()
    if taken is not None:
        raise PortalError(_l("A team with this name already exists."), "name")
    team = Team(name=clean)
    db.session.add(team)
    db.session.flush()
    db.session.add(TeamMember(team_id=team.id, person_id=person_id, role=OWNER))
    audit.record("portal.team_created", person_id=person_id, team=team.id, name=clean)
    return team


def find_staff(query: str) -> Person | None:
    """The active staff person with this directory user name or e-mail address, or None."""
    value = (query or "").strip().lower()
    if not value or len(value) > 254 or not value.isprintable():
        return None
    found = db.session.execute(
        select(Person).join(StaffAccount, StaffAccount.person_id == Person.id)
        .where(StaffAccount.status == "active", Person.status == "active",
               (func.lower(StaffAccount.username) == value) | (func.lower(Person.email) == value))
        .order_by(Person.id)).scalars().all()
    return found[0] if len({p.id for p in found}) == 1 else None  # an address shared by two: ambiguous


def add_member(team: Team, query: str, *, by: int) -> Person:
    """Add a staff person (user name or e-mail) to the team as a member."""
    person = find_staff(query)
    if person is None:
        raise PortalError(_l("No staff member with this user name or e-mail address has signed in here yet "
                               "(or the address is shared). Ask them to sign in once, or use their user name."),
                          "who")
    if membership(team.id, person.id) is not None:
        raise PortalError(_l("This person is already in the team."), "who")
    db.session.add(TeamMember(team_id=team.id, person_id=person.id, role=MEMBER))
    audit.record("portal.member_added", person_id=by, team=team.id, member=person.id)
    return person


def remove_member(team: Team, person_id: int, *, by: int) -> None:
    """Remove someone from the team (themselves included); the last owner cannot leave."""
    member = membership(team.id, person_id)
    if member is None:
        raise PortalError(_l("This person is not in the team."))
    if member.role == OWNER and _owners(team.id) <= 1:
        raise PortalError(_l("A team needs at least one owner: hand the ownership over first."))
    db.session.delete(member)
    # A vendor's portal access to this team ends with the membership (issue 18).
    ended = db.session.execute(sql_delete(RoleGrant).where(
        RoleGrant.person_id == person_id, RoleGrant.role == roles.PORTAL, RoleGrant.team_id == team.id))
    if getattr(ended, "rowcount", 0):
        audit.record("role.revoked", person_id=by, role=roles.PORTAL, subject=person_id, team=team.id,
                     by="portal member removal")
    audit.record("portal.member_removed", person_id=by, team=team.id, member=person_id)


def hand_over(team: Team, person_id: int, *, by: int) -> None:
    """Make a member the owner; the owner who hands over stays in the team as a member."""
    member = membership(team.id, person_id)
    if member is None or person_id == by:
        raise PortalError(_l("Choose another member of the team."))
    if not roles.is_staff(person_id):
        raise PortalError(_l("Only an active staff member can own a team."))
    member.role = OWNER
    current = membership(team.id, by)
    if current is not None:
        current.role = MEMBER
    audit.record("portal.ownership_handed_over", person_id=by, team=team.id, member=person_id)


# --- applications -------------------------------------------------------------------------------------
def clients_of(person_id: int) -> list[tuple[Client, Team]]:
    """The applications of the person's teams."""
    rows = db.session.execute(
        select(Client, Team).join(Team, Team.id == Client.team_id)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.person_id == person_id).order_by(Team.name, Client.id)).all()
    return [(client, team) for client, team in rows]


def client_for(person_id: int, client_pk: int) -> tuple[Client, Team] | None:
    """The application when it belongs to one of the person's teams, else None (the caller answers 404)."""
    row = db.session.execute(
        select(Client, Team).join(Team, Team.id == Client.team_id)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(Client.id == client_pk, TeamMember.person_id == person_id)).first()
    return (row[0], row[1]) if row is not None else None


def _with_extras(clean: dict[str, Any], description: str | None) -> dict[str, Any]:
    # validate_metadata keeps only the metadata it knows; the portal's description rides along.
    if description:
        clean["description"] = description
    return clean


def check_description(value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > DESCRIPTION_MAX or not text.replace("\n", " ").replace("\r", " ").isprintable():
        raise PortalError(_l("The description may have at most 1000 printable characters."), "description")
    return text


def check_purpose(value: str | None) -> str:
    """A purpose for a sensitive scope (UU PDP purpose limitation): said in a few words at least."""
    text = " ".join((value or "").split())
    if len(text) < PURPOSE_MIN:
        raise PortalError(_l("Say what the data is used for, in at least 20 characters."), "purpose")
    if len(text) > PURPOSE_MAX or not text.isprintable():
        raise PortalError(_l("The purpose may have at most 1000 printable characters."), "purpose")
    return text


def register(team: Team, metadata: dict[str, Any], *, person_id: int, description: str | None = None,
             purpose: str | None = None) -> tuple[Client, str | None]:
    """Register an application for the team (RFC 7591 rules) and request its sensitive scopes.

    Raises :class:`~idp.oauth.registration.MetadataError` or :class:`PortalError`.
    """
    description = check_description(description)
    wanted = [s for s in str(metadata.get("scope") or "").split() if s in sensitive_scopes()]
    clean_purpose = check_purpose(purpose) if wanted else None
    client, secret = registration.create_client(metadata, created_by=f"portal:{person_id}")
    client.client_metadata = _with_extras(dict(client.client_metadata), description)
    client.team_id = team.id
    audit.record("portal.client_registered", person_id=person_id, client_id=client.client_id, team=team.id)
    for scope in wanted:
        _add_request(client, scope, clean_purpose or "", person_id)
    return client, secret


def update(client: Client, metadata: dict[str, Any], *, person_id: int,
           description: str | None = None) -> str | None:
    """Replace the application's metadata (RFC 7592 2.2 rules: the subject type and sector stay).

    Returns a new secret when the change moved the client to a secret-based authentication method
    (shown once), else None.  A move away from secrets forgets the secret hashes.
    """
    description = check_description(description)
    current = dict(client.client_metadata or {})
    clean = registration.validate_metadata(metadata, current=current)
    secret = None
    if registration.uses_secret(clean) and not client.client_secret_hash:
        secret = registration.new_secret()
        client.client_secret_hash = registration.secret_hash(secret)
    elif not registration.uses_secret(clean):
        client.client_secret_hash = client.previous_secret_hash = None
        client.previous_secret_expires_at = None
    client.client_metadata = _with_extras(clean, description)
    audit.record("portal.client_updated", person_id=person_id, client_id=client.client_id)
    return secret


def rotate_secret(client: Client, *, person_id: int, grace: int = SECRET_GRACE_SECONDS) -> str:
    """A new secret (returned once); the replaced one keeps working for ``grace`` seconds.

    A rotation during a grace period ends the older secret at once (only one previous secret is kept).
    """
    if not registration.uses_secret(client.client_metadata or {}) or not client.client_secret_hash:
        raise PortalError(_l("This application does not authenticate with a secret."))
    secret = registration.new_secret()
    client.previous_secret_hash = client.client_secret_hash
    client.previous_secret_expires_at = utcnow() + dt.timedelta(seconds=grace)
    client.client_secret_hash = registration.secret_hash(secret)
    audit.record("portal.secret_rotated", person_id=person_id, client_id=client.client_id, grace=grace)
    return secret


def end_grace(client: Client, *, person_id: int) -> None:
    """Stop accepting the previous secret now (after the application switched to the new one)."""
    client.previous_secret_hash = None
    client.previous_secret_expires_at = None
    audit.record("portal.previous_secret_ended", person_id=person_id, client_id=client.client_id)


def set_keys(client: Client, *, jwks: Any = None, jwks_uri: str | None = None, person_id: int) -> None:
    """Register a public JWK Set or a ``jwks_uri`` for ``private_key_jwt`` (RFC 7523, RFC 7591 2).

    The metadata goes through :func:`~idp.oauth.registration.validate_metadata`: private key members
    (``d``, ``p`` ...) are refused, and ``jwks_uri`` follows the server-side request rules.
    """
    metadata = {k: v for k, v in (client.client_metadata or {}).items() if k not in ("jwks", "jwks_uri")}
    if jwks is not None:
        metadata["jwks"] = jwks
    if jwks_uri:
        metadata["jwks_uri"] = jwks_uri
    description = metadata.pop("description", None)
    clean = registration.validate_metadata(metadata, current=dict(client.client_metadata or {}))
    client.client_metadata = _with_extras(clean, description)
    audit.record("portal.keys_set", person_id=person_id, client_id=client.client_id,
                 kind="jwks" if jwks is not None else "jwks_uri")


def set_disabled(client: Client, disabled: bool, *, person_id: int) -> None:
    client.disabled = disabled
    audit.record("portal.client_disabled" if disabled else "portal.client_enabled", person_id=person_id,
                 client_id=client.client_id)


def delete(client: Client, *, person_id: int) -> None:
    """Delete the application, revoking its tokens (the same function as ``idp clients delete``)."""
    client_id = client.client_id
    registration.delete_client(client)
    audit.record("portal.client_deleted", person_id=person_id, client_id=client_id)


# --- sensitive scopes -------------------------------------------------------------------------------------
def requests_of(client: Client) -> list[ScopeRequest]:
    return list(db.session.execute(select(ScopeRequest).where(ScopeRequest.client_id == client.id)
                                   .order_by(ScopeRequest.requested_at.desc(), ScopeRequest.id.desc())).scalars())


def _add_request(client: Client, scope: str, purpose: str, person_id: int) -> ScopeRequest:
    row = ScopeRequest(client_id=client.id, scope=scope, purpose=purpose, status=PENDING, requested_by=person_id)
    db.session.add(row)
    db.session.flush()
    audit.record("portal.scope_requested", person_id=person_id, client_id=client.client_id, scope=scope,
                 request=row.id)
    return row


def request_scope(client: Client, scope: str, purpose: str, *, person_id: int) -> ScopeRequest:
    """Ask an administrator for a sensitive scope with its purpose; the scope joins the registered ones."""
    if scope not in sensitive_scopes():
        raise PortalError(_l("Choose one of the sensitive scopes."), "scope")
    clean = check_purpose(purpose)
    pending = db.session.execute(select(ScopeRequest.id).where(
        ScopeRequest.client_id == client.id, ScopeRequest.scope == scope,
        ScopeRequest.status == PENDING)).first()
    if pending is not None:
        raise PortalError(_l("A request for this scope is already waiting for a decision."), "scope")
    metadata = dict(client.client_metadata or {})
    declared = str(metadata.get("scope") or "").split() or list(_default_scopes())
    if scope not in declared:
        # Registered but inert until approved: the approved_scopes gate (idp.oauth.clients) decides.
        metadata["scope"] = " ".join([*declared, scope])
        client.client_metadata = metadata
    return _add_request(client, scope, clean, person_id)


def _default_scopes() -> tuple[str, ...]:

    return DEFAULT_SCOPES


def withdraw(client: Client, request_id: int, *, person_id: int) -> None:
    """Withdraw a pending request of this client."""
    row = db.session.get(ScopeRequest, request_id)
    if row is None or row.client_id != client.id or row.status != PENDING:
        raise PortalError(_l("Only a request that waits for a decision can be withdrawn."))
    row.status = WITHDRAWN
    row.decided_at = utcnow()
    audit.record("portal.scope_withdrawn", person_id=person_id, client_id=client.client_id, scope=row.scope,
                 request=row.id)
