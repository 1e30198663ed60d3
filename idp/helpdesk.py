"""The help desk people are sent to when the pages cannot help them (``HELPDESK_*`` settings).

Every dead-end page (a locked sign-in, an account under review, a failed password recovery) and every
mail that says "contact the help desk" shows the same block, ``templates/_helpdesk.html`` on pages and
``templates/_helpdesk.txt`` in mails, both reading :func:`contact` through the Jinja global ``helpdesk``.
"""

from __future__ import annotations

from flask import Flask

from idp.extensions import setting

FIELDS = ("name", "phone", "hours", "url")


def contact() -> dict[str, str]:
    """The configured contact: ``name``, ``phone``, ``hours``, ``url``, and ``tel`` (the phone number as a
    ``tel:`` link wants it: digits and a leading +); empty values left out."""
    found = {key: str(setting(f"HELPDESK_{key.upper()}") or "") for key in FIELDS}
    phone = found["phone"].lstrip()
    found["tel"] = ("+" if phone.startswith("+") else "") + "".join(ch for ch in phone if ch.isascii() and ch.isdigit())
    return {key: value for key, value in found.items() if value}


def init_app(app: Flask) -> None:
    """Make :func:`contact` a Jinja global, for pages and for mails (rendered outside a request too)."""
    app.jinja_env.globals["helpdesk"] = contact
