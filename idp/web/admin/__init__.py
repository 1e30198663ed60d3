"""The administration console at ``/admin`` (issue 6): scope requests, people, clients, audit log,
initial access tokens, signing keys.

Only administrators (staff whose directory groups map to ``admin``, or people granted the role with
``idp admin grant``, :mod:`idp.people.roles`) whose session
used a second factor (``acr`` MFA) get in; a signed-in administrator without it gets a page that
explains how to add one; everyone else signed in gets 403; nobody signed in goes to the sign-in page.
Every change is a POST with a CSRF token followed by a redirect (POST/redirect/GET), and is audited
as ``admin.<action>``; destructive actions (lock, end sessions, disable or delete a client, rotate the
keys) need a sign-in within the last five minutes.  A NIK is only ever typed into a POST form, never
put in a URL.

The pages: :mod:`.scope_requests`, :mod:`.people`, :mod:`.clients` (clients and initial access tokens),
:mod:`.keys` (signing keys), :mod:`.audit_log`.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response
from flask_babel import lazy_gettext as _l

from idp.consoles import admin
from idp.models import Person
from idp.people import session as login_session
from idp.web.common import admin as admin_only
from idp.web.common import mfa, page, requires

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Destructive actions need a sign-in this recent (the same rule as deleting one's account).
FRESH_SIGN_IN_SECONDS = 300
GONE = _l("That no longer exists, or was changed meanwhile.")


# --- shared by the pages----------------------------------------------------------------------------------------
def fresh(current: login_session.LoginSession) -> bool:
    """Whether the session's sign-in is recent enough for a destructive action."""
    return time.time() - current.auth_time <= FRESH_SIGN_IN_SECONDS


def message(status: int, error: Any, **context: Any) -> Response:
    """The console's page for a refusal or an error."""
    return page("admin/message.html", status, error=error, **context)


def reauth() -> Response:
    """The refusal of a destructive action after a sign-in that is not recent."""
    return message(403, _l("For safety, sign in again before this action (then do it within five minutes)."),
                    reauth=True)


def int_id(value: int) -> bool:
    """Whether an id from a URL fits the database's integer columns."""
    return 0 < value <= admin.MAX_ID


# --- start page ------------------------------------------------------------------------------------------
@bp.get("")
@requires(admin_only, mfa)
def index(*, current: login_session.LoginSession, person: Person) -> Response:
    """The console's start page: what waits for a decision, and the sections."""
    return page("admin/index.html", counts=admin.counts(), active="index")



# The page modules add their routes to ``bp`` (they import it from here, so it exists first).
from idp.web.admin import audit_log, clients, grants, keys, people, scope_requests  # noqa: E402,F401  (see above)
