"""`neurocine convert` (placeholder until its module lands)."""

import click


@click.command("convert-wen2018", hidden=True)
def command():
    """Not yet available."""
    raise click.ClickException("not yet available")
