"""OAuth 2.0 / OpenID Connect endpoints (filled in by the protocol work)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("oauth", __name__)
