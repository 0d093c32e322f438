"""``neurocine embed [DERIVATIVES_DIR]``: captions and CLIP embeddings added to the stores."""

import click

from .multi_value import MultiValueCommand

SUBJECT_PATTERN = r"(sub-)?[A-Za-z0-9]+"


def config_options(function):
    """The options that choose the config and the embedding models (shared with ``prep --embed``)."""
    options = [
        click.option("--preset", help="A shipped config preset (e.g. tiny: tiny random models, for CPU tests)."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help="A YAML config file (its embedding: section is used)."),
        click.option("--captions", type=click.Choice(["model", "sidecar"]),
                     help="BLIP captions of each TR's middle frame, or the dataset's stimuli/<movie>_clips.tsv "
                          "(default: the config's embedding.captions)."),
        click.option("--device", type=click.Choice(["cpu", "cuda"]),
                     help="Default: cuda (float16) when there is a GPU, else cpu."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def embedding_config(preset, config_file, overrides=(), captions=None):
    """The config's ``embedding`` section after preset, file, ``--set`` and ``--captions``."""
    from neurocine_toolbox.config import load_config

    section = load_config(preset, config_file, overrides)["embedding"]
    if captions:
        section["captions"] = captions
    return section


@click.command("embed", cls=MultiValueCommand, multi_value={"--subject": SUBJECT_PATTERN})
@click.argument("derivatives_dir", required=False, type=click.Path(file_okay=False, path_type=str))
@click.option("--subject", "subjects", multiple=True, metavar="LABEL [LABEL ...]",
              help="Subject(s) to embed, without 'sub-'; default all.")
@click.option("--split", type=click.Choice(["train", "test", "both"]), default="both", show_default=True,
              help="Which stores of each subject.")
@click.option("--derivatives", type=click.Path(file_okay=False),
              help="Same as DERIVATIVES_DIR (the spelling the other commands after prep use).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one config setting, e.g. embedding.clip_model=/models/clip (repeatable).")
@config_options
@click.option("--bids-dir", type=click.Path(file_okay=False),
              help="Raw BIDS folder holding stimuli/ for --captions sidecar "
                   "(default: the derivative's SourceDatasets, or the folder above derivatives/).")
@click.pass_context
def command(ctx, derivatives_dir, subjects, split, derivatives, overrides, preset, config_file, captions, device,
            bids_dir):
    """Add BLIP captions and CLIP text/image embeddings to the stores of a neurocine derivative.

    DERIVATIVES_DIR defaults to BIDS_DIR/derivatives/neurocine of the BIDS dataset around the
    current folder. Models come from the config's embedding section (Hugging Face ids or local
    folders); each store is rewritten atomically, replacing earlier embeddings.
    """
    from neurocine_toolbox.bids.paths import find_derivatives_dir
    from neurocine_toolbox.data.embedding import embed_stores
    from neurocine_toolbox.data.store import find_stores

    if derivatives_dir and derivatives and derivatives_dir != derivatives:
        raise click.UsageError("give the derivative folder once: DERIVATIVES_DIR or --derivatives")
    section = embedding_config(preset, config_file, overrides, captions)
    folder = find_derivatives_dir(derivatives_dir or derivatives)
    splits = ("train", "test") if split == "both" else (split,)
    paths = find_stores(folder, subjects=list(subjects) or None, splits=splits)
    for summary in embed_stores(paths, section, device=device, progress=not ctx.obj.quiet, bids_dir=bids_dir):
        click.echo(f"embedded {summary['path']}")
