"""Subject identifiers as each client sees them: public or pairwise (OpenID Connect Core 8).

A *public* client gets the person's ``sub`` unchanged (Core 8, "public").  A *pairwise* client gets
``base64url(HMAC-SHA256(PAIRWISE_SECRET_BYTES, sector + "|" + sub))`` without padding (Core 8.1): the
same value for every client of one sector, a different unlinkable value in every other sector, and
stable as long as the key is.  The input is the person's public ``sub`` (a random identifier), never a
NIK, NIP or e-mail address, so nothing personal can be recovered from the result.

The sector (Core 8.1) is the host of the client's ``sector_identifier_uri`` when it registered one,
otherwise the single host of its redirect URIs, except that a client whose redirect URIs are all on
loopback (a native app, RFC 8252 7.3) is a sector of its own (``client:<client_id>``); registration
(idp.oauth.registration) fetched and checked the sector document once, so both functions here are
pure: no database query, no network.
Sessions and tokens keep the person's public ``sub``; these functions map it where it leaves the
provider (ID tokens, userinfo, introspection, logout tokens).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from idp.extensions import state

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def _metadata(client: Any) -> dict[str, Any]:
    """The registered metadata of an OAuthClient, a Client row, or a plain metadata dict."""
    if isinstance(client, dict):
        return client
    return dict(getattr(client, "client_metadata", None) or {})


def is_pairwise(client: Any) -> bool:
    """True when the client registered ``subject_type`` ``pairwise``."""
    return _metadata(client).get("subject_type") == "pairwise"


def sector_of(client: Any) -> str:
    """The client's Sector Identifier (Core 8.1): a lower-case host name or IP literal.

    The host of ``sector_identifier_uri`` when registered, else the host of the redirect URIs (which
    registration guarantees is one host for a pairwise client without a sector document).
    """
    metadata = _metadata(client)
    if metadata.get("sector_identifier_uri"):
        return (urlsplit(str(metadata["sector_identifier_uri"])).hostname or "").lower()
    hosts = {(urlsplit(str(uri)).hostname or "").lower() for uri in metadata.get("redirect_uris") or []}
    if hosts and hosts <= LOOPBACK_HOSTS:
        # Every native app on every machine redirects to 127.0.0.1 (RFC 8252 7.3): that host names no
        # sector, and sharing it would give all such clients the same pairwise sub (linkable across
        # them).  Each of them is its own sector instead.  A metadata dict has no client_id: the value
        # then only serves to compare two registrations of one client (idp.oauth.registration).
        return "client:" + str(getattr(client, "client_id", "") or "")
    return next(iter(hosts), "")


def subject_for(client: Any, person_sub: str) -> str:
    """The ``sub`` this client receives for the person whose public subject is ``person_sub``."""
    if not is_pairwise(client):
        return person_sub
    key: bytes = state().config["PAIRWISE_SECRET_BYTES"]
    digest = hmac.new(key, f"{sector_of(client)}|{person_sub}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

