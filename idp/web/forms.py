"""Forms and field rules that several pages share (one place decides what a name or an address may be)."""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, StringField
from wtforms.validators import StopValidation, ValidationError

from idp.people.signin import REQUIRED, blank
from idp.sources import citizen

NAME_RE = re.compile(r"^[^\W\d_]+(?:[ .,'\-][^\W\d_]*)*\.?$")
MAX_FIELD = 254


def no_control(value: str) -> bool:
    """Whether ``value`` holds no control, format, surrogate or private-use character."""
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in value)


def required(form: FlaskForm, field: Field) -> None:
    """An empty field (nothing, or white space only: :func:`idp.people.signin.blank`) is answered
    "Required." at the field, and the field's other rules are not run.  The page comes back (400) with
    what was typed in the other fields; nothing was checked against an account, nothing counted."""
    if blank(field.data if isinstance(field.data, str) else None):
        raise StopValidation(REQUIRED)


required.field_flags = {"required": True}  # type: ignore[attr-defined]


def full_name_rule(form: FlaskForm, field: Field) -> None:
    """A person's full name as on the KTP: letters, spaces and . , ' - (the field is left normalised)."""
    value = " ".join((field.data or "").split())
    if not value:
        raise ValidationError(_l("Enter your full name."))
    if len(value) > 200:
        raise ValidationError(_l("The name is too long (at most 200 characters)."))
    if not no_control(value) or not NAME_RE.match(value):
        raise ValidationError(_l("Use letters, spaces and the characters . , ' - only."))
    field.data = value


def email_rule(form: FlaskForm, field: Field) -> None:
    """An e-mail address; its normalised form goes to ``form.normalized_email``."""
    raw = (field.data or "").strip()
    if not raw:
        raise ValidationError(_l("Enter your e-mail address."))
    try:
        if len(raw) > MAX_FIELD or not no_control(raw):
            raise EmailNotValidError("bad")
        checked = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise ValidationError(_l("Enter an e-mail address like name@example.com.")) from None
    form.normalized_email = citizen.normalize_email(checked.normalized)


class ActionForm(FlaskForm):
    """A button: only the CSRF token."""


class CeremonyForm(FlaskForm):
    """A passkey ceremony's hidden fields: its token and the authenticator's answer (JSON), filled in by
    ``static/js/passkeys.js`` (:mod:`idp.web.passkeys`)."""

    ceremony = HiddenField()
    credential = HiddenField()
    req = HiddenField()


class ResendForm(FlaskForm):
    """Send the e-mail confirmation link again."""

    email = StringField(_l("E-mail address"))
    req = HiddenField()
