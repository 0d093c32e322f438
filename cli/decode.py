"""``neurocine decode --subject 01 [--split test] [--name RUN]``."""

import sys

import click


@click.command("decode")
@click.option("--subject", required=True, help="Subject label (with or without 'sub-').")
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default="test", show_default=True,
              help="Which windows to decode: validation (training movies held out by prep, where settings "
                   "are chosen), test (only to report), or train.")
@click.option("--name", help="Run folder under sub-XX/models/ (default: the only one with a trained pipeline).")
@click.option("--set", "overrides", multiple=True, metavar="sampling.KEY=VALUE",
              help="Override a sampling setting (repeatable), e.g. --set sampling.num_inference_steps=50.")
@click.option("--limit", type=click.IntRange(min=1), help="Decode only the first N windows.")
@click.option("--force", is_flag=True, help="Decode every clip again (after changing settings or retraining).")
@click.option("--from", "from_run", metavar="RUN",
              help="Decode a subject a run was not trained on, with no training (anatomical or functional "
                   "alignment); its folder is sub-XX/models/RUN (or --name).")
@click.option("--train-fraction", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="With --from and functional alignment: the share of the subject's training movies whose "
                   "fMRI maps it onto the run's template.")
@click.option("--derivatives", type=click.Path(file_okay=False),
              help="neurocine's derivative folder (default: found from the current folder).")
@click.pass_context
def command(ctx, subject, split, name, overrides, limit, force, from_run, train_fraction, derivatives):
    """Decode video clips from the fMRI windows of a split with a trained NeuroCine pipeline.

    Writes per-clip mp4, truth|decoded gif and frames, one frames.npz of all clips, and
    decode.json to sub-XX/models/NAME/decoded-SPLIT/; resumes where an earlier run stopped.
    `accelerate launch` shares the windows among several GPUs (`torchrun` on CPUs).
    """
    from neurocine_toolbox.bids.paths import find_derivatives_dir
    from neurocine_toolbox.evaluation.clip_similarity import format_scores, score_decoded
    from neurocine_toolbox.pipelines.decode_split import decode_split
    from neurocine_toolbox.utils.processes import end_processes

    derivatives_dir = find_derivatives_dir(derivatives)
    if from_run:
        from neurocine_toolbox.alignment.run_views import new_subject_view

        view = new_subject_view(derivatives_dir, subject.removeprefix("sub-"), from_run, name, train_fraction)
        click.echo(f"sub-{subject.removeprefix('sub-')} reads {from_run} without training: {view}")
        name = view.name
    summary = decode_split(derivatives_dir, subject, name=name, split=split,
                           overrides=overrides, progress=not ctx.obj.quiet, limit=limit, force=force,
                           command=" ".join(["neurocine", *sys.argv[1:]]))
    end_processes()
    if not summary["main_process"]:
        return
    click.echo(f"decoded {summary['decoded']} clips ({summary['skipped']} done earlier): {summary['out_dir']}")
    ssim = score_decoded(summary["out_dir"], progress=not ctx.obj.quiet)
    if ssim:
        for line in format_scores(ssim):
            click.echo(f"  {line}")
