"""``neurocine fit``: train a subject's models stage by stage, skipping finished stages.

Outputs, per subject and run name (the preset or config file name, or ``--name``)::

    <derivatives>/sub-01/models/<name>/
        config.yaml          the resolved config (seed included)
        provenance.json      versions, inputs, and whether test fMRI entered training
        alignment/           only for several subjects, a share of the movies, or --from: the
                             subjects' maps into one space and the run's training store
                             (neurocine_toolbox/alignment/run_space.py)
        pretrain/            DC-MAE: checkpoints/, metrics.csv, model/ (the encoder)
        encoder/             contrastive fine-tuning: …, model/, retrieval.json (scored after fit;
                             retrieval-sub-XX.json for each subject of a run on several)
        vae/                 a small AutoencoderKL (only when no pretrained VAE is configured)
        latents-train.safetensors   the training clips' latents, cached once per VAE
        perception/          the low-level pathway (perception.enabled): model/, fit.json
        decoder-text/        stage A: model/ (the video UNet)
        decoder-fmri/        stage B: model/ (the whole NeuroCinePipeline)

A stage is finished when its ``model/`` folder exists (it is renamed into place when complete).

A run on several subjects (``subject=["02", "03", "04"]``) trains in ``<derivatives>/group/models/<name>/``
and gives each subject a folder ``sub-XX/models/<name>/`` that links to it (alignment/run_views.py).
A run ``from_run`` another fine-tunes it on one subject: its training store holds that run's
training data and the new subject's share; the encoder and stage B start from that run's and
train on the new subject's windows only; stage A is that run's; the perception reconstructor (a
closed-form fit, which cannot be fine-tuned) and evaluate's ridge baselines learn from the whole
store; pre-training is not needed.
"""

import json
import logging
import platform
import shutil
import sys
from pathlib import Path

import torch

from .._version import __version__
from ..config import config_to_yaml, load_config
from ..data.store import EMBEDDING_ATTR, open_store, store_path
from ..errors import NeurocineError
from ..models.fmri_encoder import FMRIEncoder
from ..utils.atomic import write_text_atomic
from ..utils.processes import check_launch
from .decoder_stages import decoder_fmri_stage, decoder_text_stage, vae_stage
from .encoder_stages import contrastive_stage, encoder_kwargs, pretrain_stage
from .perception_stage import perception_stage

log = logging.getLogger("neurocine")

STAGES = ("alignment", "pretrain", "encoder", "vae", "perception", "decoder-text", "decoder-fmri")
DECODER_STAGES = ("vae", "perception", "decoder-text", "decoder-fmri")
#: Names that stand for several stages.
STAGE_GROUPS = {"decoder": ("decoder-text", "decoder-fmri")}


def _flatten(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


#: Sections read only after training (decode, evaluate, attention-report read them from the run's
#: config.yaml, and take overrides): they may differ without retraining.
AFTER_TRAINING = ("sampling.", "evaluation.", "interpretation.")


def _check_same_config(root, config, force):
    """A run folder belongs to one config: refuse to mix stages trained with different settings."""
    saved_path = root / "config.yaml"
    if not saved_path.is_file() or force:
        return
    import yaml

    from ..config import defaults

    # A setting added to neurocine since the run was trained is read at its default value.
    saved = {**_flatten(defaults()), **_flatten(yaml.safe_load(saved_path.read_text()))}
    now = _flatten(config)
    differ = sorted(k for k in set(saved) | set(now)
                    if saved.get(k) != now.get(k) and not k.startswith(AFTER_TRAINING))
    if differ:
        raise NeurocineError(f"was trained with a different config (differs in: {', '.join(differ[:6])}); "
                             "choose another --name, or --force to retrain", root)


def _provenance(config, stores, command, processes=1, subjects=None, from_run=None):
    uses_test = bool(config["pretrain"]["include_test_fmri"])
    with open_store(stores["train"]) as store:
        embedding = store.attrs.get(EMBEDDING_ATTR)  # which captions and CLIP gave the targets
    return {
        "neurocine_version": __version__, "torch_version": torch.__version__,
        "python_version": platform.python_version(), "seed": config["seed"], "preset": config["preset"],
        "stores": {k: str(v) for k, v in stores.items()}, "command": command,
        "test_fmri_in_training": uses_test, "embedding": embedding, "processes": int(processes),
        "subjects": subjects, "from_run": str(from_run) if from_run else None,
        "train_fraction": float(config["data"]["train_fraction"]),
    }


def _initial_encoder(config, root, num_voxels, from_run=None):
    """Where contrastive fine-tuning starts: the run fine-tuned (its last encoder), an imported
    checkpoint, the pre-trained encoder, or new."""
    if from_run is not None:
        for folder in (from_run / "decoder-fmri" / "model" / "fmri_encoder", from_run / "encoder" / "model"):
            if (folder / "config.json").is_file():
                log.info("encoder: starting from %s", folder)
                return FMRIEncoder.from_pretrained(folder)
    source = config["encoder"]["init_from"]
    if source:
        from ..models.checkpoint_import import import_checkpoint

        kwargs = encoder_kwargs(config, num_voxels)
        encoder, _ = import_checkpoint(source, **kwargs)
        return encoder
    pretrained = root / "pretrain" / "model"
    if (pretrained / "config.json").is_file():
        log.info("encoder: starting from the pre-trained encoder in %s", pretrained)
        return FMRIEncoder.from_pretrained(pretrained)
    log.warning("encoder: no pre-trained encoder (run --stage pretrain, or set encoder.init_from); "
                "starting from random weights")
    return None


def _plan_stages(stages, config, needs_space=False, from_run=None):
    """The stages to run, in order, and those left out because the config makes them unnecessary.

    Checks now (before any training) that the Stable Diffusion weights the decoder stages need
    can be loaded offline.
    """
    from ..models.diffusion_components import require_stable_diffusion, vae_location

    explicit = stages is not None
    stages = list(STAGES) if stages is None else [s for name in stages for s in STAGE_GROUPS.get(name, (name,))]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise NeurocineError(f"unknown stage(s) {', '.join(unknown)} (known: {', '.join(STAGES)}, decoder)")
    stages = [s for s in STAGES if s in stages]  # the order of the flow, whatever the order asked
    not_needed = {}
    if not needs_space and "alignment" in stages and not explicit:
        not_needed["alignment"] = "one subject on all its training movies: its own store, as prepared"
    if from_run is not None and "pretrain" in stages and not explicit:
        not_needed["pretrain"] = f"the encoder starts from {from_run.name}'s"
    if config["encoder"]["init_from"] and "pretrain" in stages and not explicit:
        not_needed["pretrain"] = f"encoder.init_from is {config['encoder']['init_from']}"
    if not config["perception"]["enabled"] and "perception" in stages and not explicit:
        not_needed["perception"] = "perception.enabled is false (the paper's method)"
    if any(s in stages for s in DECODER_STAGES):
        require_stable_diffusion(config["decoder"]["pretrained"])
        found = vae_location(config)
        if found is not None and "vae" in stages:
            not_needed["vae"] = f"a pretrained VAE is configured: {'/'.join(p for p in found if p)}"
    return [s for s in stages if s not in not_needed], not_needed


def check_before_training(config, stores, stages, processes=1):
    """Every check that needs the stores or the pretrained models' configs, before any stage trains.

    A mismatch found here would otherwise stop a stage hours into a run (after pre-training, or
    after the encoder): CLIP widths against the encoder, the UNet's cross-attention against the
    encoder and the captions, frames per clip against the store, the frame size against the VAE
    and UNet, and batches that several processes must share equally.

    Raises
    ------
    NeurocineError
        One line naming the setting or file.
    """
    from ..data.clips import clip_frame_indices
    from ..models.diffusion_components import unet_config, vae_config
    from .encoder_stages import check_embedding_dims
    from .loop import check_equal_shards

    for stage, section in (("pretrain", "pretrain"), ("encoder", "contrastive")):
        if stage in stages:  # their contrastive losses gather equal shards from every process
            check_equal_shards(int(config[section]["batch_size"]), processes, f"{section}.batch_size")
    if "encoder" in stages:
        check_embedding_dims(stores["train"], config)
    if not any(s in stages for s in DECODER_STAGES):
        return
    decoder = config["decoder"]
    with open_store(stores["train"]) as store:
        clip_frame_indices(store.frames_per_tr, int(decoder["frames"]))
        text_width = store.clip_text_states.shape[-1] if store.has_embeddings else None
    unet = unet_config(decoder["pretrained"])
    cross = unet["cross_attention_dim"]
    if "decoder-text" in stages and text_width is not None and text_width != cross:
        raise NeurocineError(f"its CLIP text states have {text_width} dimensions but the UNet's cross-attention "
                             f"takes {cross}: embed with the CLIP model the UNet was trained with", stores["train"])
    if "decoder-fmri" in stages and int(config["encoder"]["out_dim"]) != cross:
        raise NeurocineError(f"setting 'encoder.out_dim' must be the UNet's cross-attention width ({cross}), "
                             f"not {config['encoder']['out_dim']}")
    vae = vae_config(config)
    channels = vae["block_out_channels"] if vae else config["vae"]["block_out_channels"]
    factor = 2 ** (len(channels) - 1) * 2 ** (len(unet["down_block_types"]) - 1)
    if int(decoder["resolution"]) % factor:
        raise NeurocineError(f"setting 'decoder.resolution' must be a multiple of {factor} (the VAE's and the "
                             f"UNet's downsampling), not {decoder['resolution']}")


def _subjects(derivatives_dir, subject):
    """Labels from ``"01"``, ``["01", "02"]`` or ``"all"`` (every subject with a training store)."""
    from ..data.store import find_stores

    labels = [subject] if isinstance(subject, str) else list(subject)
    labels = [s.removeprefix("sub-") for s in labels]
    if labels == ["all"]:
        labels = [p.name.split("_")[0][4:] for p in find_stores(derivatives_dir, splits=("train",))]
    if len(set(labels)) != len(labels):
        raise NeurocineError(f"a subject is named twice: {' '.join(labels)}")
    return labels


def _run_training_store(run_root):
    """The training store a finished run's later stages read."""
    from ..alignment.run_space import training_store

    own = json.loads((Path(run_root) / "provenance.json").read_text())["stores"]["train"]
    return training_store(run_root, own)


def _link_from(root, from_run, stage):
    """A fine-tune's stage that is its source run's, as a relative link (stage A, the VAE)."""
    import os

    link, target = root / stage, from_run / stage
    if (target / "model").is_dir() and not link.exists() and not link.is_symlink():
        link.symlink_to(os.path.relpath(target, root))


def fit(derivatives_dir, subject, *, stages=None, preset=None, config_path=None, overrides=(), name=None,
        resume=False, force=False, progress=True, command=None, from_run=None):
    """Train a subject's models (or one model across several subjects).

    Parameters
    ----------
    derivatives_dir : Path
        neurocine's derivative folder (holding the subject's stores, with embeddings).
    subject : str or list of str
        Label(s), with or without ``sub-``; several (or ``"all"``) train one model across them in
        ``group/models/<name>/``, brought into one space by ``alignment.method``.
    stages : sequence of str, optional
        Stages to run (default: all, in order: alignment, pretrain, encoder, vae, perception,
        decoder-text, decoder-fmri; ``decoder`` stands for the last two). ``alignment`` runs only
        for several subjects, ``data.train_fraction`` below 1 or ``from_run``; ``pretrain`` is left
        out when ``encoder.init_from`` names a checkpoint or with ``from_run``, ``vae`` when a
        pretrained VAE is configured, ``perception`` when ``perception.enabled`` is false.
    preset, config_path, overrides
        As :func:`neurocine_toolbox.config.load_config`. With ``from_run`` and neither a preset nor
        a file, the source run's config, with the overrides.
    name : str, optional
        Run folder name (default: the preset's or the config file's name; ``<from_run>-finetuned``).
    resume : bool
        Continue interrupted stages from their last checkpoint.
    force : bool
        Retrain stages even if finished, discarding their checkpoints.
    progress : bool
    command : str, optional
        The command line, for provenance.
    from_run : str, optional
        A trained run (a name under ``group/models/`` or ``sub-XX/models/``, or a folder) to
        fine-tune on this one subject.

    Returns
    -------
    dict
        ``{"root": Path, "ran": [...], "skipped": [...], "not_needed": {stage: why}, "main_process": bool,
        "config": dict, "subject_stores": {subject: {"train": Path, "test": Path}}, "subjects": [...],
        "views": [...]}``. Held-out retrieval of the encoder is not scored here:
        :func:`neurocine_toolbox.evaluation.retrieval.retrieval_by_subject` does, after.
    """
    from ..alignment.run_space import training_store
    from ..alignment.run_views import check_view, find_shared_run, group_run_dir, make_view

    derivatives_dir = Path(derivatives_dir)
    subjects = _subjects(derivatives_dir, subject)
    from_root = find_shared_run(derivatives_dir, from_run) if from_run else None
    if from_root is not None:
        if len(subjects) != 1:
            raise NeurocineError("--from fine-tunes a run on one subject at a time")
        if preset is None and config_path is None:
            config_path = from_root / "config.yaml"
    config = load_config(preset, config_path, overrides)
    all_stores = {s: {split: store_path(derivatives_dir, s, split) for split in ("train", "test")} for s in subjects}
    for label, paths in all_stores.items():
        for split, path in paths.items():
            if not path.is_file():
                raise NeurocineError(f"no {split} store for sub-{label}; run neurocine prep first", path)
    stores = all_stores[subjects[0]]
    shared = len(subjects) > 1
    needs_space = shared or from_root is not None or float(config["data"]["train_fraction"]) < 1
    if from_root is not None:
        name = name or f"{from_root.name}-finetuned"
    name = name or config["preset"] or (Path(config_path).stem if config_path else "custom")
    root = group_run_dir(derivatives_dir, name) if shared else derivatives_dir / f"sub-{subjects[0]}" / "models" / name
    if from_root is not None and root.resolve() == from_root:
        raise NeurocineError("a fine-tune needs a --name of its own (it would overwrite the run it starts from)", root)
    stages, not_needed = _plan_stages(stages, config, needs_space, from_root)
    if "encoder" in stages:  # contrastive training and its evaluation need both splits embedded
        for paths in all_stores.values():
            for path in paths.values():
                with open_store(path) as store:
                    store.require_embeddings()
    if "decoder-text" in stages:
        with open_store(stores["train"]) as store:
            store.require_embeddings()
    _check_same_config(root, config, force)
    if shared:  # each subject's folder must be free before anything is written
        for label in subjects:
            check_view(derivatives_dir, label, root, name)
    # Under `accelerate launch` or `torchrun` every process runs this function; only the main one writes.
    state = check_launch()
    check_before_training(config, stores, stages, state.num_processes)
    if config["pretrain"]["include_test_fmri"] and "pretrain" in stages:
        log.warning("pretrain.include_test_fmri is set: the TEST split's fMRI enters pre-training; "
                    "this is recorded in provenance.json, and held-out scores are no longer clean")
    main = state.is_main_process
    if not main:
        log.setLevel(logging.ERROR)  # one voice: the other processes only report errors
    provenance = _provenance(config, stores, command or " ".join(sys.argv), state.num_processes,
                             subjects if needs_space else None, from_root)
    views = []
    if main:
        root.mkdir(parents=True, exist_ok=True)
        write_text_atomic(root / "config.yaml", config_to_yaml(config))
        write_text_atomic(root / "provenance.json", json.dumps(provenance, indent=2) + "\n")
        if from_root is not None:
            for stage in ("vae", "decoder-text"):
                if stage in stages and not force:
                    _link_from(root, from_root, stage)
        if shared:
            views = [make_view(derivatives_dir, s, root, name) for s in subjects]
    state.wait_for_everyone()

    summary = {"root": root, "ran": [], "skipped": [], "not_needed": not_needed, "main_process": main,
               "config": config, "subject_stores": all_stores, "subjects": subjects, "views": views}
    tuned = subjects if from_root is not None else None  # a fine-tune trains on the new subject's windows
    for stage in not_needed:
        log.info("%s: not needed (%s)", stage, not_needed[stage])
    for stage in stages:
        stage_dir = root / stage
        if (stage_dir / "model").is_dir() and not force:
            log.info("%s: finished earlier (%s); skipped", stage, stage_dir / "model")
            summary["skipped"].append(stage)
            continue
        if main:
            if force:
                shutil.rmtree(stage_dir, ignore_errors=True)
            stage_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(stage_dir / "provenance.json", json.dumps(provenance, indent=2) + "\n")
        state.wait_for_everyone()
        train = training_store(root, stores["train"])  # the latest space's, once the alignment stage has run
        if stage == "alignment":
            from .alignment_stage import alignment_stage

            alignment_stage(stage_dir, subjects, [all_stores[s]["train"] for s in subjects], config, from_run=from_root,
                            from_store=_run_training_store(from_root) if from_root is not None else None)
        elif stage == "pretrain":
            test = stores["test"] if config["pretrain"]["include_test_fmri"] else None
            pretrain_stage(stage_dir, train, config,
                           extra_stores=[Path(p) for p in config["pretrain"]["extra_stores"]],
                           test_store=test, resume=resume, progress=progress)
        elif stage == "encoder":
            with open_store(train) as store:
                n_columns = store.fmri.shape[1]
            init = _initial_encoder(config, root, n_columns, from_root)
            contrastive_stage(stage_dir, train, config, init_encoder=init, resume=resume, progress=progress,
                              train_subjects=tuned)
        elif stage == "vae":
            vae_stage(stage_dir, train, config, resume=resume, progress=progress)
        elif stage == "perception":
            perception_stage(stage_dir, root, train, config, progress=progress)
        elif stage == "decoder-text":
            decoder_text_stage(stage_dir, root, train, config, resume=resume, progress=progress)
        elif stage == "decoder-fmri":
            unet_from = from_root / "decoder-fmri" / "model" / "unet" if from_root is not None else None
            decoder_fmri_stage(stage_dir, root, train, config, resume=resume, progress=progress, unet_from=unet_from,
                               train_subjects=tuned)
        summary["ran"].append(stage)
    return summary
