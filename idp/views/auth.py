"""Sign-in, registration, e-mail verification (filled in by the citizen-accounts work)."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("auth", __name__)


@bp.get("/")
def home() -> str:
    return render_template("error.html", message="", code=None, ref=None, status=200)
