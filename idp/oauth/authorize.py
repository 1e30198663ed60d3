"""The authorization decision (OIDC Core 3.1.2): sign in first, step up, ask for consent, or issue a code.

Authlib validates the request (client, redirect URI, scope, PKCE) in :func:`decide`; what is ours is
the rest: ``prompt``, ``max_age``, ``acr_values`` and ``id_token_hint`` (OIDC Core 3.1.2.1), the consent
remembered per person and client, and the pending requests kept in the store while the person signs
in or reads the consent page (kind ``authreq``: :func:`store_request`, :func:`pending`, :func:`take`).
The page that shows the outcome is :mod:`idp.web.oauth`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from flask import request
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from idp import assurance, audit, ratelimit
from idp.crypto import random_token
from idp.extensions import db, setting, state
from idp.models import Consent, Person
from idp.oauth import logout
from idp.oauth.clients import OAuthClient, hint_matches
from idp.oauth.grants import EndUser
from idp.oauth.server import ParamsRequest, get_server
from idp.people import access, signin
from idp.people import claims as claims_module
from idp.people import session as login_session
from idp.sources import citizen

log = logging.getLogger(__name__)

KIND = "authreq"
MAX_PARAM_LENGTH = 2048
PROMPTS = {"none", "login", "consent", "select_account"}
AUTHREQ_WINDOW = 60  # seconds: IDP_AUTH_REQUESTS_PER_IP and IDP_AUTH_REQUESTS_MAX count per minute
ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


# --- outcomes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignIn:
    """The person must sign in (again): the request waits as ``req``."""

    req: str


@dataclass(frozen=True)
class StepUp:
    """The session lacks only the second factor: its first factor is parked for the code page
    (:func:`idp.people.signin.park`); the request waits as ``req``."""

    req: str


@dataclass(frozen=True)
class AskConsent:
    """The person must allow the client the ``scopes``: the request waits as ``req`` for the decision."""

    req: str
    client: OAuthClient
    scopes: list[str]


@dataclass(frozen=True)
class Refused:
    """The person does not qualify under the application's access policy (:mod:`idp.people.access`):
    a page names the application and the ``reasons``; the application hears ``access_denied``."""

    client: OAuthClient
    reasons: list[str]


@dataclass(frozen=True)
class Code:
    """The authorization code to deliver, issued in ``session``."""

    code: str
    session: login_session.LoginSession


Outcome = SignIn | StepUp | AskConsent | Refused | Code


# --- pending requests ----------------------------------------------------------------------------
def _authreq_source() -> str:
    """The client address the per-IP limit counts: an IPv4 address, or the /64 of an IPv6 address (one
    host usually holds a whole /64, RFC 7421)."""
    raw = request.remote_addr or ""
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def _admit() -> None:
    """Bound the pending requests anyone can make the store hold (each for IDP_AUTH_REQUEST_TTL, before
    any sign-in): per client address and in all, per minute.  Beyond either, the request is answered
    with ``temporarily_unavailable`` (RFC 6749 4.1.2.1: the server cannot handle the request now), to the
    already validated redirect URI, so the application can say so and try again later."""
    if not ratelimit.allow("authreq-ip", _authreq_source(), int(setting("AUTH_REQUESTS_PER_IP")), AUTHREQ_WINDOW):
        raise OAuth2Error(error="temporarily_unavailable",
                          description="Too many sign-in requests from this network. Try again in a minute.")
    if not ratelimit.allow("authreq-all", "all", int(setting("AUTH_REQUESTS_MAX")), AUTHREQ_WINDOW):
        if state().store.add(ratelimit.KIND, "authreq-all-logged", 1, AUTHREQ_WINDOW):  # one line per minute
            log.warning("IDP_AUTH_REQUESTS_MAX reached: authorization requests are refused until the minute is over")
        raise OAuth2Error(error="temporarily_unavailable",
                          description="The sign-in service is busy. Try again in a minute.")


def store_request(params: MultiDict[str, str], client: OAuthClient, **extra: Any) -> str:
    """Keep a pending authorization request for the pages in between (sign-in, consent); returns its id.

    Raises ``temporarily_unavailable`` beyond the per-address and total limits (:func:`_admit`).
    """
    _admit()
    req_id = random_token(24)
    value = {
        "params": [[k, v] for k, v in params.items(multi=True)],
        "client_id": client.client_id,
        "client_name": client.client_name,
        "login_hint": params.get("login_hint"),
        "ui_locales": params.get("ui_locales"),
        "force_login": False,
        "created": int(time.time()),
        **extra,
    }
    state().store.put(KIND, req_id, value, setting("AUTH_REQUEST_TTL"))
    return req_id


def pending(req_id: str | None) -> dict[str, Any] | None:
    """The pending request ``req_id`` names (it stays), or None."""
    if not req_id or len(req_id) >= 100:
        return None
    value = state().store.get(KIND, req_id)
    return value if isinstance(value, dict) else None


def take(req_id: str | None) -> dict[str, Any] | None:
    """The pending request ``req_id`` names, removed from the store (only one caller gets it), or None."""
    value = state().store.take(KIND, req_id) if req_id and len(req_id) < 100 else None
    return dict(value) if value else None


def forget(req_id: str) -> None:
    """The request is answered: drop it."""
    state().store.delete(KIND, req_id)


def stored_params(stored: dict[str, Any]) -> MultiDict[str, str]:
    """The parameters of a pending request, to validate again from scratch."""
    return MultiDict([tuple(p) for p in stored["params"]])


# --- the request's shape and the OIDC parameters ---------------------------------------------------
def _quoted(name: str) -> str:
    """A parameter name fit for an error_description: RFC 6749 4.1.2.1 allows only %x20-21 / %x23-5B /
    %x5D-7E there (Authlib refuses anything else), so any other character is percent-encoded."""
    return quote(name[:40], safe=" !#$&'()*+,/:;=?@[]^_`{|}~-.")


def check_shape(params: MultiDict[str, str]) -> None:
    """Refuse repeated or oversized parameters and request objects (RFC 6749 3.1, OIDC Core 6)."""
    for key in params:
        values = params.getlist(key)
        if len(values) > 1:
            raise InvalidRequestError(f"The parameter '{_quoted(key)}' is repeated.")
        if len(values[0]) > MAX_PARAM_LENGTH and key not in {"id_token_hint"}:
            raise InvalidRequestError(f"The parameter '{_quoted(key)}' is too long.")
    if "request" in params or "request_uri" in params:
        error = InvalidRequestError("Request objects are not supported.")
        error.error = "request_not_supported" if "request" in params else "request_uri_not_supported"
        raise error


def _prompts(params: MultiDict[str, str]) -> set[str]:
    prompts = set((params.get("prompt") or "").split())
    if prompts - PROMPTS:
        raise InvalidRequestError("Unsupported 'prompt' value.")
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequestError("'prompt=none' cannot be combined with other values.")
    return prompts


def _max_age(params: MultiDict[str, str]) -> int | None:
    raw = params.get("max_age")
    if raw is None or raw == "":
        return None
    # ASCII digits only: str.isdigit() also accepts "²" and "٣", which int() then refuses or reads.
    if len(raw) > 10 or not ASCII_DIGITS.fullmatch(raw):
        raise InvalidRequestError("'max_age' must be a non-negative number of seconds.")
    return int(raw)


# --- consent ---------------------------------------------------------------------------------------
def consent_covers(person_id: int, client: OAuthClient, scopes: list[str]) -> bool:
    """Whether the person already allowed the client every scope in ``scopes``."""
    row = db.session.execute(
        select(Consent.scopes).where(Consent.person_id == person_id, Consent.client_id == client.pk)
    ).scalar_one_or_none()
    return row is not None and set(scopes) <= set(row.split())


def remember_consent(person_id: int, client: OAuthClient, scopes: list[str]) -> None:
    """Record (or widen) the person's consent for the client, audited, committed."""
    consent = db.session.execute(
        select(Consent).where(Consent.person_id == person_id, Consent.client_id == client.pk)
    ).scalar_one_or_none()
    if consent is None:
        db.session.add(Consent(person_id=person_id, client_id=client.pk, scopes=" ".join(scopes)))
    else:
        merged = list(dict.fromkeys(consent.scopes.split() + scopes))
        consent.scopes = " ".join(merged)
    audit.record("oauth.consent", person_id=person_id, client_id=client.client_id, scopes=scopes)
    db.session.commit()


# --- the decision ------------------------------------------------------------------------------------
def _live_session() -> login_session.LoginSession | None:
    """This browser's session, ended here when its person was disabled or removed since the sign-in."""
    session = login_session.current()
    if session is not None:
        # The status alone: the page needs nothing else of the person (no entity built for one column).
        status = db.session.execute(select(Person.status).where(Person.id == session.person_id)).scalar()
        if status != "active":
            login_session.end()
            return None
    return session


def decide(params: MultiDict[str, str], client: OAuthClient, *, resumed: dict[str, Any] | None = None,
           decision: str | None = None, origin_req: str | None = None) -> Outcome:
    """Answer an authorization request of ``client`` (whose redirect URI is already validated).

    ``resumed`` is the stored request when it comes back after sign-in or the consent page (``origin_req``
    its id), ``decision`` the person's answer on the consent page (``allow`` or ``deny``).  Errors are
    raised as :class:`OAuth2Error` for delivery to the redirect URI (RFC 6749 4.1.2.1).
    """
    prompts = _prompts(params)
    max_age = _max_age(params)
    acr_values = [v for v in (params.get("acr_values") or "").split() if v in assurance.LEVELS]
    hint = logout.verify_id_token_hint(params["id_token_hint"]) if params.get("id_token_hint") else None

    session = _live_session()
    end_user = None
    if session is not None:
        end_user = EndUser(person_id=session.person_id, sub=session.sub, sid=session.sid,
                           auth_time=session.auth_time, acr=session.acr, amr=tuple(session.amr))
    response_type = params.get("response_type")
    if not response_type:
        # A missing required parameter is invalid_request (RFC 6749 4.1.2.1, OIDC Core 3.1.2.6);
        # unsupported_response_type is for a value the server does not offer.
        raise InvalidRequestError("The 'response_type' parameter is missing.")
    if response_type != "code":
        # Only the code flow is offered (discovery: response_types_supported).  Said here, with a
        # fixed description: Authlib would quote the value, and refuses to build an error whose
        # description holds characters outside RFC 6749's set (a 500 on hostile input).
        raise OAuth2Error(error="unsupported_response_type", description="Only 'response_type=code' is supported.")
    grant = get_server().get_consent_grant(ParamsRequest(params), end_user=end_user)
    scopes = (grant.request.scope or "").split()

    # --- sign-in (OIDC Core 3.1.2.1: prompt, max_age, id_token_hint) ---
    now = int(time.time())
    login_done = bool(resumed and session is not None and (
        session.auth_time >= resumed["created"] or resumed.get("login_sid") == session.sid))
    need_login = session is None
    step_up = False
    # A requested NIK proof is checked against the person's account as it is now (an officer may have
    # verified it, or a dispute moved it, since the sign-in): one query, only for such requests.
    nik_acr = citizen.nik_assurance(session.person_id) if (
        session is not None and any(assurance.is_nik_proof(v) for v in acr_values)) else None
    if session is not None and not login_done:
        if "login" in prompts:
            need_login = True
        # OIDC Core 3.1.2.1: re-authenticate when the elapsed time is greater than max_age.  auth_time
        # has one-second resolution, so "elapsed >= max_age" keeps max_age=0 meaning "always".
        if max_age is not None and now - session.auth_time >= max_age:
            need_login = True
        if acr_values and not assurance.satisfies(session.acr, acr_values, nik_acr):
            # acr_values are voluntary (Core 5.5.1.1): ask for a sign-in once, then report what we got.
            # Only the second factor is missing: step up with the code alone (no password again).
            step_up = not need_login and assurance.MFA in acr_values
            need_login = True
    # The hint's sub is the one its client knew: pairwise for pairwise clients (OIDC Core 8.1).
    if session is not None and hint is not None and not hint_matches(hint, session.sub):
        need_login = True
        step_up = False
    if need_login and step_up and "none" not in prompts and session is not None:
        req_id = store_request(params, client, force_login=True)
        signin.park(signin.Parked(person_id=session.person_id, acr=session.acr, amr=list(session.amr),
                                  source=session.source, remember=session.remember, req=req_id))
        return StepUp(req_id)
    if need_login:
        if "none" in prompts or (login_done and session is not None):
            # prompt=none cannot show the sign-in page; after a fresh sign-in a still-unmatched hint
            # would loop, so it ends here too.
            raise LoginRequiredError("The person must sign in, which this request does not allow.")
        return SignIn(store_request(params, client, force_login=session is not None))
    assert session is not None and end_user is not None

    # --- the application's access policy (issue 18), before consent: nobody consents to what they cannot use ---
    if access.has_policy(client.client_metadata):
        reasons = access.refusals(session.person_id, session.acr, client.client_metadata)
        if reasons:
            if (access.only_level_missing(reasons, client.client_metadata) and "none" not in prompts
                    and not (resumed and resumed.get("policy_step_up"))):
                # Only the second factor is missing: step up once (the code, no password again).
                req_id = store_request(params, client, force_login=True, policy_step_up=True)
                signin.park(signin.Parked(person_id=session.person_id, acr=session.acr, amr=list(session.amr),
                                          source=session.source, remember=session.remember, req=req_id))
                return StepUp(req_id)
            audit.record("oauth.access_denied", outcome="failure", person_id=session.person_id,
                         client_id=client.client_id, reasons=reasons, commit=True)
            if "none" in prompts:
                # No page may be shown (OIDC Core 3.1.2.1): the application hears the refusal at once.
                raise AccessDeniedError("The application's access policy does not admit this person.")
            return Refused(client, reasons)

    # --- consent ---
    sensitive = set(scopes) & claims_module.sensitive_scopes()
    if decision is None:
        need_consent = "consent" in prompts or (
            (not client.first_party or sensitive) and not consent_covers(session.person_id, client, scopes))
        if need_consent:
            if "none" in prompts:
                raise ConsentRequiredError("The person must consent, which this request does not allow.")
            created = resumed["created"] if resumed else int(time.time())
            req_id = store_request(params, client, login_sid=session.sid, consent_for=session.sid, created=created,
                                   origin_req=origin_req)
            return AskConsent(req_id, client, scopes)
    elif decision != "allow":
        audit.record("oauth.consent", outcome="denied", person_id=session.person_id, client_id=client.client_id,
                     commit=True)
        raise AccessDeniedError("The person declined the request.")
    else:
        remember_consent(session.person_id, client, scopes)
    if acr_values:
        end_user = dataclasses.replace(end_user, acr=assurance.asserted(session.acr, acr_values, nik_acr))
    return Code(grant.issue_code(end_user), session)
