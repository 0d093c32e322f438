"""``neurocine attention-report --subject 01 [--name RUN] [--out report.html]``."""

import sys

import click

from .multi_value import MultiValueCommand


@click.command("attention-report", cls=MultiValueCommand, multi_value={"--subject": r"(sub-)?[A-Za-z0-9]+"})
@click.option("--subject", "subjects", required=True, multiple=True, metavar="LABEL [LABEL ...]",
              help="Subject label(s), with or without 'sub-'; several: each one's report, then a page of "
                   "where they agree.")
@click.option("--name", help="Run folder under sub-XX/models/ (default: the only one with a trained encoder).")
@click.option("--split", type=click.Choice(["test", "validation", "train"]),
              help="Whose windows' attention is mapped (default: interpretation.split, test).")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Where the HTML report goes (default: sub-XX/models/NAME/attention-SPLIT/report.html).")
@click.option("--set", "overrides", multiple=True, metavar="interpretation.KEY=VALUE",
              help="Override an interpretation setting (repeatable), e.g. --set interpretation.n_surrogates=0.")
@click.option("--derivatives", type=click.Path(file_okay=False),
              help="neurocine's derivative folder (default: found from the current folder).")
@click.pass_context
def command(ctx, subjects, name, split, out, overrides, derivatives):
    """Map what a run's fMRI encoder reads onto the cortex, as one self-contained HTML report.

    Reads the encoder of every trained stage (pre-trained, contrastive, decoder-fmri) on every
    window of a split: its self-attention (patch resolution, also divided by its map on inputs
    without a stimulus to remove token position) and each voxel's attribution (integrated
    gradients of the CLIP-target similarity), carried to grayordinates, fs_LR 32k and fsaverage5.
    The headline map is the kind the validation windows' deletion test favours. Regions of
    HCP-MMP1.0, Yeo 7/17 and Cole-Anticevic are ranked with p-values from Moran surrogates made on
    the selected grayordinates; on simulated data, the maps are compared with the truth. Writes
    the report with maps.npz, token_importance.npz, roi_tables.csv and report.json in
    attention-SPLIT/. With several subjects (of a run trained on them, or each with a run of
    that name), each gets its report, then one page shows their headline maps and where they
    agree (group/models/NAME/attention-SPLIT/group_report.html).
    """
    from neurocine_toolbox.bids.paths import find_derivatives_dir
    from neurocine_toolbox.interpretation.attention_report import attention_report, summary_lines

    derivatives_dir = find_derivatives_dir(derivatives)
    if len(subjects) > 1 and out:
        raise click.UsageError("--out names one subject's report; leave it out with several subjects")
    summaries = {}
    for subject in subjects:
        subject = subject.removeprefix("sub-")
        summaries[subject] = attention_report(derivatives_dir, subject, name=name, split=split, out=out,
                                              overrides=overrides, progress=not ctx.obj.quiet,
                                              command=" ".join(["neurocine", *sys.argv[1:]]))
        for line in summary_lines(summaries[subject]):
            click.echo(line)
    if len(summaries) > 1:
        from neurocine_toolbox.interpretation.group_attention import group_report_for_run
        from neurocine_toolbox.interpretation.group_attention import summary_lines as group_lines

        result = group_report_for_run(derivatives_dir, summaries, name, split, overrides)
        for line in group_lines(result):
            click.echo(line)
