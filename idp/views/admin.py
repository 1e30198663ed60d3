"""Placeholder for the admin blueprint (filled in by the issue 6 work)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__)
