"""The OpenID Provider metadata document (OpenID Connect Discovery 1.0, RFC 8414), built once per app.

What the provider supports is read from the code that implements it, never written out again here:
grant types and token endpoint authentication methods from what the feature modules registered on the
authorization server (:mod:`idp.oauth.server`), the revocation and introspection methods from their
endpoints, the signing algorithms from the key ring and the client assertion check, the scopes and
claims from :mod:`idp.people.claims`.  A new grant registered in ``idp.oauth.server.FEATURE_MODULES``
appears here by itself.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from idp import assurance
from idp.extensions import state
from idp.oauth import keys, server
from idp.oauth.client_metadata import ASSERTION_ALGS, SUBJECT_TYPES
from idp.oauth.introspection import IntrospectionEndpoint
from idp.oauth.registration import RESPONSE_TYPES
from idp.oauth.revocation import RevocationEndpoint
from idp.people import access, claims


def metadata() -> dict[str, Any]:
    """The metadata as a dict (the endpoint paths are the blueprints' routes, fixed for relying parties)."""
    issuer = state().config["ISSUER"]
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/authorize",
        "token_endpoint": issuer + "/token",
        "userinfo_endpoint": issuer + "/userinfo",
        "jwks_uri": issuer + "/jwks.json",
        "registration_endpoint": issuer + "/register",
        "end_session_endpoint": issuer + "/end_session",
        "revocation_endpoint": issuer + "/revoke",
        "introspection_endpoint": issuer + "/introspect",
        "scopes_supported": claims.scopes_supported(),
        "claims_supported": claims.claims_supported(),
        "response_types_supported": list(RESPONSE_TYPES),
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": list(server.grant_types()),
        "subject_types_supported": list(SUBJECT_TYPES),  # OIDC Core 8
        "id_token_signing_alg_values_supported": list(keys.ALGORITHMS),
        "token_endpoint_auth_methods_supported": list(server.token_auth_methods()),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "revocation_endpoint_auth_methods_supported": list(RevocationEndpoint.CLIENT_AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(IntrospectionEndpoint.CLIENT_AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "ui_locales_supported": ["id", "en"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "acr_values_supported": list(assurance.LEVELS),
        # Front-Channel Logout 3: the logout URI is rendered with iss and sid when the client asks.
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
        # Back-Channel Logout 2.1: every logout token carries sid, so the session variant is supported.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        # Extension client metadata (RFC 7591 2) that restricts who may sign in to an application
        # (idp.people.access); a person who does not qualify gets access_denied, never a token.
        "client_access_policy_metadata_supported": list(access.FIELDS),
        "required_person_type_values_supported": list(access.PERSON_TYPES),
        "service_documentation": issuer + "/",
    }


def document() -> tuple[bytes, str]:
    """(JSON bytes, ETag) of the metadata, computed once per app."""
    extra = state().extra
    cached = extra.get("discovery")
    if cached is None:
        body = json.dumps(metadata(), separators=(",", ":")).encode()
        cached = (body, hashlib.sha256(body).hexdigest()[:32])
        extra["discovery"] = cached
    return cached
