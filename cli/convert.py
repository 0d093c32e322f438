"""`neurocine convert-wen2018`: the Wen et al. 2018 release as a BIDS dataset."""

from pathlib import Path

import click

from .multi_value import MultiValueCommand


def release_arguments(copy_help):
    """``RAW_DIR BIDS_DIR`` and ``--copy``, which every release converter takes."""
    decorators = (
        click.argument("raw_dir", type=click.Path(path_type=Path)),
        click.argument("bids_dir", type=click.Path(path_type=Path)),
        click.option("--copy", is_flag=True, help=copy_help),
    )

    def decorate(command):
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return decorate


@click.command("convert-wen2018", cls=MultiValueCommand, multi_value={"--subjects": r"\d+"})
@release_arguments("Copy the CIFTI and mp4 files instead of linking them.")
@click.option(
    "--subjects",
    multiple=True,
    type=click.IntRange(min=1),
    metavar="N [N ...]",
    help="Release subjects to convert (1, 2, 3; default: all found).",
)
@click.pass_context
def command(ctx, raw_dir, bids_dir, copy, subjects):
    """Convert the Wen et al. 2018 release (RAW_DIR: video_fmri_dataset/ or its parent) to BIDS.

    \b
    BIDS_DIR must be new or empty. CIFTI files are linked (absolute symbolic links) or copied
    into BIDS_DIR/derivatives/wen2018-hcp/; every known defect of the release and every choice
    made is listed in BIDS_DIR/code/neurocine_conversion.json.
    """
    from neurocine_toolbox.bids.wen2018 import convert_wen2018

    quiet = bool(ctx.obj and ctx.obj.quiet)
    result = convert_wen2018(raw_dir, bids_dir, copy=copy, subjects=subjects or None, progress=not quiet)
    subjects_text = ", ".join(f"sub-{s:02d}" for s in result.subjects)
    click.echo(
        f"converted {len(result.runs)} runs ({subjects_text}) into {result.bids_dir}; "
        f"{len(result.defects)} release defects recorded in {result.record}"
    )
