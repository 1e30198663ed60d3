"""Bounds on JWTs read before their signature is checked: length, shape and JSON nesting (issue 21).

A client assertion names its client in an unverified payload, and an ``id_token_hint`` is decoded before
its key is known to match, so their JSON is parsed while it is still anyone's text.  Python's JSON parser
recurses once per ``[`` or ``{`` and raises RecursionError near a thousand levels; a bounded length and
nesting depth, checked before any parser runs, turns that into the caller's error (RFC 7515 5.2 lets a
recipient refuse a JWS it cannot process).  JOSE headers and JWT claims are flat objects whose members
are at most a few levels deep (``aud`` lists, OIDC ``address``, ``cnf`` keys), so the limits leave every
legitimate token untouched.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["MAX_JSON_DEPTH", "MAX_JWT_LENGTH", "UntrustedTokenError", "check_compact", "json_depth_at_most"]

MAX_JWT_LENGTH = 8192
MAX_JSON_DEPTH = 16


class UntrustedTokenError(ValueError):
    """A token refused before parsing; the message is for the log, callers answer with their own code."""


def json_depth_at_most(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the arrays and objects of JSON ``text`` nest at most ``limit`` deep (strings skipped)."""
    if text.count("[") + text.count("{") <= limit:
        return True  # the common case, in C: too few brackets to nest deeper
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _segment(segment: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise UntrustedTokenError("a segment is not base64url") from None
    # Bracket and quote bytes never occur inside a UTF-8 multi-byte sequence: latin-1 keeps them in place.
    return raw.decode("latin-1")


def check_compact(token: str, *, max_length: int = MAX_JWT_LENGTH, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse a compact JWS/JWE whose length or JSON nesting is beyond the bounds (raises UntrustedTokenError).

    Only the parts that are JSON in clear are looked at: the protected header always, the payload of a
    JWS (three parts, RFC 7515 7.1); a JWE's payload (five parts, RFC 7516 7.1) is ciphertext.
    """
    if len(token) > max_length:
        raise UntrustedTokenError(f"longer than {max_length} characters")
    if not token.isascii():
        raise UntrustedTokenError("not in the compact serialization (non-ASCII characters)")
    parts = token.split(".")
    if len(parts) not in (3, 5):
        raise UntrustedTokenError("not in the compact serialization")
    for segment in parts[:2] if len(parts) == 3 else parts[:1]:
        if not json_depth_at_most(_segment(segment), max_depth):
            raise UntrustedTokenError(f"JSON nested deeper than {max_depth} levels")
