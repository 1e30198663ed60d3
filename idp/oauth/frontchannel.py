"""OpenID Connect Front-Channel Logout 1.0: the hidden iframes shown when a browser's sessions end.

Back-Channel Logout (:mod:`idp.oauth.backchannel`) is the reliable way to tell an application that
a session ended.  Front-channel logout is the fallback for applications that cannot receive calls
from the provider: the page the browser sees after signing out renders one hidden ``<iframe>`` per
application of the ended sessions that registered a ``frontchannel_logout_uri`` (Front-Channel
Logout 3), with ``iss`` and ``sid`` added (2: they MUST be added when the client registered
``frontchannel_logout_session_required``; we add them always).  It is best effort: the iframe is
a cross-site request, so browsers that block third-party cookies (or send no SameSite=Lax cookie
into a cross-site frame) keep the application's cookie out of it; an application should key its
front-channel logout by ``sid`` on the server.

The stored URI is checked again here before it is put on a page or into the Content-Security-Policy
(a row written around the registration checks must not break the page or widen ``frame-src``).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from flask import Response, render_template

from idp.extensions import state
from idp.headers import CSP
from idp.oauth.clients import query_client

if TYPE_CHECKING:
    from idp.oauth.clients import OAuthClient
    from idp.people.session import LoginSession

log = logging.getLogger(__name__)

MAX_URI_LENGTH = 2000
# RFC 3986 2 (unreserved, reserved and "%"): nothing that HTML, a header or a browser's URL parser
# would read differently from urllib (no quotes, angle brackets, backslashes, spaces or controls).
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_DNS_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_LOOPBACK_NAMES = {"localhost"}
_DEFAULT_PORTS = {"https": 443, "http": 80}
# How long the interstitial page waits for the iframes before it continues (milliseconds).
CONTINUE_AFTER_MS = 3000


def _issuer() -> str:
    return str(state().config["ISSUER"])


def _host(hostname: str) -> str | None:
    """The host as it goes into an origin (IPv6 in brackets), or None when it is not a plain host."""
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        return hostname if _DNS_HOST.fullmatch(hostname) else None
    if isinstance(address, ipaddress.IPv6Address):
        return None if address.scope_id else f"[{address.compressed}]"  # no zone identifiers
    return address.compressed


def _loopback(hostname: str) -> bool:
    if hostname in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def origin(uri: str) -> str | None:
    """The origin (``scheme://host[:port]``) of a front-channel logout URI, or None when it is unusable.

    Usable means the registration rules (Front-Channel Logout 2; RFC 8252 7.3 for http): an absolute
    https URI, or http on a loopback host, without user information or fragment, and made of
    RFC 3986 characters only.
    """
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LENGTH or not _URI_CHARS.fullmatch(uri):
        return None
    if "#" in uri:
        return None  # Front-Channel Logout 2: the URI MUST NOT include a fragment
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    hostname = (parts.hostname or "").lower()
    if parts.scheme not in _DEFAULT_PORTS or not hostname or not parts.netloc:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    if parts.scheme == "http" and not _loopback(hostname):
        return None
    host = _host(hostname)
    if host is None or port == 0:
        return None
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _safe_continue(uri: str) -> bool:
    """An http(s) URI of a plain host (as registration allows), or a path on this provider."""
    if uri.startswith("/"):
        return not uri.startswith("//") and bool(_URI_CHARS.fullmatch(uri))
    return origin(uri.partition("#")[0]) is not None


def logout_uri(client: OAuthClient, sid: str) -> str | None:
    """The URL of ``client``'s logout iframe for session ``sid``, or None when it registered no usable URI.

    Front-Channel Logout 2: ``iss`` and ``sid`` are query parameters; the URI's own query is kept as
    registered (any ``iss``/``sid`` in it is replaced by ours, so the application reads one value).
    """
    uri = client.client_metadata.get("frontchannel_logout_uri")
    if uri is None:
        return None
    if origin(uri) is None:
        log.warning("client %s has an unusable frontchannel_logout_uri; no iframe", client.client_id)
        return None
    base, _, query = uri.partition("?")
    kept = [part for part in query.split("&") if part and part.split("=", 1)[0] not in ("iss", "sid")]
    kept.append(urlencode({"iss": _issuer(), "sid": sid}))
    return base + "?" + "&".join(kept)


def iframes_for(sessions: Iterable[LoginSession | None]) -> list[str]:
    """The front-channel logout iframe URLs for ended ``sessions`` (None entries skipped), in order.

    One per application of each session (``LoginSession.clients``: those that received tokens in it)
    that registered a ``frontchannel_logout_uri``; applications without one get nothing.
    """
    urls: list[str] = []
    for session in sessions:
        if session is None:
            continue
        for client_id in dict.fromkeys(session.clients):
            client = query_client(client_id)
            url = logout_uri(client, session.sid) if client is not None else None
            if url is not None and url not in urls:
                urls.append(url)
    return urls


def content_security_policy(urls: Iterable[str]) -> str:
    """The provider's Content-Security-Policy with ``frame-src`` set to exactly the iframes' origins."""
    origins = [o for o in dict.fromkeys(origin(u) for u in urls) if o is not None]
    return f"{CSP}; frame-src {' '.join(origins)}" if origins else CSP


def signed_out_page(sessions: Iterable[LoginSession | None], *, continue_to: str | None = None) -> Response | None:
    """The signed-out page with the logout iframes of ``sessions``, or None when there are none.

    With ``continue_to`` (a validated address only: the post_logout_redirect_uri checked by
    RP-Initiated Logout 3, with its ``state``, or one of our own pages) the page is an interstitial:
    ``js/frontchannel_logout.js`` continues there once every iframe fired ``load`` or after
    :data:`CONTINUE_AFTER_MS`, and a link does it without JavaScript.  The response carries its own
    Content-Security-Policy (``idp.web`` only sets the default when none is set).
    """
    urls = iframes_for(sessions)
    if not urls:
        return None
    if continue_to is not None and not _safe_continue(continue_to):
        # Defence in depth: a row written around the registration checks must not put a javascript:
        # (or other) URI behind the link; the person stays on the signed-out page instead.
        log.warning("not continuing to an unusable post-logout address after front-channel logout")
        continue_to = None
    body = render_template("oauth/logged_out.html", frontchannel_iframes=urls, continue_to=continue_to,
                           continue_after_ms=CONTINUE_AFTER_MS)
    resp = Response(body, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = content_security_policy(urls)
    return resp
