"""``neurocine fit --subject 01 [02 …] [--stage STAGE …] [--preset NAME | --config FILE] [--from RUN]``."""

import sys

import click

from .multi_value import MultiValueCommand

STAGE_NAMES = ("alignment", "pretrain", "encoder", "vae", "perception", "decoder-text", "decoder-fmri", "decoder")


@click.command("fit", cls=MultiValueCommand, multi_value={"--subject": r"(sub-)?[A-Za-z0-9]+"})
@click.option("--subject", "subjects", required=True, multiple=True, metavar="LABEL [LABEL ...]",
              help="Subject label(s), with or without 'sub-'; several, or 'all', train one model across "
                   "them (group/models/NAME/, brought into one space by alignment.method).")
@click.option("--stage", "stages", multiple=True, type=click.Choice(STAGE_NAMES),
              help="Stage(s) to run (repeatable; 'decoder' is decoder-text then decoder-fmri); "
                   "default: every stage in order, skipping finished ones.")
@click.option("--preset", help="A shipped config preset (e.g. tiny, paper-table1-exp4).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="A YAML config file.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one setting (repeatable), e.g. --set contrastive.steps=500.")
@click.option("--name", help="Run folder under sub-XX/models/ (default: the preset or config name).")
@click.option("--resume", is_flag=True, help="Continue interrupted stages from their last checkpoint.")
@click.option("--force", is_flag=True, help="Retrain the stages even if finished.")
@click.option("--include-test-fmri-in-pretraining", "include_test", is_flag=True,
              help="Let the TEST split's fMRI into DC-MAE pre-training (recorded and warned; "
                   "held-out scores are then not clean).")
@click.option("--from", "from_run", metavar="RUN",
              help="Fine-tune a trained run (a name under group/models/ or sub-XX/models/) on this one subject.")
@click.option("--train-fraction", type=click.FloatRange(0, 1, min_open=True),
              help="Train on this share of each subject's training movies (the first ones; sets data.train_fraction).")
@click.option("--alignment", type=click.Choice(["anatomical", "functional", "adapter"]),
              help="How several subjects come into one space (sets alignment.method).")
@click.option("--derivatives", type=click.Path(file_okay=False),
              help="neurocine's derivative folder (default: found from the current folder).")
@click.pass_context
def command(ctx, subjects, stages, preset, config_path, overrides, name, resume, force, include_test, from_run,
            train_fraction, alignment, derivatives):
    """Train the models of one subject, or one model across several: the fMRI encoder (DC-MAE pre-training, then
    contrastive fine-tuning with spatial masking and temporal interpolation), then the video
    decoder (a small VAE when none is configured; with perception.enabled, the perception
    reconstructor of the low-level pathway; Stable Diffusion inflated to video, fine-tuned on
    captions, then on fMRI).

    Outputs go to DERIVATIVES/sub-XX/models/NAME/ (several subjects: DERIVATIVES/group/models/NAME/,
    with a linked sub-XX/models/NAME/ per subject for decode, evaluate and attention-report);
    `accelerate launch` runs it on several GPUs (`torchrun --nproc_per_node N` on CPUs).
    """
    from neurocine_toolbox.bids.paths import find_derivatives_dir
    from neurocine_toolbox.evaluation.retrieval import retrieval_by_subject, retrieval_lines
    from neurocine_toolbox.training.fit import fit
    from neurocine_toolbox.utils.processes import end_processes

    if include_test:
        overrides = (*overrides, "pretrain.include_test_fmri=true")
    if train_fraction is not None:
        overrides = (*overrides, f"data.train_fraction={train_fraction}")
    if alignment is not None:
        overrides = (*overrides, f"alignment.method={alignment}")
    summary = fit(
        find_derivatives_dir(derivatives), list(subjects), stages=list(stages) or None, preset=preset,
        config_path=config_path, overrides=overrides, name=name, resume=resume, force=force,
        progress=not ctx.obj.quiet, command=" ".join(["neurocine", *sys.argv[1:]]), from_run=from_run,
    )
    end_processes()
    if not summary["main_process"]:
        return  # with several processes, the main one reports
    for stage in summary["ran"]:
        click.echo(f"trained {stage}: {summary['root'] / stage / 'model'}")
    for stage in summary["skipped"]:
        click.echo(f"skipped {stage} (finished): {summary['root'] / stage / 'model'}")
    for stage, why in summary["not_needed"].items():
        click.echo(f"left out {stage}: {why}")
    for view in summary["views"]:
        click.echo(f"decode, evaluate and attention-report each subject with: {view}")
    scores = retrieval_by_subject(summary)
    for subject, retrieval in scores.items():
        whose = f"sub-{subject}, " if len(scores) > 1 else ""
        click.echo(f"held-out retrieval ({whose}test split; validation movies, where prep held some out):")
        for line in retrieval_lines(retrieval):
            click.echo(f"  {line}")
