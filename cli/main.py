"""The click group ``neurocine`` and its error handling."""

import logging
import sys

import click

from neurocine_toolbox import NeurocineError, __version__

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Settings:
    """Global options shared with sub-commands through ``ctx.obj``."""

    def __init__(self, debug=False, quiet=False):
        self.debug = debug
        self.quiet = quiet


class NeurocineGroup(click.Group):
    """A group that turns errors into one line (``--debug`` shows the traceback)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except NeurocineError as err:
            if _debug(ctx):
                raise
            click.echo(f"neurocine: error: {err}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("neurocine: interrupted; nothing half-written was kept", err=True)
            ctx.exit(130)
        except Exception as err:  # noqa: BLE001 - last resort, one line unless --debug
            if _debug(ctx):
                raise
            click.echo(
                f"neurocine: internal error: {type(err).__name__}: {err} (rerun with --debug)",
                err=True,
            )
            ctx.exit(2)


def _debug(ctx):
    return bool(ctx.obj and ctx.obj.debug) or "--debug" in sys.argv[1:2]


class _LineHandler(logging.Handler):
    def emit(self, record):
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        click.echo(f"{prefix}{record.getMessage()}", err=True)


def _configure_logging(quiet, debug):
    logger = logging.getLogger("neurocine")
    logger.handlers[:] = [_LineHandler()]
    logger.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


@click.group(cls=NeurocineGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="neurocine")
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug messages.")
@click.option("--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
@click.pass_context
def cli(ctx, debug, quiet):
    """neurocine: reconstruct the videos a person watched from their fMRI.

    \b
    Typical flow:
      neurocine simulate /data/sim      (or convert-wen2018, or your own BIDS dataset)
      neurocine prep /data/sim          (writes /data/sim/derivatives/neurocine)
      neurocine embed /data/sim/derivatives/neurocine   (captions + CLIP embeddings)
    """
    ctx.obj = _Settings(debug=debug, quiet=quiet)
    _configure_logging(quiet, debug)


def _register():
    from . import attention_report, convert, convert_hcp7t, decode, demo, embed, evaluate, fit, prep, simulate

    for module in (simulate, convert, convert_hcp7t, prep, embed, fit, decode, evaluate, attention_report, demo):
        cli.add_command(module.command)


_register()


def main():
    """Console-script entry point."""
    cli(prog_name="neurocine")


if __name__ == "__main__":
    main()
