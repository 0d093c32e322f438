"""``neurocine demo``: the whole toolbox on a small synthetic dataset, on a CPU."""

import click


@click.command("demo")
@click.argument("out_dir", required=False, default="demo-output", type=click.Path(file_okay=False))
@click.option("--seed", default=0, show_default=True, help="Seed of the simulated dataset.")
@click.pass_context
def command(ctx, out_dir, seed):
    """Simulate a small BIDS dataset in OUT_DIR/bids (default ./demo-output), prepare it, add
    captions and CLIP embeddings, train the fMRI encoder, the perception reconstructor and the video
    decoder with the CPU-sized `tiny-demo` preset (the paper's method at tiny sizes plus the
    low-level pathway, trained fewer steps), decode the test split, evaluate it beside chance and baselines, and map
    where the encoder looks on the cortex (an HTML report).

    A dataset already simulated there is reused; finished training stages and decoded clips are skipped.
    """
    from neurocine_toolbox.demo import run_demo
    from neurocine_toolbox.evaluation.evaluate import table_lines
    from neurocine_toolbox.evaluation.retrieval import retrieval_lines
    from neurocine_toolbox.interpretation.attention_report import summary_lines
    from neurocine_toolbox.evaluation.clip_similarity import format_scores

    summary = run_demo(out_dir, seed=seed, progress=not ctx.obj.quiet)
    for step, seconds in summary["timings"].items():
        click.echo(f"{step}: {seconds:.1f} s")
    for path, info in summary["stores"].items():
        click.echo(
            f"{info['split']:>5}: {info['n_tr']} TRs x {info['voxels']} voxels "
            f"({info['columns']} columns), frames {info['frames']} from {info['movies']} movies -> {path}"
        )
    click.echo(f"models: {summary['models']}")
    if summary["retrieval"]:
        click.echo("held-out retrieval (test split; validation movies, where prep held some out):")
        for line in retrieval_lines(summary["retrieval"]):
            click.echo(f"  {line}")
    decoded = summary["decoded"]
    click.echo(f"decoded test clips: {decoded['out_dir']}")
    if decoded["ssim"]:
        for line in format_scores(decoded["ssim"]):
            click.echo(f"  {line}")
    for line in summary_lines(summary["attention"]):
        click.echo(line)
    evaluation = summary["evaluation"]
    click.echo(f"evaluation of the decoded test clips: {evaluation['out_dir']}")
    for line in table_lines(evaluation):
        click.echo(f"  {line}")
    click.echo(f"attention report (open in a browser): {summary['attention']['report']}")
