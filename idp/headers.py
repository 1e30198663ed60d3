"""The security headers every response carries (core: the web middleware, the fast path and the
front-channel logout page, which widens the Content-Security-Policy, all read them here)."""

from __future__ import annotations

# Sent with every response (idp.web.fastpath adds them to the documents it serves before Flask).
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                    ("X-Frame-Options", "DENY"))
HSTS = ("Strict-Transport-Security", "max-age=31536000")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
