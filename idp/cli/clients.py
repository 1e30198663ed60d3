"""``idp clients ...`` (register and manage relying parties) and ``idp iat create`` (initial access
tokens for dynamic registration).  Secrets and tokens are printed once and stored only as keyed hashes.
Invalid input ends with a one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from idp import audit
from idp.extensions import db
from idp.models import Client, InitialAccessToken
from idp.oauth import registration
from idp.oauth.clients import DEFAULT_SCOPES


def _fail(message: str) -> None:
    raise click.UsageError(message)


def _find(client_id: str) -> Client:
    row = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()
    if row is None:
        _fail(f"no client with id {client_id!r}")
    assert row is not None  # noqa: S101 - for the type checker; _fail raised otherwise
    return row


def _describe(row: Client) -> dict[str, Any]:

    info = registration.client_info(row)
    info.update(first_party=row.first_party, require_pkce=row.require_pkce,
                approved_scopes=row.approved_scopes, disabled=row.disabled,
                created_by=row.created_by, dynamic=row.registration_token_hash is not None)
    return info


@click.group("clients")
def clients_group() -> None:
    """Register and manage relying parties (OAuth clients)."""


@clients_group.command("create")
@click.option("--name", required=True, help="Name shown to people on the consent page.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI (repeatable).")
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True,
              help="Where RP-initiated logout may return (repeatable).")
@click.option("--public", is_flag=True, help="A public client without a secret (PKCE required).")
@click.option("--auth-method", type=click.Choice(["client_secret_basic", "client_secret_post",
                                                  "private_key_jwt", "none"]),
              help="Token endpoint authentication method (default client_secret_basic; none with --public).")
@click.option("--jwks-file", type=click.File("r"), help="JWK Set file with the public keys (private_key_jwt).")
@click.option("--jwks-uri", help="URL of the client's JWK Set (private_key_jwt).")
@click.option("--grant-type", "grant_types", multiple=True,
              type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
              help="Allowed grant type (repeatable; default authorization_code and refresh_token).")
@click.option("--scope", help="Space-separated scopes the client may request.")
@click.option("--first-party", is_flag=True, help="Operated by the province: no consent page.")
@click.option("--require-pkce", is_flag=True, help="Require PKCE even though the client has a secret.")
@click.option("--approve-scope", "approved", multiple=True,
              help="Allow a sensitive scope such as nik (repeatable; an operator decision).")
@click.option("--id-token-alg", type=click.Choice(["RS256", "ES256", "EdDSA"]),
              help="ID token signing algorithm.")
@click.option("--backchannel-logout-uri", help="Where the provider POSTs logout tokens when a session ends "
              "(OpenID Connect Back-Channel Logout 1.0; https).")
@click.option("--backchannel-logout-session-required", is_flag=True,
              help="The client needs 'sid' in logout tokens (always sent by this provider).")
@click.option("--frontchannel-logout-uri", help="Page the provider loads in a hidden frame when a session ends "
              "(OpenID Connect Front-Channel Logout 1.0; same scheme, host and port as a redirect URI).")
@click.option("--frontchannel-logout-session-required", is_flag=True,
              help="The client needs 'iss' and 'sid' on its front-channel logout URI.")
@click.option("--subject-type", type=click.Choice(["public", "pairwise"]), default=None,
              help="public (default): every client sees the same 'sub'; pairwise: a different 'sub' per "
                   "sector (OpenID Connect Core 8).")
@click.option("--sector-identifier-uri", help="https URL of a JSON array listing the redirect URIs; its host is "
              "the pairwise sector (needed when the redirect URIs use several hosts).")
@click.option("--access-token-format", type=click.Choice(["opaque", "jwt"]), default=None,
              help="opaque (default) or jwt (RFC 9068 JWT access tokens that an API validates itself).")
@click.option("--access-token-audience", help="Absolute URI of the API the access tokens are for: their 'aud' "
              "(RFC 9068), and that API's own client may introspect them.")
@click.option("--require-person-type", type=click.Choice(["staff", "citizen"]), default=None,
              help="Who may sign in: staff only or citizens only (access policy, issue 18).")
@click.option("--require-group", "required_groups", multiple=True,
              help="Only members of this directory group (DN; repeatable: any one of them) may sign in.")
@click.option("--require-acr", default=None, help="The minimum assurance level of the sign-in (an acr value).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@with_appcontext
def create_command(name: str, redirect_uris: tuple[str, ...], logout_uris: tuple[str, ...], public: bool,
                   auth_method: str | None, jwks_file: Any, jwks_uri: str | None, grant_types: tuple[str, ...],
                   scope: str | None, first_party: bool, require_pkce: bool, approved: tuple[str, ...],
                   id_token_alg: str | None, backchannel_logout_uri: str | None,
                   backchannel_logout_session_required: bool, frontchannel_logout_uri: str | None,
                   frontchannel_logout_session_required: bool, subject_type: str | None,
                   sector_identifier_uri: str | None, access_token_format: str | None,
                   access_token_audience: str | None, require_person_type: str | None,
                   required_groups: tuple[str, ...], require_acr: str | None, as_json: bool) -> None:
    """Register a client; its secret is printed once."""

    if public and auth_method not in (None, "none"):
        _fail("--public clients use --auth-method none")
    method = "none" if public else (auth_method or "client_secret_basic")
    grants = list(grant_types) or ["authorization_code", "refresh_token"]
    metadata: dict[str, Any] = {"client_name": name, "redirect_uris": list(redirect_uris),
                                "token_endpoint_auth_method": method, "grant_types": grants}
    if logout_uris:
        metadata["post_logout_redirect_uris"] = list(logout_uris)
    if scope is not None:
        metadata["scope"] = scope
        missing = [s for s in approved if s not in scope.split()]
        if missing:
            _fail(f"--approve-scope {missing[0]} is not in --scope")
    elif approved:
        # An approved sensitive scope is useless unless the client may also request it.
        metadata["scope"] = " ".join(dict.fromkeys([*DEFAULT_SCOPES, *approved]))
    if id_token_alg:
        metadata["id_token_signed_response_alg"] = id_token_alg
    if jwks_uri:
        metadata["jwks_uri"] = jwks_uri
    if backchannel_logout_uri is not None:
        metadata["backchannel_logout_uri"] = backchannel_logout_uri
    if backchannel_logout_session_required:
        metadata["backchannel_logout_session_required"] = True
    if frontchannel_logout_uri is not None:
        metadata["frontchannel_logout_uri"] = frontchannel_logout_uri
    if frontchannel_logout_session_required:
        metadata["frontchannel_logout_session_required"] = True
    if subject_type is not None:
        metadata["subject_type"] = subject_type
    if sector_identifier_uri is not None:
        metadata["sector_identifier_uri"] = sector_identifier_uri
    if access_token_format is not None:
        metadata["access_token_format"] = access_token_format
    if access_token_audience is not None:
        metadata["access_token_audience"] = access_token_audience
    if require_person_type is not None:
        metadata["required_person_type"] = require_person_type
    if required_groups:
        metadata["required_groups"] = list(required_groups)
    if require_acr is not None:
        metadata["required_acr"] = require_acr
    if jwks_file is not None:
        try:
            metadata["jwks"] = json.load(jwks_file)
        except ValueError:
            _fail("--jwks-file is not valid JSON")
    try:
        row, secret = registration.create_client(metadata, first_party=first_party,
                                                 require_pkce=require_pkce or public,
                                                 approved_scopes=" ".join(approved), created_by="cli")
    except registration.MetadataError as exc:
        db.session.rollback()
        _fail(f"{exc.error}: {exc.description}")
        return
    audit.record("client.register", client_id=row.client_id, via="cli")
    db.session.commit()
    info = _describe(row)
    if secret:
        info["client_secret"] = secret
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"client_id:     {row.client_id}")
    if secret:
        click.echo(f"client_secret: {secret}")
        click.echo("Store the secret now: it is not shown again.")
    else:
        click.echo(f"(no secret: {method})")


@clients_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the clients as JSON.")
@with_appcontext
def list_command(as_json: bool) -> None:
    """List the registered clients."""
    rows = db.session.execute(select(Client).order_by(Client.id)).scalars().all()
    if as_json:
        click.echo(json.dumps([_describe(r) for r in rows], indent=2))
        return
    for row in rows:
        meta = row.client_metadata or {}
        flags = ",".join(f for f, on in (("disabled", row.disabled), ("first-party", row.first_party),
                                         ("dynamic", row.registration_token_hash is not None)) if on)
        click.echo(f"{row.client_id}  {meta.get('token_endpoint_auth_method', '-'):19}  "
                   f"{meta.get('client_name', '')}  {flags}".rstrip())


@clients_group.command("show")
@click.argument("client_id")
@with_appcontext
def show_command(client_id: str) -> None:
    """Show one client's metadata (never its secret)."""
    click.echo(json.dumps(_describe(_find(client_id)), indent=2))


def _set_disabled(client_id: str, disabled: bool) -> None:

    row = _find(client_id)
    row.disabled = disabled
    if disabled:
        registration.revoke_client_tokens(row, "client_disabled")
    audit.record("client.disable" if disabled else "client.enable", client_id=client_id, via="cli")
    db.session.commit()
    click.echo(f"{client_id} {'disabled' if disabled else 'enabled'}")


@clients_group.command("disable")
@click.argument("client_id")
@with_appcontext
def disable_command(client_id: str) -> None:
    """Disable a client and revoke its refresh tokens (and the access tokens issued with them)."""
    _set_disabled(client_id, True)


@clients_group.command("enable")
@click.argument("client_id")
@with_appcontext
def enable_command(client_id: str) -> None:
    """Enable a disabled client."""
    _set_disabled(client_id, False)


@clients_group.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def delete_command(client_id: str, yes: bool) -> None:
    """Delete a client with its consents and tokens."""

    row = _find(client_id)
    if not yes:
        click.confirm(f"Delete client {client_id} and all its tokens?", abort=True)
    registration.delete_client(row)
    audit.record("client.delete", client_id=client_id, via="cli")
    db.session.commit()
    click.echo(f"{client_id} deleted")


@click.group("iat")
def iat_group() -> None:
    """Initial access tokens for dynamic client registration (RFC 7591 3)."""


@iat_group.command("create")
@click.option("--expires-in", type=click.IntRange(60, 365 * 86400), default=86400, show_default=True,
              help="Lifetime in seconds.")
@click.option("--max-uses", type=click.IntRange(1, 10000), default=1, show_default=True,
              help="How many clients may be registered with it.")
@click.option("--note", default=None, help="Who it is for (kept with it).")
@with_appcontext
def iat_create_command(expires_in: int, max_uses: int, note: str | None) -> None:
    """Create an initial access token; it is printed once."""

    if note is not None and (len(note) > 200 or not note.isprintable()):
        _fail("--note must be at most 200 printable characters")
    token = registration.initial_access_token(expires_in=expires_in, max_uses=max_uses, note=note)
    click.echo(token)


@iat_group.command("list")
@with_appcontext
def iat_list_command() -> None:
    """List initial access tokens (id, uses, expiry, note); never the tokens themselves."""

    for item in db.session.execute(select(InitialAccessToken).order_by(InitialAccessToken.id)).scalars():
        click.echo(f"{item.id}  {item.uses}/{item.max_uses}  expires {item.expires_at:%Y-%m-%d %H:%M} UTC  "
                   f"{item.note or ''}".rstrip())


@iat_group.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def iat_revoke_command(token_id: int) -> None:
    """Revoke an initial access token by its id (from ``idp iat list``)."""

    item = db.session.get(InitialAccessToken, token_id)
    if item is None:
        _fail(f"no initial access token with id {token_id}")
    db.session.delete(item)
    db.session.commit()
    click.echo(f"initial access token {token_id} revoked")


commands = [clients_group, iat_group]
