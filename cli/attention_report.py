"""``neurocine attention-report --subject 01 [--name RUN] [--out report.html]``."""

import sys

import click


@click.command("attention-report")
@click.option("--subject", required=True, help="Subject label (with or without 'sub-').")
@click.option("--name", help="Run folder under sub-XX/models/ (default: the only one with a trained encoder).")
@click.option("--split", type=click.Choice(["test", "validation", "train"]),
              help="Whose windows' attention is mapped (default: interpretation.split, test).")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Where the HTML report goes (default: sub-XX/models/NAME/attention-SPLIT/report.html).")
@click.option("--set", "overrides", multiple=True, metavar="interpretation.KEY=VALUE",
              help="Override an interpretation setting (repeatable), e.g. --set interpretation.n_spins=0.")
@click.option("--derivatives", type=click.Path(file_okay=False),
              help="neurocine's derivative folder (default: found from the current folder).")
@click.pass_context
def command(ctx, subject, name, split, out, overrides, derivatives):
    """Map where a run's fMRI encoder attends onto the cortex, as one self-contained HTML report.

    Reads the encoder of every trained stage (pre-trained, contrastive, decoder-fmri), takes its
    self-attention for every window of a split back through the patch embedding to voxels,
    grayordinates, fs_LR 32k and fsaverage5, summarises it by HCP-MMP1.0, Yeo 7/17 and
    Cole-Anticevic regions with spin-test and permutation p-values, and writes the report with
    maps.npz, token_importance.npz, roi_tables.csv and report.json in attention-SPLIT/.
    """
    from neurocine_toolbox.bids.paths import find_derivatives_dir
    from neurocine_toolbox.interpretation.attention_report import attention_report, summary_lines

    summary = attention_report(find_derivatives_dir(derivatives), subject, name=name, split=split, out=out,
                               overrides=overrides, progress=not ctx.obj.quiet,
                               command=" ".join(["neurocine", *sys.argv[1:]]))
    for line in summary_lines(summary):
        click.echo(line)
