"""The ``auth`` pages: the start page and sign-in (:mod:`.signin`), the forgotten password
(:mod:`.recovery`), citizen self-registration and e-mail verification (:mod:`.registration`).

One blueprint for all, so that the endpoint names (``auth.login``, ``auth.register``...) stay what
templates, mails and middleware use.  Every form is POST with a CSRF token; the NIK never appears in a
URL, a redirect or a log line.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__)

# The page modules add their routes to ``bp`` (they import it from here, so it exists first).
from idp.web.auth import recovery, registration, signin  # noqa: E402,F401  (see above)
