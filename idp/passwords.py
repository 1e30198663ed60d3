"""Password hashing (argon2id, OWASP parameters from the settings) and the password policy.

Policy (NIST SP 800-63B 5.1.1.2): at least ``PASSWORD_MIN_LENGTH`` and at most 256 characters, not one
of the most common passwords, not the person's own NIK, e-mail or name; no composition rules.
Passwords are NFKC-normalised before hashing (SP 800-63B 5.1.1.2), so the same password typed on
another keyboard (full-width forms, composed accents) still matches.

Unknown accounts get a verification against a dummy hash made with the same parameters, so the
answer takes as long as for a wrong password (no account enumeration by timing).
"""

from __future__ import annotations

import functools
import secrets
import unicodedata
from importlib import resources
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask_babel import lazy_gettext as _l

from idp.extensions import state

MAX_LENGTH = 256



def hasher() -> PasswordHasher:
    """The application's argon2id hasher, built once from ``ARGON2_*``."""
    extra = state().extra
    ph = extra.get("password_hasher")
    if ph is None:
        cfg = state().config
        ph = PasswordHasher(time_cost=cfg["ARGON2_TIME_COST"], memory_cost=cfg["ARGON2_MEMORY_KIB"],
                            parallelism=cfg["ARGON2_PARALLELISM"], hash_len=32, salt_len=16, type=Type.ID)
        extra["password_hasher"] = ph
    return ph


def _prepare(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def hash(password: str) -> str:
    """An argon2id hash (PHC string) of ``password``."""
    return hasher().hash(_prepare(password))


def _dummy_hash() -> str:
    extra = state().extra
    dummy = extra.get("password_dummy_hash")
    if dummy is None:
        dummy = hasher().hash(secrets.token_urlsafe(24))
        extra["password_dummy_hash"] = dummy
    return str(dummy)


def verify(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; with ``stored=None`` a dummy hash is checked (False).

    Never raises: a malformed stored hash counts as a mismatch.
    """
    target = stored or _dummy_hash()
    ok: bool
    try:
        ok = bool(hasher().verify(target, _prepare(password)))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    return bool(ok and stored)


def dummy_verify(password: str) -> None:
    """Spend the time of one verification (unknown account, malformed identifier)."""
    verify(None, password)


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other parameters than the current settings."""
    try:
        return hasher().check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The common-password list shipped in ``idp/data`` (lower case)."""
    text = resources.files("idp").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _squash(value: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", value).casefold() if ch.isalnum())


def problems(password: str, *, min_length: int | None = None, nik: str | None = None, email: str | None = None,
             name: str | None = None) -> list[Any]:
    """Why ``password`` is refused (messages for the person), or an empty list."""
    if min_length is None:
        min_length = int(state().config["PASSWORD_MIN_LENGTH"])
    prepared = _prepare(password or "")
    if not prepared.strip():  # white space only is an empty field (it could never sign in)
        return [_l("Required.")]
    if len(prepared) < min_length:
        return [_l("Use at least %(n)d characters. A few unrelated words make a good password.", n=min_length)]
    if len(prepared) > MAX_LENGTH:
        return [_l("Use at most %(n)d characters.", n=MAX_LENGTH)]
    if "\x00" in prepared:
        return [_l("The password contains a character that cannot be used.")]
    lowered = prepared.casefold()
    if lowered in common_passwords() or lowered.strip() in common_passwords():
        return [_l("This password is one of the most common ones and easy to guess. Choose another.")]
    squashed = _squash(prepared)
    personal: list[str] = []
    if nik:
        personal.append(_squash(nik))
    if email:
        personal.append(_squash(email))
        local = email.partition("@")[0]
        if len(_squash(local)) >= 4:
            personal.append(_squash(local))
    if name and len(_squash(name)) >= 4:
        personal.append(_squash(name))
    for item in personal:
        if item and (squashed == item or (item.isdigit() and len(item) >= 8 and item in squashed)):
            return [_l("Do not use your NIK, e-mail address or name as the password.")]
    return []
