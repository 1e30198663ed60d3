"""``idp clients policy CLIENT_ID``: set or clear who may sign in to an application (issue 18).

The rules (``required_person_type``, ``required_groups``, ``required_acr``) are the application's
registration metadata, checked by the same validator as dynamic registration and the portal
(:func:`idp.oauth.registration.validate_metadata`); they take effect at the next authorization request
and the next refresh.  Audited as ``client.policy_changed``.
"""

from __future__ import annotations

import getpass
import json

import click
from flask.cli import with_appcontext

from idp import audit
from idp.cli.clients import _find, clients_group
from idp.extensions import db
from idp.oauth import registration
from idp.people import access


@clients_group.command("policy")
@click.argument("client_id")
@click.option("--person-type", type=click.Choice(["staff", "citizen", "any"]), default=None,
              help="Staff only, citizens only, or anyone ('any' removes the rule).")
@click.option("--group", "groups", multiple=True, help="Only members of this directory group DN (repeatable).")
@click.option("--no-groups", is_flag=True, help="Remove the group rule.")
@click.option("--acr", default=None, help="The minimum assurance level (an acr value; 'any' removes the rule).")
@with_appcontext
def policy_command(client_id: str, person_type: str | None, groups: tuple[str, ...], no_groups: bool,
                   acr: str | None) -> None:
    """Show, set or clear the application's access policy (without options: show it)."""
    row = _find(client_id)
    meta = dict(row.client_metadata or {})
    if person_type is None and not groups and not no_groups and acr is None:
        click.echo(json.dumps({f: meta[f] for f in access.FIELDS if f in meta}, indent=2))
        return
    if person_type is not None:
        meta.pop("required_person_type", None)
        if person_type != "any":
            meta["required_person_type"] = person_type
    if no_groups:
        meta.pop("required_groups", None)
    if groups:
        meta["required_groups"] = list(groups)
    if acr is not None:
        meta.pop("required_acr", None)
        if acr != "any":
            meta["required_acr"] = acr
    try:
        row.client_metadata = registration.validate_metadata(meta, current=row.client_metadata)
    except registration.MetadataError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc.error}: {exc.description}") from None
    policy = {f: row.client_metadata[f] for f in access.FIELDS if f in row.client_metadata}
    audit.record("client.policy_changed", client_id=row.client_id, policy=policy, operator=getpass.getuser())
    db.session.commit()
    click.echo(json.dumps(policy, indent=2))


commands: list[click.Command] = []  # the command joins the ``clients`` group above
