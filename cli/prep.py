"""``neurocine prep BIDS_DIR [OUT_DIR]``."""

import click

from .embed import config_options, embedding_config
from .multi_value import MultiValueCommand


@click.command("prep", cls=MultiValueCommand, multi_value={"--participant-label": r"(sub-)?[A-Za-z0-9]+"})
@click.argument("bids_dir", type=click.Path(file_okay=False, path_type=str))
@click.argument("out_dir", required=False, type=click.Path(file_okay=False, path_type=str))
@click.option("--participant-label", "participant_labels", multiple=True,
              metavar="LABEL [LABEL ...]", help="Subject(s) to prepare, without 'sub-'; default all.")
@click.option("--test-stimuli", help="Glob on stim_file naming the test split (default: the dataset's own).")
@click.option("--frames-per-tr", default=6, show_default=True, help="Frames kept per TR, evenly spaced.")
@click.option("--frame-size", default=256, show_default=True, help="Frames are resized to N×N pixels.")
@click.option("--train-repeats", type=click.Choice(["average", "separate"]), default="average",
              show_default=True, help="Average the training viewings of a movie, or keep each.")
@click.option("--rescale-after-average/--no-rescale-after-average", default=False, show_default=True,
              help="Z-score each averaged run again, so that splits averaging different numbers of "
                   "viewings (Wen 2018: test 10, training 2) share one scale.")
@click.option("--voxels", type=click.Choice(["mmp-visual", "reliability"]), default="mmp-visual",
              show_default=True, help="HCP-MMP1.0 V1–V4 in hierarchy order, or a test–retest "
                                      "reliability test on training runs.")
@click.option("--reliability-p", default=0.01, show_default=True,
              help="Bonferroni-corrected p threshold of --voxels reliability.")
@click.option("--reliability-top-n", type=int, help="Keep the N most reliable grayordinates instead.")
@click.option("--detrend-order", default=4, show_default=True, help="Polynomial trend removed per run.")
@click.option("--max-bad-fraction", default=0.1, show_default=True,
              help="Largest fraction of NaN/constant selected grayordinates tolerated in a run.")
@click.option("--fmri-dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True)
@click.option("--validation-share", default=0.2, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="Share of the training movies held out for validation (evenly spread), where every "
                   "setting is chosen; 0 holds none out.")
@click.option("--validation-movies", callback=lambda ctx, param, value: tuple(value.split(",")) if value else None,
              metavar="STIM,STIM", help="The training movies (stim_file values) to hold out for validation, "
                                        "instead of --validation-share.")
@click.option("--bids-database-dir", type=click.Path(file_okay=False),
              help="Cache pybids' index of the dataset here (reused on later runs).")
@click.option("--embed", is_flag=True,
              help="Then add captions and CLIP embeddings to the stores written (as neurocine embed).")
@config_options
@click.pass_context
def command(ctx, bids_dir, out_dir, participant_labels, bids_database_dir, embed, preset, config_file, captions,
            device, **options):
    """Clean the fMRI of a BIDS movie dataset and align it with the movie frames.

    Writes one store per subject and split to OUT_DIR (default BIDS_DIR/derivatives/neurocine).
    With --embed, the embedding models are loaded first (so missing weights stop the command
    before prep starts), then the new stores get their captions and CLIP embeddings.
    """
    from neurocine_toolbox.data.prep import PrepOptions, prep

    prep_options = PrepOptions(**options)
    models = section = None
    if embed:
        from neurocine_toolbox.data.embedding import load_embedding_models

        section = embedding_config(preset, config_file, captions=captions)
        prep_options.validate()
        models = load_embedding_models(section, device)
    elif preset or config_file or captions or device:
        raise click.UsageError("--preset, --config, --captions and --device apply only with --embed")
    written = prep(
        bids_dir, out_dir, participant_labels=list(participant_labels) or None, options=prep_options,
        bids_database_dir=bids_database_dir, progress=not ctx.obj.quiet,
    )
    for path in written:
        click.echo(f"wrote {path}")
    if embed:
        from neurocine_toolbox.data.embedding import embed_stores

        for summary in embed_stores(written, section, progress=not ctx.obj.quiet, bids_dir=bids_dir, models=models):
            click.echo(f"embedded {summary['path']}")
