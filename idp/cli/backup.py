"""``idp export`` / ``idp import``: clients, approvals, signing keys and settings as one JSON document."""

from __future__ import annotations

commands: list[object] = []
