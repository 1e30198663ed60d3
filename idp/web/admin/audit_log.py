"""The audit log: newest first, filtered, paginated, and as CSV."""

from __future__ import annotations

from typing import Any

from flask import Response, request, url_for
from flask_babel import lazy_gettext as _l

from idp import audit
from idp.consoles import admin
from idp.extensions import db
from idp.models import Person
from idp.people import session as login_session
from idp.web.admin import bp, message
from idp.web.common import admin as admin_only
from idp.web.common import mfa, page, requires

# --- audit log ---------------------------------------------------------------------------------------------
BAD_FILTER = {
    "person": _l("The person filter is a person number."), "client": _l("The client filter is too long."),
    "event": _l("The event filter is too long."), "from": _l("Give the start time as YYYY-MM-DD or YYYY-MM-DDTHH:MM."),
    "to": _l("Give the end time as YYYY-MM-DD or YYYY-MM-DDTHH:MM."), "page": _l("That page does not exist."),
}


@bp.get("/audit")
@requires(admin_only, mfa)
def audit_log(*, current: login_session.LoginSession, person: Person) -> Response:
    """The audit log, newest first, filtered and paginated."""
    try:
        flt = admin.parse_filter(request.args)
        number = admin.parse_page(request.args.get("page"))
    except admin.BadFilter as exc:
        return page("admin/audit.html", 400, events=[], page=1, more=False, flt=admin.AuditFilter(),
                     args=request.args, error=BAD_FILTER[exc.field], active="audit")
    events, more = admin.audit_page(flt, number)
    args: dict[str, Any] = flt.args()
    return page("admin/audit.html", events=events, page=number, more=more, flt=flt, args=args,
                csv_url=url_for("admin.audit_export", **args),
                prev_url=url_for("admin.audit_log", **{**args, "page": str(number - 1)}) if number > 1 else None,
                next_url=url_for("admin.audit_log", **{**args, "page": str(number + 1)}) if more else None,
                 active="audit")


@bp.get("/audit.csv")
@requires(admin_only, mfa)
def audit_export(*, current: login_session.LoginSession, person: Person) -> Response:
    """The filtered audit log as CSV (cells that a spreadsheet would run as a formula are quoted)."""
    try:
        flt = admin.parse_filter(request.args)
    except admin.BadFilter as exc:
        return message(400, BAD_FILTER[exc.field])
    body = admin.audit_csv(flt)
    audit.record("admin.audit_exported", admin=person.id, filters=flt.args())
    db.session.commit()
    resp = Response(body, mimetype="text/csv")
    resp.headers["Content-Disposition"] = 'attachment; filename="sso-banten-audit.csv"'
    return resp
