"""Stage ``perception``: the low-level pathway's reconstructor, fitted on the training windows only.

Writes ``<run>/perception/model/`` (a :class:`~neurocine_toolbox.models.perception_reconstructor.PerceptionReconstructor`)
and ``<run>/perception/fit.json`` (the penalty chosen, each penalty's cross-validated share of
the latents' variance explained). The decoder-fmri stage puts the reconstructor into the saved
pipeline; fitted after that stage, it is added to the pipeline already saved.
"""

import json
import logging
import time
from pathlib import Path

import numpy as np

from ..data.dataset import split_window_starts, windows_at
from ..data.store import open_store
from ..utils.atomic import write_text_atomic
from ..utils.processes import process_state
from .decoder_stages import cached_latents, decoder_vae
from .encoder_stages import save_model
from .perception_ridge import PerceptionRidge

log = logging.getLogger("neurocine")


def training_windows_and_latents(root, config, train_store, progress=True):
    """Every training window's fMRI, its clip's scaled latents and its movie; and the run's VAE.

    Returns
    -------
    fmri : float ``[N, w, V]``
    latents : float ``[N, C, F, h, w]``
    movies : ``[N]``
        The store's ``stimulus`` of each window: the groups of cross-validation.
    vae : AutoencoderKL (eval mode)
    """
    window, lag = int(config["data"]["window"]), int(config["data"]["lag"])
    vae, vae_name = decoder_vae(config, root)
    vae.eval()
    latents = cached_latents(root, vae, vae_name, train_store, config, progress=progress)
    with open_store(train_store) as store:
        starts = split_window_starts(store, window, lag, "train")
        fmri = windows_at(store.fmri, starts, window, lag)
        targets = latents[np.asarray(store.frame_rows)[starts]].float().numpy()
        movies = store.stimulus[starts]
    return fmri, targets, movies, vae


def perception_stage(stage_dir, root, train_store, config, *, progress=True):
    """Fit the perception reconstructor and save it (and into the pipeline, when one is saved).

    Returns
    -------
    Path
        The reconstructor's folder.
    """
    from ..models.perception_reconstructor import PerceptionReconstructor

    section = config["perception"]
    stage_dir, root = Path(stage_dir), Path(root)
    fmri, latents, movies, _ = training_windows_and_latents(root, config, train_store, progress)
    log.info("perception: ridge from %d training windows (%d movies) to the first %d components of latents %s",
             len(fmri), len(np.unique(movies)), section["rank"], tuple(latents.shape[1:]))
    start = time.perf_counter()
    estimator = PerceptionRidge(rank=int(section["rank"]), alphas=tuple(section["alphas"]),
                                n_folds=int(section["n_folds"]), seed=int(config["seed"])).fit(fmri, latents, movies)
    seconds = time.perf_counter() - start
    log.info("perception: alpha %g; held-out movies' share of latent variance explained %.3f (%.0f s)",
             estimator.alpha_, estimator.cv_r2_[estimator.alpha_], seconds)
    model = PerceptionReconstructor.from_estimator(estimator, window=fmri.shape[1], num_columns=fmri.shape[2])
    record = {"alpha": estimator.alpha_, "cv_r2": estimator.cv_r2_, "rank": len(model.coef),
              "variance_in_rank": estimator.explained_by_rank_, "n_train_windows": int(len(fmri)),
              "n_train_movies": int(len(np.unique(movies))), "seconds": seconds}
    if process_state().is_main_process:  # under `accelerate launch` every process fits; one writes
        write_text_atomic(stage_dir / "fit.json", json.dumps(record, indent=2) + "\n")
    folder = save_model(model, stage_dir / "model")  # last: model/ marks the stage finished
    add_to_saved_pipeline(root, model)
    return folder


def add_to_saved_pipeline(root, model):
    """Put ``model`` into the run's saved pipeline (``decoder-fmri/model``), if there is one."""
    from ..pipelines import NeuroCinePipeline

    folder = Path(root) / "decoder-fmri" / "model"
    if not (folder / "model_index.json").is_file():
        return
    pipeline = NeuroCinePipeline.from_pretrained(folder)
    pipeline.register_modules(perception_reconstructor=model)
    save_model(pipeline, folder)
    log.info("perception: added to the saved pipeline %s", folder)
