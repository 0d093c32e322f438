"""`neurocine simulate`: write a synthetic movie-watching BIDS dataset with known ground truth."""

import click

from neurocine_toolbox.simulate import PRESETS, simulate_dataset


@click.command("simulate")
@click.argument("out_bids", type=click.Path(file_okay=False, path_type=str))
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="small", show_default=True,
              help="Base sizes: 'small' for a CPU demo, 'wen2018-size' for Wen 2018's sizes, 'benchmark' "
                   "for comparing methods (the natural world: photographs, camera motion, cuts; 8 test movies).")
@click.option("--subjects", type=int, help="Number of subjects.")
@click.option("--train-segments", type=int, help="Number of training movies (seg1, seg2, ...).")
@click.option("--train-seconds", type=float, help="Duration of each training movie (whole TRs).")
@click.option("--test-segments", type=int, help="Number of test movies (test1, test2, ...).")
@click.option("--test-seconds", type=float, help="Duration of each test movie (whole TRs).")
@click.option("--train-repeats", type=int, help="Viewings (runs) of each training movie.")
@click.option("--test-repeats", type=int, help="Viewings (runs) of each test movie.")
@click.option("--tr", type=float, help="Repetition time, seconds.")
@click.option("--fps", type=int, help="Movie frame rate.")
@click.option("--movie-size", type=int, help="Movie width = height, pixels (even).")
@click.option("--snr", type=float, help="Signal variance / noise variance in responsive grayordinates.")
@click.option("--classes", "n_classes", type=int, help="Number of visual classes (2-8).")
@click.option("--world", type=click.Choice(["shapes", "natural"]),
              help="shapes: one shape on a dark background per clip; natural: shapes in front of photographs, "
                   "a moving camera, cuts, and a brain of receptive fields over motion energy.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files).")
@click.pass_context
def command(ctx, out_bids, preset, subjects, train_segments, train_seconds, test_segments,
            test_seconds, train_repeats, test_repeats, tr, fps, movie_size, snr, n_classes, world, seed):
    """Write a synthetic BIDS dataset to OUT_BIDS (a new or empty folder).

    Movies of moving coloured shapes, alone or in front of photographs (stimuli/), events, CIFTI 91k BOLD from a stated encoding
    model (derivatives/fmriprep/) and its ground truth (derivatives/simulation/). Options
    left out take the preset's values.
    """
    overrides = dict(
        n_subjects=subjects, n_train_segments=train_segments, train_segment_seconds=train_seconds,
        n_test_segments=test_segments, test_segment_seconds=test_seconds,
        train_repeats=train_repeats, test_repeats=test_repeats, tr=tr, fps=fps,
        movie_size=movie_size, snr=snr, n_classes=n_classes, world=world,
    )
    quiet = bool(ctx.obj and ctx.obj.quiet)
    out = simulate_dataset(out_bids, preset=preset, seed=seed, progress=not quiet, **overrides)
    if not quiet:
        click.echo(f"wrote {out}")
