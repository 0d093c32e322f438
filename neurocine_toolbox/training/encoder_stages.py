"""Phase 1 stages: DC-MAE pre-training and augmented contrastive fine-tuning of the fMRI encoder.

Each stage reads the training store, trains with :func:`training.loop.run_training`, and writes
``<stage_dir>/model/`` (an :class:`FMRIEncoder` ``save_pretrained`` folder) atomically.
"""

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, Dataset

from ..data.dataset import FMRIWindowDataset
from ..data.store import open_store
from ..data.targets import window_targets
from ..errors import NeurocineError
from ..models.fmri_encoder import FMRIEncoder
from ..models.fmri_mae import FMRIMaskedAutoencoder, MaskedReconstruction
from ..utils.atomic import atomic_dir
from ..utils.processes import process_state
from ..utils.seeds import step_seed
from .augment import SPATIAL_MASK_SPACES, spatial_mask, temporal_interpolate, token_mask
from .distributed import gather_batch
from .loop import StageSettings, run_training
from .losses import dc_mae_loss, encoder_contrastive_loss

log = logging.getLogger("neurocine")


def encoder_kwargs(config, num_voxels):
    """:class:`FMRIEncoder` arguments from the config's ``encoder`` and ``data`` sections."""
    enc = config["encoder"]
    return {
        "num_voxels": int(num_voxels), "patch_size": enc["patch_size"], "embed_dim": enc["embed_dim"],
        "depth": enc["depth"], "num_heads": enc["num_heads"], "mlp_ratio": enc["mlp_ratio"],
        "window_size": config["data"]["window"], "temporal_attention": enc["temporal_attention"],
        "out_tokens": enc["out_tokens"], "out_dim": enc["out_dim"], "clip_dim": enc["clip_dim"],
        "dropout": enc["dropout"],
    }


def save_model(model, folder):
    """``save_pretrained`` into ``folder`` atomically (by the main process; the others wait)."""
    state = process_state()
    if state.is_main_process:
        with atomic_dir(folder) as tmp:
            model.save_pretrained(tmp)
    state.wait_for_everyone()
    return folder


class FMRIRows(Dataset):
    """Single TRs of a store, ``[n_voxels]`` float32 (pre-training treats TRs independently).

    The validation movies' TRs of a training store are left out: they are held out of all training.
    """

    def __init__(self, path):
        with open_store(path) as store:
            self.rows = torch.from_numpy(np.asarray(store.fmri[~store.validation], np.float32))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]


def pretrain_step(section, patch_size):
    """The DC-MAE step: two random masks of the same TRs, the loss of both reconstructions.

    Under several processes the loss is the global batch's: reconstructions, masks and targets
    are gathered from every process before the contrastive terms compare rows.
    """
    weights = (section["weight_reconstruction"], section["weight_self_contrast"], section["weight_cross_contrast"])

    def step(mae, rows, generator):
        first = mae(rows, generator=generator)
        second = mae(rows, generator=generator)
        target = F.pad(rows, (0, first.reconstruction.shape[1] - rows.shape[1]))  # whole patches
        first, second = (MaskedReconstruction(gather_batch(r.reconstruction), gather_batch(r.mask))
                         for r in (first, second))
        return dc_mae_loss(gather_batch(target), first, second, patch_size, section["temperature"], weights)

    return step


def spatially_masked(encoder, windows, section, generator, valid=None, **inputs):
    """The encoder's output for spatially masked windows, in the configured space.

    ``contrastive.spatial_mask_space``: ``voxels`` zeroes γ_spa of the voxel columns before the
    patch embedding; ``tokens`` zeroes γ_spa of each patch token's embedding channels. ``inputs``
    go to the encoder as they are (the subjects of the windows, for adapters).
    """
    space, gamma = section["spatial_mask_space"], section["gamma_spa"]
    if space == "voxels":
        return encoder(spatial_mask(windows, gamma, generator, valid), **inputs)
    if space == "tokens":
        inner = getattr(encoder, "module", encoder)  # DDP wraps the encoder under accelerate
        mask = token_mask(len(windows), inner.num_patches, inner.config.embed_dim, gamma, generator,
                          device=windows.device)
        return encoder(windows, token_mask=mask, **inputs)
    raise NeurocineError(f"contrastive.spatial_mask_space must be one of {', '.join(SPATIAL_MASK_SPACES)}, "
                         f"not '{space}'")


def contrastive_step(section, valid=None, adapter_penalty=None):
    """The eq. 3 step: the windows, their masked and interpolated copies, and their CLIP targets.

    Under several processes every term is the global batch's: the embeddings and targets are
    gathered from every process (:func:`~.distributed.gather_batch`) before the losses.

    Parameters
    ----------
    section : dict
        The config's ``contrastive`` section.
    valid : BoolTensor ``[n_columns]``, optional
        Real-voxel columns (spatial masking never picks padding).
    adapter_penalty : float, optional
        When the model is an :class:`~neurocine_toolbox.alignment.adapters.AdaptedEncoder`: the
        weight of its adapters' squared distance from the identity, added to the loss.
    """
    def step(encoder, batch, generator):
        windows = batch["fmri"]
        inputs = {"subject": batch["subject"]} if adapter_penalty is not None else {}
        embeds = gather_batch(encoder(windows, **inputs).embeds)
        spa = tem = None
        if section["mu_spa"]:
            spa = gather_batch(spatially_masked(encoder, windows, section, generator, valid, **inputs).embeds)
        if section["mu_tem"]:
            tem = gather_batch(encoder(temporal_interpolate(windows, section["gamma_tem"], generator), **inputs).embeds)
        text, image = window_targets(batch)
        text, image = gather_batch(text.to(embeds)), gather_batch(image.to(embeds))
        loss, parts = encoder_contrastive_loss(embeds, spa, tem, text, image, section)
        if adapter_penalty is not None:
            distance = getattr(encoder, "module", encoder).adapters.distance_from_identity()
            loss = loss + adapter_penalty * distance
            parts = {**parts, "adapter_distance": distance.item()}
        return loss, parts

    return step


def pretrain_stage(stage_dir, train_store, config, *, extra_stores=(), test_store=None, resume=False,
                   progress=True):
    """DC-MAE pre-training on the training split's fMRI (and any other unlabeled stores).

    Parameters
    ----------
    stage_dir : Path
    train_store : Path
    config : dict
    extra_stores : sequence of Path
        Other stores whose fMRI joins pre-training (e.g. HCP resting state); their voxel columns
        must match the training store's.
    test_store : Path, optional
        Only when the user asked for test fMRI in pre-training (``pretrain.include_test_fmri``).
    resume, progress : bool

    Returns
    -------
    Path
        The pre-trained encoder folder.
    """
    section = config["pretrain"]
    parts = [FMRIRows(train_store)]
    for path in [*extra_stores, *([test_store] if test_store else [])]:
        parts.append(FMRIRows(path))
        if parts[-1].rows.shape[1] != parts[0].rows.shape[1]:
            raise NeurocineError(f"has {parts[-1].rows.shape[1]} voxel columns, the training store "
                                 f"{parts[0].rows.shape[1]}: prepare it with the same voxel selection", path)
    dataset = ConcatDataset(parts)
    torch.manual_seed(step_seed(config["seed"], 0, 2))
    model = FMRIMaskedAutoencoder(
        encoder_config=encoder_kwargs(config, parts[0].rows.shape[1]),
        decoder_embed_dim=section["decoder_embed_dim"], decoder_depth=section["decoder_depth"],
        decoder_num_heads=section["decoder_num_heads"], mask_ratio=section["mask_ratio"],
    )
    model, _ = run_training(
        stage_dir=stage_dir, model=model, parameters=model.pretrained_parameters(), dataset=dataset,
        step_fn=pretrain_step(section, model.encoder.config.patch_size), settings=StageSettings.from_config(section),
        training=config["training"], seed=config["seed"], resume=resume, progress=progress, equal_shards=True,
    )
    return save_model(model.encoder, stage_dir / "model")


def check_embedding_dims(store_path, config):
    """The store's CLIP widths against ``encoder.clip_dim`` and ``encoder.out_dim``; its columns and real-voxel mask."""
    with open_store(store_path) as store:
        if not store.has_embeddings:
            raise NeurocineError("has no captions or CLIP embeddings; run `neurocine embed` first", store_path)
        clip_dim = store.clip_text_embeds.shape[-1]
        text_dim = store.clip_text_states.shape[-1]
        n_columns = store.fmri.shape[1]
        valid = torch.from_numpy(store.voxel_grayordinates >= 0)
    enc = config["encoder"]
    if clip_dim != enc["clip_dim"]:
        raise NeurocineError(f"its CLIP embeddings have {clip_dim} dimensions but encoder.clip_dim is "
                             f"{enc['clip_dim']}; set encoder.clip_dim: {clip_dim}", store_path)
    if text_dim != enc["out_dim"]:
        raise NeurocineError(f"its CLIP text states have {text_dim} dimensions but encoder.out_dim is "
                             f"{enc['out_dim']}; set encoder.out_dim: {text_dim}", store_path)
    return n_columns, valid


def contrastive_stage(stage_dir, train_store, config, *, init_encoder=None, resume=False, progress=True,
                      train_subjects=None):
    """Contrastive fine-tuning with spatial masking and temporal interpolation (eq. 3).

    With ``alignment.method: adapter`` each subject of the training store gets an adapter, trained
    with the encoder (:mod:`neurocine_toolbox.alignment.adapters`); the stage then also writes
    ``subject-maps/sub-XX.npz`` and ``train.h5``, the training store through them, which the
    later stages read.

    Parameters
    ----------
    stage_dir : Path
    train_store : Path
        Must hold CLIP embeddings (``neurocine embed``).
    config : dict
    init_encoder : FMRIEncoder, optional
        Pre-trained or imported weights; a new encoder otherwise.
    resume, progress : bool
    train_subjects : sequence of str, optional
        Train on these subjects' windows only (a fine-tune on a new subject).

    Returns
    -------
    Path
        The fine-tuned encoder folder.
    """
    section = config["contrastive"]
    n_columns, valid = check_embedding_dims(train_store, config)
    dataset = FMRIWindowDataset(train_store, window=config["data"]["window"], lag=config["data"]["lag"],
                                with_frames=False, with_embeddings=True, subjects=train_subjects)
    torch.manual_seed(step_seed(config["seed"], 0, 2))
    model = init_encoder if init_encoder is not None else FMRIEncoder(**encoder_kwargs(config, n_columns))
    if model.config.num_voxels != n_columns:
        raise NeurocineError(f"the initial encoder takes {model.config.num_voxels} voxel columns, the "
                             f"store has {n_columns}", train_store)

    penalty = None
    parameters = [p for p in model.parameters() if p.requires_grad]
    if config["alignment"]["method"] == "adapter":
        from ..alignment.adapters import AdaptedEncoder, SubjectAdapters

        with open_store(train_store) as store:
            adapters = SubjectAdapters(len(store.subjects), store.voxel_rois)
        model, penalty = AdaptedEncoder(model, adapters), float(config["alignment"]["adapter_penalty"])
        # Adapters are pulled towards the identity by their penalty, not towards zero by weight decay.
        parameters = [{"params": parameters}, {"params": list(adapters.parameters()), "weight_decay": 0.0}]
    model, _ = run_training(
        stage_dir=stage_dir, model=model, parameters=parameters,
        dataset=dataset, step_fn=contrastive_step(section, valid, penalty), settings=StageSettings.from_config(section),
        training=config["training"], seed=config["seed"], resume=resume, progress=progress, equal_shards=True,
    )
    if penalty is not None:
        from ..alignment.run_space import save_learned_space

        save_learned_space(stage_dir, train_store, model.adapters)
        model = model.encoder
    return save_model(model, stage_dir / "model")
