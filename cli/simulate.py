"""`neurocine simulate` (placeholder until its module lands)."""

import click


@click.command("simulate", hidden=True)
def command():
    """Not yet available."""
    raise click.ClickException("not yet available")
