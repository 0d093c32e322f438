"""`neurocine demo` (placeholder until its module lands)."""

import click


@click.command("demo", hidden=True)
def command():
    """Not yet available."""
    raise click.ClickException("not yet available")
