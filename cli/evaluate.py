"""``neurocine evaluate``: a run's decoded clips, peers' gifs, two folders of clips, or two runs compared."""

import sys

import click


def _metrics(value):
    return [m.strip() for m in value.split(",") if m.strip()] if value else None


@click.command("evaluate")
@click.option("--subject", help="Subject label (with or without 'sub-'): evaluate a run's decoded clips.")
@click.option("--name", help="Run folder under sub-XX/models/ (default: the only one with a trained pipeline).")
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default="test", show_default=True,
              help="Choose settings on validation (training movies held out by prep); test only reports.")
@click.option("--metrics", "metrics", metavar="LIST",
              help="Comma-separated subset of ssim, psnr, pixcorr, frame_nway, clip_nway, temporal_consistency "
                   "(default: evaluation.metrics of the config), e.g. ssim,pixcorr without classifier weights; "
                   "ssim and pixcorr bring their 2-way identification.")
@click.option("--baseline", "baselines", multiple=True, type=click.Choice(["ridge", "pixel-ridge", "vae-oracle"]),
              help="Also train (once per run and split, then cached) and score the latent ridge (fMRI → VAE "
                   "latents) or the pixel ridge (fMRI → low-resolution frames), or score the truth through the "
                   "run's VAE (vae-oracle: the ceiling); repeatable. Flat grey, mean clip and shuffled are always "
                   "scored.")
@click.option("--compare", nargs=2, metavar="RUN_A RUN_B",
              help="Paired differences of every metric between two evaluated runs on the same clips.")
@click.option("--gifs", type=click.Path(exists=True, file_okay=False),
              help="A folder of side-by-side gifs as the peers publish them (truth | reconstruction).")
@click.option("--layout", type=click.Choice(["peer-grid"]), default="peer-grid", show_default=True,
              help="Layout of the gifs: torchvision make_grid of [truth, reconstruction], 2-pixel border.")
@click.option("--peer-split", is_flag=True,
              help="Read the gifs as the peers' code does (np.split: border kept, one-pixel shift), to "
                   "reproduce their figures; the default is the exact crop.")
@click.option("--pred", type=click.Path(exists=True, file_okay=False), help="A folder of reconstructed clips (mp4 or gif).")
@click.option("--truth", type=click.Path(exists=True, file_okay=False), help="A folder of true clips, paired by name.")
@click.option("--clips-per-run", type=click.IntRange(min=2),
              help="With --gifs/--pred: consecutive clips per run (Wen 2018's test split: 240); default one run.")
@click.option("--out", type=click.Path(file_okay=False), help="With --gifs/--pred: the output folder (new or empty).")
@click.option("--preset", help="With --gifs/--pred: the config preset whose evaluation settings to use (e.g. tiny).")
@click.option("--set", "overrides", multiple=True, metavar="evaluation.KEY=VALUE",
              help="Override an evaluation setting (repeatable), e.g. --set evaluation.n_way=[2,50].")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Where the classifiers run (default: CUDA if available).")
@click.option("--derivatives", type=click.Path(file_okay=False),
              help="neurocine's derivative folder (default: found from the current folder).")
@click.pass_context
def command(ctx, subject, name, split, metrics, baselines, compare, gifs, layout, peer_split, pred, truth,
            clips_per_run, out, preset, overrides, device, derivatives):
    """Score decoded clips with the field's metrics, beside chance and baselines, with intervals.

    SSIM (three protocols), PSNR, PixCorr, 2-way identification by SSIM and PixCorr, N-way top-1
    classification of frames and clips (the peers' protocol and a strict one), temporal
    consistency; baselines: flat grey, mean clip (the training split's; leave-one-out with
    --gifs/--pred), shuffled, latent and pixel ridge (--baseline). Writes metrics.json,
    per_clip.csv and metrics.md into sub-XX/models/NAME/decoded-SPLIT/evaluation/ (or --out) and
    prints the table.
    """
    from neurocine_toolbox import NeurocineError
    from neurocine_toolbox.evaluation.evaluate import compare_runs, evaluate_files, evaluate_run, table_lines

    quiet = ctx.obj.quiet
    line = " ".join(["neurocine", *sys.argv[1:]])
    files = gifs is not None or pred is not None or truth is not None
    if sum([bool(compare), files, subject is not None and not compare]) != 1:
        raise NeurocineError("give one of: --subject (a run's decoded clips), --gifs/--pred/--truth with --out, "
                             "or --compare RUN_A RUN_B with --subject")
    if compare:
        if subject is None:
            raise NeurocineError("--compare needs --subject")
    if files:
        if out is None:
            raise NeurocineError("--gifs/--pred/--truth need --out")
        record = evaluate_files(out, gifs=gifs, pred=pred, truth=truth, peer_split=peer_split,
                                clips_per_run=clips_per_run, metrics=_metrics(metrics), preset=preset,
                                overrides=overrides, device=device, progress=not quiet, command=line)
    elif compare:
        from neurocine_toolbox.bids.paths import find_derivatives_dir

        result = compare_runs(find_derivatives_dir(derivatives), subject, *compare, split=split)
        click.echo(f"comparison: {result['path']}")
        for text in result["lines"]:
            click.echo(text)
        return
    else:
        from neurocine_toolbox.bids.paths import find_derivatives_dir

        if preset:
            raise NeurocineError("--preset applies to --gifs/--pred only; a run is evaluated with its own config")
        record = evaluate_run(find_derivatives_dir(derivatives), subject, name=name, split=split,
                              metrics=_metrics(metrics), baselines=[b.replace("-", "_") for b in baselines],
                              overrides=overrides, device=device, progress=not quiet, command=line)
    click.echo(f"evaluation: {record['out_dir']}")
    for text in table_lines(record):
        click.echo(text)
