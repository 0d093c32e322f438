"""Stage ``perception``: the low-level pathway's reconstructor, fitted on the training windows only.

``perception.method`` chooses it: ``ridge``, a reduced-rank ridge to the clip's latents
(:class:`~neurocine_toolbox.models.perception_reconstructor.PerceptionReconstructor`; its clip is
the expected clip given the fMRI, blurry), or ``retrieval``, the training clips the fMRI most
resembles in the spaces of ``perception.spaces``
(:class:`~neurocine_toolbox.models.retrieval_reconstructor.RetrievalReconstructor`; its clip is
a real training clip, sharp).

Writes ``<run>/perception/model/`` and ``<run>/perception/fit.json`` (the ridge's penalty and each
penalty's cross-validated share of the latents' variance explained; or each retrieval space's
held-out R²). The decoder-fmri stage puts the reconstructor into the saved
pipeline; fitted after that stage, it is added to the pipeline already saved.
"""

import json
import logging
import time
from pathlib import Path

import numpy as np

from ..config.schema import RETRIEVAL_SPACES
from ..data.dataset import split_window_starts, windows_at
from ..data.store import open_store
from ..errors import NeurocineError
from ..utils.atomic import write_text_atomic
from ..utils.processes import process_state
from .decoder_stages import cached_latents, decoder_vae
from .encoder_stages import save_model
from .perception_ridge import PerceptionRidge

log = logging.getLogger("neurocine")


def retrieval_features(train_store, starts, spaces):
    """Each space's features of the windows starting at ``starts`` ``{space: float32 [N, d]}``.

    ``caption_words``: TF-IDF of the window's caption (vocabulary from these windows' captions);
    ``clip_image``: the CLIP image embeddings of its frames, concatenated; ``clip_text``: its
    caption's CLIP text embedding. All are what ``neurocine embed`` stored.
    """
    from .retrieval_prior import caption_word_features

    unknown = sorted(set(spaces) - set(RETRIEVAL_SPACES))
    if unknown:
        raise NeurocineError(f"unknown retrieval space(s) {', '.join(unknown)} (known: {', '.join(RETRIEVAL_SPACES)})")
    with open_store(train_store) as store:
        store.require_embeddings()
        features = {}
        for space in spaces:
            if space == "caption_words":
                captions = list(store.captions[starts])
                features[space] = caption_word_features(captions, captions)[0]
            elif space == "clip_image":
                features[space] = np.asarray(store.clip_image_embeds[starts], np.float32).reshape(len(starts), -1)
            else:
                features[space] = np.asarray(store.clip_text_embeds[starts], np.float32)
    return features


def training_windows_and_latents(root, config, train_store, progress=True):
    """Every training window's fMRI, its clip's scaled latents and its movie; and the run's VAE.

    Returns
    -------
    fmri : float ``[N, w, V]``
    latents : float ``[N, C, F, h, w]``
    movies : ``[N]`` of int
        Each window's movie as a code (one per stimulus file, whoever watched it): the groups of
        cross-validation.
    vae : AutoencoderKL (eval mode)
    starts : ``[N]`` the windows' rows
    """
    window, lag = int(config["data"]["window"]), int(config["data"]["lag"])
    vae, vae_name = decoder_vae(config, root)
    vae.eval()
    latents = cached_latents(root, vae, vae_name, train_store, config, progress=progress)
    with open_store(train_store) as store:
        starts = split_window_starts(store, window, lag, "train")
        fmri = windows_at(store.fmri, starts, window, lag)
        targets = latents[np.asarray(store.frame_rows)[starts]].float().numpy()
        files = np.array(store.stimulus_files, dtype=object)[store.stimulus[starts]]
    movies = np.unique(files, return_inverse=True)[1]  # by file name: a movie several subjects watched is one group
    return fmri, targets, movies, vae, starts


def perception_stage(stage_dir, root, train_store, config, *, progress=True):
    """Fit the perception reconstructor and save it (and into the pipeline, when one is saved).

    Returns
    -------
    Path
        The reconstructor's folder.
    """
    section = config["perception"]
    stage_dir, root = Path(stage_dir), Path(root)
    fmri, latents, movies, _, starts = training_windows_and_latents(root, config, train_store, progress)
    if section["method"] == "retrieval":
        model, record = _fit_retrieval(section, fmri, latents, movies, train_store, starts)
    else:
        model, record = _fit_ridge(section, config, fmri, latents, movies)
    record["training_store"] = str(train_store)
    if process_state().is_main_process:  # under `accelerate launch` every process fits; one writes
        write_text_atomic(stage_dir / "fit.json", json.dumps(record, indent=2) + "\n")
    folder = save_model(model, stage_dir / "model")  # last: model/ marks the stage finished
    add_to_saved_pipeline(root, model)
    return folder


def _fit_retrieval(section, fmri, latents, movies, train_store, starts):
    from ..models.retrieval_reconstructor import RetrievalReconstructor
    from .retrieval_prior import RetrievalPrior

    spaces = list(section["spaces"])
    log.info("perception: retrieval over %d training windows (%d movies) by %s",
             len(fmri), len(np.unique(movies)), ", ".join(spaces))
    start = time.perf_counter()
    features = retrieval_features(train_store, starts, spaces)
    estimator = RetrievalPrior(top_k=int(section["top_k"]), n_folds=int(section["n_folds"])).fit(fmri, features, movies)
    seconds = time.perf_counter() - start
    log.info("perception: held-out R² by space: %s (%.0f s)",
             ", ".join(f"{k} {v:.3f}" for k, v in estimator.cv_r2_.items()), seconds)
    model = RetrievalReconstructor.from_estimator(estimator, latents, window=fmri.shape[1], num_columns=fmri.shape[2])
    record = {"method": "retrieval", "spaces": spaces, "cv_r2": estimator.cv_r2_,
              "space_dims": {k: int(v.shape[1]) for k, v in estimator.library_.items()},
              "top_k": int(section["top_k"]), "library_windows": int(len(fmri)),
              "n_train_movies": int(len(np.unique(movies))), "seconds": seconds}
    return model, record


def _fit_ridge(section, config, fmri, latents, movies):
    from ..models.perception_reconstructor import PerceptionReconstructor

    log.info("perception: ridge from %d training windows (%d movies) to the first %d components of latents %s",
             len(fmri), len(np.unique(movies)), section["rank"], tuple(latents.shape[1:]))
    start = time.perf_counter()
    estimator = PerceptionRidge(rank=int(section["rank"]), alphas=tuple(section["alphas"]),
                                n_folds=int(section["n_folds"]), seed=int(config["seed"])).fit(fmri, latents, movies)
    seconds = time.perf_counter() - start
    log.info("perception: alpha %g; held-out movies' share of latent variance explained %.3f (%.0f s)",
             estimator.alpha_, estimator.cv_r2_[estimator.alpha_], seconds)
    model = PerceptionReconstructor.from_estimator(estimator, window=fmri.shape[1], num_columns=fmri.shape[2])
    record = {"method": "ridge", "alpha": estimator.alpha_, "cv_r2": estimator.cv_r2_, "rank": len(model.coef),
              "variance_in_rank": estimator.explained_by_rank_, "n_train_windows": int(len(fmri)),
              "n_train_movies": int(len(np.unique(movies))), "seconds": seconds}
    return model, record


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
