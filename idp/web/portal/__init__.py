"""The developer portal at ``/portal`` (issue 6): teams of staff register and manage their applications.

Only staff (:func:`idp.people.roles.is_staff`) get in; anybody else signed in gets 403, nobody signed in goes
to the sign-in page.  A developer sees only the applications of their teams: another team's
application (or team) answers 404, exactly like one that does not exist.  Registration and changes
use :func:`idp.oauth.registration.validate_metadata`, the rules of dynamic registration (RFC 7591),
with its messages shown at the form field they concern.  A secret is shown once, from a one-time
entry in the store (POST/redirect/GET without keeping it anywhere readable afterwards).  Every change
is a POST with a CSRF token, audited as ``portal.<action>``; deleting an application needs a sign-in
within the last five minutes.  The logic lives in :mod:`idp.consoles.portal`; the pages are
:mod:`.teams` (the start page and teams), :mod:`.register` (registering and changing an application)
and :mod:`.applications` (the application's page and its actions), with the forms in :mod:`.forms`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort

from idp.consoles import portal as logic
from idp.extensions import db, state
from idp.models import Client, Person, Team
from idp.web.common import page

bp = Blueprint("portal", __name__, url_prefix="/portal")

# --- shared by the pages -------------------------------------------------------------------------------------
def team_of(team_id: int, person: Person) -> tuple[Team, str]:
    """The team and the person's role in it, or 404 (not a member: no existence leak)."""
    team = db.session.get(Team, team_id)
    member = logic.membership(team_id, person.id) if team is not None else None
    if team is None or member is None:
        abort(404)
    return team, member.role


def client_of(client_pk: int, person: Person) -> tuple[Client, Team]:
    """The application and its team, or 404 (not the person's team: no existence leak)."""
    found = logic.client_for(person.id, client_pk)
    if found is None:
        abort(404)
    return found


def message(status: int, error: Any, **context: Any) -> Response:
    """The portal's page for a refusal or an error."""
    return page("portal/message.html", status, error=error, **context)


def issuer() -> str:
    """The issuer URL, for the integration help."""
    return str(state().config["ISSUER"]).rstrip("/")


# The page modules add their routes to ``bp`` (they import it from here, so it exists first).
from idp.web.portal import applications, register, teams  # noqa: E402,F401  (see above)
