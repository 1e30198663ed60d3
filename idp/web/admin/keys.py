"""The signing keys: their state, and starting a rotation."""

from __future__ import annotations

from flask import Response, flash
from flask_babel import lazy_gettext as _l

from idp import audit
from idp.extensions import db, state
from idp.models import Person
from idp.oauth import keys as signing_keys
from idp.people import session as login_session
from idp.web.admin import bp, fresh, message, reauth
from idp.web.common import EXPIRED, mfa, page, requires, see_other
from idp.web.common import admin as admin_only
from idp.web.forms import ActionForm


# --- signing keys --------------------------------------------------------------------------------------
@bp.get("/keys")
@requires(admin_only, mfa)
def keys(*, current: login_session.LoginSession, person: Person) -> Response:
    """The signing keys and their state (never a private part)."""
    return page("admin/keys.html", keys=signing_keys.describe(), form=ActionForm(), fresh=fresh(current),
                 overlap=state().config["KEY_ROTATION_OVERLAP"], active="keys")


@bp.post("/keys/rotate")
@requires(admin_only, mfa)
def rotate_keys(*, current: login_session.LoginSession, person: Person) -> Response:
    """Start a key rotation: new keys are published now and sign after the overlap."""
    if not ActionForm().validate():
        return message(400, EXPIRED)
    if not fresh(current):
        return reauth()
    created = signing_keys.rotate()
    audit.record("admin.keys_rotated", admin=person.id, kids=created)
    db.session.commit()
    flash(_l("%(n)d new key(s) published; they sign after the overlap.", n=len(created)) if created
          else _l("A rotation is already scheduled; nothing was changed."), "success")
    return see_other("admin.keys")
