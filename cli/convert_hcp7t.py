"""`neurocine convert-hcp7t`: the HCP 7T movie-watching release (HCP-YA S1200) as a BIDS dataset."""

import click

from .convert import release_arguments
from .multi_value import MultiValueCommand


@click.command("convert-hcp7t", cls=MultiValueCommand, multi_value={"--subjects": r"\d{6}"})
@release_arguments("Copy the CIFTI files instead of linking them (clips are always new files).")
@click.option(
    "--subjects",
    multiple=True,
    metavar="ID [ID ...]",
    help="HCP subject IDs to convert (6 digits, e.g. 100610; default: every subject folder).",
)
@click.option(
    "--movie-version",
    type=click.Choice(["pre", "post"]),
    default="post",
    show_default=True,
    help="Movies shown before 2014-08-21 (Pre_20140821_version/, 147 subjects) or after (Post_…, _v2).",
)
@click.option(
    "--registration",
    type=click.Choice(["msmall", "msmsulc"]),
    default="msmall",
    show_default=True,
    help="Which 2 mm FIX dtseries: *_Atlas_MSMAll_hp2000_clean or *_Atlas_hp2000_clean (MSMSulc).",
)
@click.pass_context
def command(ctx, raw_dir, bids_dir, copy, subjects, movie_version, registration):
    """Convert the HCP 7T movie runs (RAW_DIR: subject folders + 7T movie resources) to BIDS.

    \b
    BIDS_DIR must be new or empty. Each clip of HCP_7T_Movie_Clip_Timing.csv is cut into its own
    mp4 in BIDS_DIR/stimuli/ (the clip ending every run is the test split); the 91k dtseries
    (2 mm package) are linked or copied into BIDS_DIR/derivatives/hcp7t-hcp/; every choice made
    is listed in BIDS_DIR/code/neurocine_conversion.json.
    """
    from neurocine_toolbox.bids.hcp7t import convert_hcp7t

    bad = [s for s in subjects if not (len(s) == 6 and s.isdigit())]
    if bad:
        raise click.BadParameter(f"{bad[0]!r} is not a 6-digit HCP subject ID", param_hint="--subjects")
    quiet = bool(ctx.obj and ctx.obj.quiet)
    result = convert_hcp7t(raw_dir, bids_dir, copy=copy, subjects=subjects or None, movie_version=movie_version,
                           registration=registration, progress=not quiet)
    shown = ", ".join(f"sub-{s}" for s in result.subjects[:4]) + (", ..." if len(result.subjects) > 4 else "")
    click.echo(
        f"converted {len(result.runs)} runs ({shown}) and cut {len(result.clips)} clips into {result.bids_dir}; "
        f"choices recorded in {result.record}"
    )
