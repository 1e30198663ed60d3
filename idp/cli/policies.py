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

from idp.cli.clients import _find, clients_group
from idp.consoles import admin
from idp.extensions import db
from idp.oauth import registration


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
    current = admin.access_policy(row)
    if person_type is None and not groups and not no_groups and acr is None:
        click.echo(json.dumps(current, indent=2))
        return
    # Options change only what they name; "any" (or --no-groups) removes a rule.
    kind = current.get("required_person_type") if person_type is None else person_type
    wanted_groups = [] if no_groups else (list(groups) or current.get("required_groups"))
    level = current.get("required_acr") if acr is None else acr
    try:
        policy = admin.set_access_policy(row, person_type=None if kind == "any" else kind, groups=wanted_groups,
                                         acr=None if level == "any" else level, by=f"cli {getpass.getuser()}")
    except registration.MetadataError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc.error}: {exc.description}") from None
    db.session.commit()
    click.echo(json.dumps(policy, indent=2))


commands: list[click.Command] = []  # the command joins the ``clients`` group above
