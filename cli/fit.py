"""``neurocine fit --subject 01 [--stage STAGE …] [--preset NAME | --config FILE]``."""

import sys

import click

STAGE_NAMES = ("pretrain", "encoder", "vae", "perception", "decoder-text", "decoder-fmri", "decoder")


@click.command("fit")
@click.option("--subject", required=True, help="Subject label (with or without 'sub-').")
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
@click.option("--derivatives", type=click.Path(file_okay=False),
              help="neurocine's derivative folder (default: found from the current folder).")
@click.pass_context
def command(ctx, subject, stages, preset, config_path, overrides, name, resume, force, include_test, derivatives):
    """Train the models of one subject: the fMRI encoder (DC-MAE pre-training, then
    contrastive fine-tuning with spatial masking and temporal interpolation), then the video
    decoder (a small VAE when none is configured; with perception.enabled, the perception
    reconstructor of the low-level pathway; Stable Diffusion inflated to video, fine-tuned on
    captions, then on fMRI).

    Outputs go to DERIVATIVES/sub-XX/models/NAME/; `accelerate launch` runs it on several GPUs
    (`torchrun --nproc_per_node N` on CPUs).
    """
    from neurocine_toolbox.bids.paths import find_derivatives_dir
    from neurocine_toolbox.evaluation.retrieval import retrieval_after_fit, retrieval_lines
    from neurocine_toolbox.training.fit import fit
    from neurocine_toolbox.utils.processes import end_processes

    if include_test:
        overrides = (*overrides, "pretrain.include_test_fmri=true")
    summary = fit(
        find_derivatives_dir(derivatives), subject, stages=list(stages) or None, preset=preset,
        config_path=config_path, overrides=overrides, name=name, resume=resume, force=force,
        progress=not ctx.obj.quiet, command=" ".join(["neurocine", *sys.argv[1:]]),
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
    retrieval = retrieval_after_fit(summary)
    if retrieval:
        click.echo("held-out retrieval (test split; validation movies, where prep held some out):")
        for line in retrieval_lines(retrieval):
            click.echo(f"  {line}")
