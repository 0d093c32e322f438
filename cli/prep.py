"""`neurocine prep` (placeholder until its module lands)."""

import click


@click.command("prep", hidden=True)
def command():
    """Not yet available."""
    raise click.ClickException("not yet available")
