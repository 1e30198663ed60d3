"""A self-hosted proof of work (ALTCHA, the ``altcha`` library) for the forms that cost the provider mail,
SMS or storage: citizen registration and the forgotten password.

When ``PROOF_OF_WORK`` is ``auto`` the check appears once half of a per-address or global hourly limit of
the form is used (:func:`needed`); the page then carries a signed challenge (:func:`challenge`) that
``static/js/pow.js`` solves (SHA-256 over a random salt and a number up to ``PROOF_OF_WORK_MAX_NUMBER``)
and :func:`verify` checks the answer: the HMAC signature (a key derived from ``HASH_KEY``), the expiry,
and single use (the store remembers each solved challenge until it expires).  No third party is asked and
nothing tracks the person.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import altcha

from idp.extensions import setting, state

KIND = "pow-used"
TTL = 600
HALF = 2  # "near the limit": this fraction (1/HALF) of it used


def _key() -> bytes:
    return hmac.new(setting("HASH_KEY_BYTES"), b"idp proof of work v1", hashlib.sha256).digest()


def _used(bucket: str, key: str) -> int:
    value = state().store.get("rl", f"{bucket}:{key}")
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def needed(limits: list[tuple[str, str, int]]) -> bool:
    """Whether the form needs the check: ``limits`` are ``(bucket, key, limit)`` of :func:`idp.ratelimit.allow`."""
    mode = setting("PROOF_OF_WORK")
    if mode != "auto":
        return bool(mode == "always")
    return any(_used(bucket, key) * HALF >= limit for bucket, key, limit in limits)


def challenge() -> dict[str, Any]:
    """A signed challenge for the page (JSON-able)."""
    made = altcha.create_challenge_v1(altcha.ChallengeOptionsV1(
        hmac_key=_key(), max_number=int(setting("PROOF_OF_WORK_MAX_NUMBER")),
        expires=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=TTL)))
    return {"algorithm": made.algorithm, "challenge": made.challenge, "maxnumber": made.max_number,
            "salt": made.salt, "signature": made.signature}


def verify(payload: Any) -> bool:
    """A solved challenge (the base64 JSON ``pow.js`` posts): signed by us, not expired, not used before."""
    if not isinstance(payload, str) or not payload or len(payload) > 2048:
        return False
    try:
        ok, _ = altcha.verify_solution_v1(payload, _key(), check_expires=True)
    except (ValueError, TypeError, KeyError):
        return False
    if not ok:
        return False
    return bool(state().store.add(KIND, hashlib.sha256(payload.encode()).hexdigest(), 1, TTL))
