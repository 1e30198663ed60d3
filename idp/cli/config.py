"""``idp config-doc``: print the configuration reference from the defaults table."""

from __future__ import annotations

import click

from idp.config import reference_markdown


@click.command("config-doc")
def config_doc() -> None:
    """Print the settings table (Markdown) as in the README."""
    click.echo(reference_markdown())


commands = [config_doc]
