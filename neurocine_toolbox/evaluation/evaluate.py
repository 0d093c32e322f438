"""``neurocine evaluate``: score a run's decoded clips, or a folder of clips, and write the table.

Three ways in:

- a run (:func:`evaluate_run`): the ``frames.npz`` that ``decode`` wrote for the test or the
  validation split, beside the flat, shuffled and mean-clip baselines and (``--baseline ridge``,
  ``--baseline pixel-ridge``) the latent and pixel ridges, learnt from the training windows
  only (the validation movies left out); writes ``decoded-<split>/evaluation/``;
- files (:func:`evaluate_files`): peers' side-by-side gifs or two folders of clips, beside the
  flat and shuffled baselines and each clip's leave-one-out mean of the other clips' truth
  (nothing here says what their training split was);
- two runs (:func:`compare_runs`): the paired difference of every metric on the same clips, and
  of each run's gain over its own shuffled baseline.

Outputs (written together, then moved into place): ``metrics.json`` for machines,
``per_clip.csv`` (every metric of every clip, decoder and baselines) and ``metrics.md``, the table
that also ends the command's output.
"""

import csv
import hashlib
import io
import json
import logging
import sys
from functools import partial
from pathlib import Path

import numpy as np

from .._version import __version__
from ..config import load_config, load_run_config
from ..errors import NeurocineError
from ..utils.atomic import atomic_dir, atomic_path, write_text_atomic
from ..utils.hashing import sha256_array
from ..utils.json_values import json_default
from .metrics_table import BASELINE_LABELS, BASELINES, METRICS, column_name, score_metrics
from .time_series_statistics import format_interval, format_p, paired_difference

log = logging.getLogger("neurocine")

EVALUATION_DIR = "evaluation"


# --- the models the metrics need --------------------------------------------------------------


class EvaluationModels:
    """The frame and clip classifiers and the CLIP of temporal consistency, loaded when first used.

    Parameters
    ----------
    section : dict
        The config's ``evaluation`` section.
    clip_model : str
        The CLIP for temporal consistency (``evaluation.clip_model`` or ``embedding.clip_model``).
    cache_dir : Path
        Where classifier outputs and CLIP embeddings are cached per set of frames.
    device : str, optional
    progress : bool
    """

    def __init__(self, section, clip_model, cache_dir, device=None, progress=True):
        self.section, self.clip_model, self.cache_dir = section, clip_model, Path(cache_dir)
        self.device, self.progress = device, progress
        self._classifiers, self._clip = {}, None

    def classifier(self, kind):
        """The ``"frame"`` or ``"clip"`` classifier (:mod:`.classifiers`)."""
        from .classifiers import ClipClassifier, FrameClassifier

        if kind not in self._classifiers:
            cls = FrameClassifier if kind == "frame" else ClipClassifier
            self._classifiers[kind] = cls(self.section[f"{kind}_classifier"], device=self._device(),
                                          precision=self.section["precision"],
                                          batch_size=int(self.section["batch_size"]),
                                          cache_dir=self.cache_dir / "classifiers", progress=self.progress)
        return self._classifiers[kind]

    def _device(self):
        import torch

        return self.device or ("cuda" if torch.cuda.is_available() else "cpu")

    def clip_embeddings(self, clips):
        """CLIP image embeddings of every frame ``[N, F, d]``, cached per model and set of frames."""
        from ..data.embedding import select_device
        from ..models.pretrained import load_clip
        from .temporal_consistency import clip_frame_embeddings

        clips = np.ascontiguousarray(clips)
        device, dtype = select_device(self.device)
        key = {"model": str(self.clip_model), "dtype": str(dtype), "frames": sha256_array(clips)}
        path = self.cache_dir / "clip" / (hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
                                          + ".npy")
        if path.is_file():
            return np.load(path)
        if self._clip is None:
            setting = "evaluation.clip_model" if self.section.get("clip_model") else "embedding.clip_model"
            self._clip = load_clip(self.clip_model, device, dtype, setting=setting)
        embeddings = clip_frame_embeddings(self._clip, clips, int(self.section["batch_size"]))
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, embeddings)
        return embeddings


def _models(config, metrics, cache_dir, device, progress):
    """The models the chosen metrics need, each checked to be at hand before any work."""
    from ..models.pretrained import require_pretrained

    section = config["evaluation"]
    clip_model = section.get("clip_model") or config["embedding"]["clip_model"]
    needed = {"frame_nway": (section["frame_classifier"], "frame classifier", "evaluation.frame_classifier"),
              "clip_nway": (section["clip_classifier"], "clip classifier", "evaluation.clip_classifier"),
              "temporal_consistency": (clip_model, "CLIP model", "evaluation.clip_model" if section.get("clip_model")
                                       else "embedding.clip_model")}
    wanted = [needed[m] for m in metrics if m in needed]
    if not wanted:
        return None
    for name, label, setting in wanted:  # one line naming the model and how to provide it
        require_pretrained(name, label, setting, progress)
    return EvaluationModels(section, clip_model, cache_dir, device, progress)


def evaluation_cache_dir():
    """``$NEUROCINE_CACHE/evaluation``: classifier outputs and embeddings, keyed by the frames' hash."""
    from ..models.pretrained import tiny_cache_dir

    return tiny_cache_dir().parent / "evaluation"


def _metrics(config, metrics):
    chosen = list(metrics) if metrics else list(config["evaluation"]["metrics"])
    unknown = [m for m in chosen if m not in METRICS]
    if unknown:
        raise NeurocineError(f"unknown metric {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    return chosen


# --- a run's decoded clips --------------------------------------------------------------------


def _decoded(root, split):
    path = root / f"decoded-{split}" / "frames.npz"
    if not path.is_file():
        raise NeurocineError(f"no decoded clips of the {split} split; run neurocine decode first", path)
    try:
        with np.load(path) as data:
            missing = [k for k in ("decoded", "truth", "rows", "runs") if k not in data.files]
            if missing:
                raise NeurocineError(f"decoded clips without {', '.join(missing)} (written by an older neurocine "
                                     "decode); run neurocine decode --force", path)
            frames = {k: data[k] for k in ("decoded", "truth", "rows", "runs")}
    except (OSError, ValueError) as err:
        raise NeurocineError(f"unreadable decoded clips ({err})", path) from None
    return path, frames


def _read_cache(path, key):
    """The arrays cached at ``path`` if they were computed for ``key``, else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as cached:
            if json.loads(str(cached["key"])) != key:
                return None
            return {name: cached[name] for name in cached.files if name != "key"}
    except (OSError, ValueError, KeyError):  # a damaged entry is computed again and replaced
        return None


def _write_cache(path, key, **arrays):
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, key=json.dumps(key), **arrays)


def _store_key(path):
    return {"store": str(Path(path).resolve()), "mtime": Path(path).stat().st_mtime_ns}


def training_clips(train_store, window, lag, frames, resolution, chunk=64):
    """The training store's distinct clips at the decoder's resolution, with how many training windows show each.

    Yields
    ------
    clips : uint8 ``[n, F, R, R, 3]``
        Consecutive stored clips (contiguous reads: fast on HDF5).
    counts : ndarray ``[n]``
        How many training windows start on each (0 for the validation movies' clips).
    """
    from ..data.clips import clip_frame_indices, frames_to_tensor, tensor_to_frames
    from ..data.dataset import split_window_starts
    from ..data.store import open_store

    with open_store(train_store) as store:
        starts = split_window_starts(store, window, lag, "train")
        counts = np.bincount(np.asarray(store.frame_rows)[starts], minlength=store.n_frame_rows)
        index = clip_frame_indices(store.frames_per_tr, frames)
        for i in range(0, store.n_frame_rows, chunk):
            yield (tensor_to_frames(frames_to_tensor(store.distinct_frames[i:i + chunk][:, index], resolution)),
                   counts[i:i + chunk])


def _clip_settings(config):
    decoder, data = config["decoder"], config["data"]
    return int(data["window"]), int(data["lag"]), int(decoder["frames"]), int(decoder["resolution"])


def mean_clip(config, train_store, cache_path):
    """The mean clip of the training windows ``[F, R, R, 3]`` (:class:`~.baselines.MeanClipBaseline`).

    Read through every training frame once, then cached at ``cache_path`` (keyed by the store
    and the clip settings).
    """
    from .baselines import MeanClipBaseline

    settings = _clip_settings(config)
    key = {"train": _store_key(train_store), "window_lag_frames_resolution": list(settings)}
    cached = _read_cache(cache_path, key)
    if cached is not None:
        return cached["mean_clip"]
    baseline = MeanClipBaseline()
    for clips, counts in training_clips(train_store, *settings):
        baseline.partial_fit(clips, counts)
    mean = baseline.predict(1)[0]
    _write_cache(cache_path, key, mean_clip=mean)
    return mean


def _split_windows(config, split_store, split, rows, root=None):
    """The fMRI windows of ``split`` starting at ``rows`` (a decode's rows), checked to be that split's,
    in the space of the run at ``root`` (its subject's map; as stored when None)."""
    from ..alignment.run_space import subject_fmri
    from ..data.dataset import split_window_starts, windows_at
    from ..data.store import open_store

    window, lag = int(config["data"]["window"]), int(config["data"]["lag"])
    with open_store(split_store) as store:
        allowed = split_window_starts(store, window, lag, split)
        if not np.isin(rows, allowed).all():
            raise NeurocineError(f"the decoded clips are not all {split} windows of this store; decode again",
                                 split_store)
        return windows_at(store.fmri if root is None else subject_fmri(root, store), rows, window, lag)


def ridge_latents(root, config, train_store, split_store, rows, split="test", progress=True):
    """Latents of ``rows`` predicted by a ridge regression from the fMRI, and the VAE they belong to.

    The ridge (:class:`~.baselines.RidgeLatentBaseline`, a penalty per latent by cross-validation
    over training movies) maps the training windows' fMRI to their clips' latents (the run's
    cached ``latents-train.safetensors``, else encoded now); only the training windows are fitted
    (the validation movies left out).

    Returns
    -------
    latents : Tensor ``[N, C, F, h, w]``
        Scaled as the diffusion model reads them.
    vae : AutoencoderKL
        The run's VAE (eval mode).
    info : dict
        Share of latents at each end of the penalty grid, their median held-out R², ``n_train_windows``.
    """
    import torch

    from ..training.perception_stage import training_windows_and_latents
    from .baselines import RidgeLatentBaseline

    fmri, targets, movies, vae, _ = training_windows_and_latents(root, config, train_store, progress)
    log.info("latent ridge baseline: %d training windows → latents %s, penalties by cross-validation over %d movies",
             len(fmri), tuple(targets.shape[1:]), len(np.unique(movies)))
    model = RidgeLatentBaseline().fit(fmri, targets, movies)
    test = _split_windows(config, split_store, split, rows, root)
    info = _ridge_info(model.ridge_, len(fmri))
    return torch.from_numpy(model.predict(test)), vae, info


def _ridge_info(ridge, n_train):
    return {"median_alpha": float(np.median(ridge.alphas_)), "alpha_at_grid_edge": ridge.edge_shares_,
            "median_cv_r2": float(np.median(ridge.cv_r2_)), "n_train_windows": int(n_train),
            "cv": f"{len(ridge.folds_)} folds over training movies"}


def clips_to_latents(vae, clips):
    """Encode uint8 clips ``[N, F, H, W, 3]`` with ``vae`` (posterior means): scaled latents ``[N, C, F, h, w]``.

    The inverse of :func:`latents_to_clips`; the two in turn give a clip as the VAE can draw it.
    """
    import torch

    from ..data.clips import frames_to_tensor

    latents = []
    with torch.no_grad():
        for clip in np.asarray(clips):
            frames = frames_to_tensor(clip, clip.shape[1]).to(vae.dtype)  # [F, 3, H, W]
            latents.append((vae.encode(frames).latent_dist.mean.float() * vae.config.scaling_factor).transpose(0, 1))
    return torch.stack(latents)


def latents_to_clips(vae, latents):
    """Decode scaled latents ``[N, C, F, h, w]`` with ``vae``: uint8 clips ``[N, F, H, W, 3]``."""
    import torch

    from ..data.clips import tensor_to_frames

    clips = []
    with torch.no_grad():
        for item in latents:
            frames = item.transpose(0, 1).to(vae.dtype) / vae.config.scaling_factor  # [F, C, h, w]
            clips.append(tensor_to_frames(vae.decode(frames).sample))
    return np.stack(clips)


def _ridge_cache_key(config, train_store, split_store, rows, root=None):
    from ..alignment.run_space import map_key
    from ..data.store import open_store

    key = {"train": _store_key(train_store), "split": _store_key(split_store),
           "window_lag_frames_resolution": list(_clip_settings(config)), "rows": [int(r) for r in rows]}
    if root is not None:  # the subject's map into the run's space
        with open_store(split_store) as store:
            key["map"] = map_key(root, store.subject)
    return key


def ridge_clips(root, config, train_store, split_store, rows, cache_path, split="test", progress=True):
    """Clips decoded by the run's VAE from ridge-predicted latents (:func:`ridge_latents`), cached.

    The cache holds the predicted clips of ``rows`` and the ridge's record, keyed by the stores,
    the VAE and the window and clip settings.

    Returns
    -------
    clips : uint8 ``[N, F, R, R, 3]``
    info : dict
    """
    decoder, trained_vae = config["decoder"], Path(root) / "vae" / "model"
    key = {**_ridge_cache_key(config, train_store, split_store, rows, root),
           "vae": [decoder["vae"], decoder["pretrained"],
                   trained_vae.stat().st_mtime_ns if trained_vae.is_dir() else None]}
    cached = _read_cache(cache_path, key)
    if cached is not None:
        log.info("latent ridge baseline: cached (%s)", cache_path)
        return cached["clips"], json.loads(str(cached["info"]))
    latents, vae, info = ridge_latents(root, config, train_store, split_store, rows, split, progress)
    clips = latents_to_clips(vae, latents)
    _write_cache(cache_path, key, clips=clips, info=json.dumps(info))
    return clips, info


def pixel_ridge_clips(config, train_store, split_store, rows, cache_path, split="test", root=None):
    """Clips of ``rows`` predicted by the pixel ridge (:class:`~.baselines.PixelRidgeBaseline`), cached.

    Fitted on the training windows (the validation movies left out), their clips at the
    decoder's resolution read chunk by chunk and averaged down at once.

    Returns
    -------
    clips : uint8 ``[N, F, R, R, 3]``
    info : dict
    """
    from ..data.dataset import split_window_starts, windows_at
    from ..data.store import open_store
    from .baselines import PixelRidgeBaseline

    key = {"pixel_ridge": _ridge_cache_key(config, train_store, split_store, rows, root)}
    cached = _read_cache(cache_path, key)
    if cached is not None:
        log.info("pixel ridge baseline: cached (%s)", cache_path)
        return cached["clips"], json.loads(str(cached["info"]))
    window, lag, frames, resolution = _clip_settings(config)
    model = PixelRidgeBaseline(seed=int(config["seed"]))
    low = np.concatenate([model.low_resolution(clips) for clips, _ in
                          training_clips(train_store, window, lag, frames, resolution)])
    with open_store(train_store) as store:
        starts = split_window_starts(store, window, lag, "train")
        fmri = windows_at(store.fmri, starts, window, lag)
        targets, movies = low[np.asarray(store.frame_rows)[starts]], store.stimulus[starts]
    log.info("pixel ridge baseline: %d training windows → %d principal components of %d² frames, penalties by "
             "cross-validation over %d movies", len(fmri), model.n_components, low.shape[2], len(np.unique(movies)))
    model.fit(fmri, targets, movies)
    clips = model.predict(_split_windows(config, split_store, split, rows, root), resolution, resolution)
    info = {**_ridge_info(model.ridge_, len(fmri)), "size": int(low.shape[2]),
            "components": len(model.pca_.components_),
            "variance_in_components": model.explained_by_components_}
    _write_cache(cache_path, key, clips=clips, info=json.dumps(info))
    return clips, info


def vae_oracle_clips(root, config, truth, cache_path):
    """The true clips through the run's VAE (encode, then decode): the ceiling of any decoder that draws with it.

    Not a baseline to beat but the best a perfect latent could give: what the VAE loses of the
    truth, no decoder of this run can win back. Cached beside the decoded clips.

    Returns
    -------
    clips : uint8 ``[N, F, R, R, 3]``
    info : dict
    """
    from ..training.decoder_stages import decoder_vae

    decoder, trained_vae = config["decoder"], Path(root) / "vae" / "model"
    key = {"vae_oracle": [decoder["vae"], decoder["pretrained"],
                          trained_vae.stat().st_mtime_ns if trained_vae.is_dir() else None],
           "truth": sha256_array(np.ascontiguousarray(truth))}
    cached = _read_cache(cache_path, key)
    if cached is not None:
        return cached["clips"], json.loads(str(cached["info"]))
    vae, vae_name = decoder_vae(config, root)
    vae.eval()
    clips = latents_to_clips(vae, clips_to_latents(vae, truth))
    info = {"vae": vae_name}
    _write_cache(cache_path, key, clips=clips, info=json.dumps(info))
    return clips, info


#: The baselines that are trained on request (``--baseline``), each cached once per run and split.
TRAINED_BASELINES = ("ridge", "pixel_ridge", "vae_oracle")


def evaluate_run(derivatives_dir, subject, *, name=None, split="test", metrics=None, baselines=(), overrides=(),
                 device=None, progress=True, command=None):
    """Score a run's decoded clips with every metric and baseline; write ``evaluation/``.

    Parameters
    ----------
    derivatives_dir : Path
    subject : str
    name : str, optional
        Run folder under ``sub-XX/models`` (default: the only one with a trained pipeline).
    split : {"test", "validation", "train"}
        Settings are chosen on ``validation``; ``test`` only reports.
    metrics : sequence of str, optional
        Default: ``evaluation.metrics`` of the run's config.
    baselines : sequence of {"ridge", "pixel_ridge", "vae_oracle"}
        Train (once; then cached beside the decoded clips, and scored by later evaluations too)
        the latent ridge and the pixel ridge, and pass the truth through the run's VAE (the
        ceiling). Flat, mean clip and shuffled are always scored.
    overrides : sequence of str
        ``evaluation.*`` settings over the run's config.
    device : str, optional
    progress : bool
    command : str, optional

    Returns
    -------
    dict
        ``{"out_dir", "n_clips", "metrics": [...], ...}`` as written to ``metrics.json``.
    """
    from ..alignment.run_space import training_store
    from ..data.store import store_path
    from ..pipelines.decode_split import find_run

    unknown = sorted(set(baselines) - set(TRAINED_BASELINES))
    if unknown:
        raise NeurocineError(f"unknown baseline {', '.join(unknown)}; choose from {', '.join(TRAINED_BASELINES)}")
    subject = subject.removeprefix("sub-")
    root = find_run(derivatives_dir, subject, name)
    config = load_run_config(root, overrides, "evaluation", "evaluate")
    metrics = _metrics(config, metrics)
    frames_path, frames = _decoded(root, split)
    train_store = store_path(derivatives_dir, subject, "train")
    split_store = store_path(derivatives_dir, subject, split)
    for path in (train_store, split_store):
        if not path.is_file():
            raise NeurocineError("store not found; run neurocine prep first", path)
    # The baselines learn from what the run learned from: its training store, in its space.
    train_store = training_store(root, train_store)
    decoded_dir = frames_path.parent
    models = _models(config, metrics, evaluation_cache_dir(), device, progress)

    scored = {"mean_clip": mean_clip(config, train_store, decoded_dir / "baselines" / "mean_clip.npz")}
    info = {}
    makers = {
        "ridge": partial(ridge_clips, root, config, train_store, split_store, frames["rows"], split=split),
        "pixel_ridge": partial(pixel_ridge_clips, config, train_store, split_store, frames["rows"], split=split,
                               root=root),
        "vae_oracle": partial(vae_oracle_clips, root, config, frames["truth"]),
    }
    for baseline, make in makers.items():
        cache = decoded_dir / "baselines" / f"{baseline}.npz"
        if baseline in baselines or cache.is_file():
            scored[baseline], info[baseline] = make(cache_path=cache)
    section = config["evaluation"]
    scores = score_metrics(frames["decoded"], frames["truth"], frames["runs"], metrics=metrics, baselines=scored,
                           models=models, n_way=section["n_way"], n_trials=section["n_trials"],
                           n_boot=section["n_boot"], n_null=section["n_null"], seed=int(config["seed"]),
                           max_others=section["identification_others"])
    decode_record = decoded_dir / "decode.json"
    source = {"run": str(root), "config": str(root / "config.yaml"), "split": split, "store": str(split_store),
              "train_store": str(train_store), "frames": str(frames_path),
              "decode": json.loads(decode_record.read_text()) if decode_record.is_file() else None,
              "pipeline": _provenance(root)}
    record = _record(scores, source, section, metrics, command, baselines_info=info)
    write_outputs(decoded_dir / EVALUATION_DIR, record, scores, frames["runs"], frames["rows"])
    record["out_dir"] = decoded_dir / EVALUATION_DIR
    return record


def _provenance(root):
    path = Path(root) / "provenance.json"
    return json.loads(path.read_text()) if path.is_file() else None


# --- clips from files -------------------------------------------------------------------------


def evaluate_files(out_dir, *, gifs=None, pred=None, truth=None, peer_split=False, clips_per_run=None,
                   metrics=None, preset=None, overrides=(), device=None, progress=True, command=None):
    """Score peers' side-by-side gifs (``gifs``) or two folders of clips (``pred``, ``truth``).

    Clips are taken in file-name order as one run, or as runs of ``clips_per_run`` (Wen 2018's
    test split: 240). The baselines are flat grey, shuffled, and for clip i the leave-one-out
    mean of the other clips' truth (nothing here is a training split).

    Returns
    -------
    dict
        As written to ``metrics.json``.
    """
    from .baselines import leave_one_out_mean_clips
    from .clip_files import read_clip_folders, read_peer_grid_gifs

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise NeurocineError("output folder exists and is not empty; pick another or remove it", out_dir)
    if (gifs is None) == (pred is None and truth is None) or (pred is None) != (truth is None):
        raise NeurocineError("give either --gifs DIR or both --pred DIR and --truth DIR")
    config = load_config(preset, overrides=overrides)
    metrics = _metrics(config, metrics)
    models = _models(config, metrics, evaluation_cache_dir(), device, progress)
    if gifs is not None:
        decoded, true, names = read_peer_grid_gifs(gifs, peer_split=peer_split)
        source = {"gifs": str(gifs), "layout": "peer-grid", "peer_split": bool(peer_split)}
    else:
        decoded, true, names = read_clip_folders(pred, truth)
        source = {"pred": str(pred), "truth": str(truth)}
    n = len(decoded)
    if n < 2:
        raise NeurocineError("scoring clips beside other clips' truth needs at least 2 clips", gifs or pred)
    runs = np.zeros(n, int) if not clips_per_run else np.arange(n) // int(clips_per_run)
    section = config["evaluation"]
    scores = score_metrics(decoded, true, runs, metrics=metrics,
                           baselines={"mean_clip": leave_one_out_mean_clips(true)},
                           models=models, n_way=section["n_way"], n_trials=section["n_trials"],
                           n_boot=section["n_boot"], n_null=section["n_null"], seed=int(config["seed"]),
                           max_others=section["identification_others"])
    source.update(config_preset=preset, clips_per_run=clips_per_run,
                  mean_clip="leave-one-out: each clip's mean of the other clips' truth")
    record = _record(scores, source, section, metrics, command)
    write_outputs(out_dir, record, scores, runs, names)
    record["out_dir"] = out_dir
    return record


# --- outputs ----------------------------------------------------------------------------------


def _record(scores, source, section, metrics, command, baselines_info=None):
    models = {f"{kind}_classifier": section[f"{kind}_classifier"] for kind in ("frame", "clip")
              if f"{kind}_nway" in metrics}
    tc = next((row["protocol"] for row in scores["rows"] if row["name"] == "temporal_consistency"), None)
    if tc:
        models["temporal_consistency"] = tc
    return {"neurocine_version": __version__, "command": command or " ".join(sys.argv), "n_clips": scores["n_clips"],
            "source": source, "models": models, "precision": section["precision"], "metrics_asked": list(metrics),
            "baselines_info": baselines_info or {}, "metrics": scores["rows"]}


def per_clip_csv(scores, runs, ids):
    """``per_clip.csv``: one line per clip (its id and run), one column per metric (and baseline)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = list(scores["per_clip"])
    writer.writerow(["clip", "id", "run", *columns])
    for i in range(scores["n_clips"]):
        values = [f"{scores['per_clip'][c][i]:.6g}" for c in columns]
        writer.writerow([i, ids[i], int(runs[i]), *values])
    return buffer.getvalue()


def _number(value, digits=3):
    return "–" if value is None else f"{value:.{digits}f}"


def _with_interval(value, interval, digits):
    if value is None:
        return "–"
    return f"{_number(value, digits)} {format_interval(interval, digits)}"


def _digits(row):
    return 2 if row["name"] == "psnr" else 3


def _way(row):
    return f"{row['n_way']}-way" + (f" top-{row['top_k']}" if row.get("top_k") else "") if row["n_way"] else ""


def _present(record):
    """The baselines scored in at least one row, in table order."""
    return [b for b in BASELINES if any(row["baselines"].get(b) is not None for row in record["metrics"])]


def _paired_cell(d, digits):
    if d is None:
        return "–"
    p = format_p(d["p_value"], d.get("p_floor"), f"{d['n_sign_blocks']} blocks of clips" if d.get("n_sign_blocks")
                 else None)
    return f"{d['difference']:+.{digits}f} {format_interval(d['ci95'], digits, signed=True)} {p}"


def _standing(row, labels):
    """``best: flat grey (0.748); decoded better than shuffled; decoded worse than flat grey; …``."""
    best = row.get("best")
    if best is None:
        return None
    value = row["value"] if best == "decoded" else row["baselines"][best]
    parts = [f"best: {'decoded' if best == 'decoded' else labels[best]} ({_number(value, _digits(row))})"]
    groups = {"better than": [], "worse than": [], "not apart from": []}
    for baseline, d in row["versus_baselines"].items():
        low, high = d["ci95"] or (-np.inf, np.inf)  # no interval: nothing is apart
        higher = "better than" if row["higher_is_better"] else "worse than"
        lower = "worse than" if row["higher_is_better"] else "better than"
        groups[higher if low > 0 else lower if high < 0 else "not apart from"].append(labels[baseline])
    parts += [f"decoded {word} " + ", ".join(names) for word, names in groups.items() if names]
    return "; ".join(parts)


def table_lines(record):
    """The metrics table as Markdown lines (``metrics.md`` and the command's output).

    Three parts: every metric of the decoded clips and of each baseline with its interval and
    chance; the paired differences decoded − baseline, each with its interval and p-value
    beside the least p its blocks allow; and, per metric, which scores best and where the
    decoded clips stand against each baseline.
    """
    labels = BASELINE_LABELS
    present = _present(record)
    lines = [f"{record['n_clips']} clips. Intervals: 95 %, block bootstrap over clips within runs (n/a with fewer "
             "than 2 blocks). Chance: exact (N-way 3/(N+2) in the peers' protocol, 1/N strict; identification 0.5); "
             "for SSIM, PSNR and PixCorr the shuffled baseline (the decoded clips against other clips' truth) is the "
             "floor. Best: the highest mean (the lowest for a gap), the VAE oracle (a ceiling) left out.", "",
             "| metric | protocol | N-way | decoded [95 % CI] | chance | "
             + " | ".join(f"{labels[b]} [95 % CI]" for b in present) + " | best |",
             "|---|---|---|---|---|" + "---|" * len(present) + "---|"]
    for row in record["metrics"]:
        digits = _digits(row)
        cells = [_with_interval(row["baselines"].get(b), (row.get("baselines_ci95") or {}).get(b), digits)
                 for b in present]
        best = row.get("best")
        lines.append(f"| {row['name']} | {row['protocol']} | {_way(row)} | "
                     f"{_with_interval(row['value'], (row['ci_low'], row['ci_high']), digits)} | "
                     f"{_number(row['chance'], digits)} | " + " | ".join(cells)
                     + f" | {'–' if best is None else labels.get(best, best)} |")
    compared = [b for b in present if any(b in row["versus_baselines"] for row in record["metrics"])]
    lines += ["", "Decoded − baseline (paired, same clips): difference [95 % CI], two-sided p from sign flips of "
                  "blocks of clips, with the least p those blocks allow.", "",
              "| metric | protocol | N-way | " + " | ".join(f"− {labels[b]}" for b in compared) + " |",
              "|---|---|---|" + "---|" * len(compared)]
    for row in record["metrics"]:
        if not row["versus_baselines"]:
            continue
        cells = [_paired_cell(row["versus_baselines"].get(b), _digits(row)) for b in compared]
        lines.append(f"| {row['name']} | {row['protocol']} | {_way(row)} | " + " | ".join(cells) + " |")
    standings = [(row, _standing(row, labels)) for row in record["metrics"]]
    lines += ["", "Which scores best, and the decoded clips against each baseline (paired 95 % intervals):", ""]
    lines += [f"- {row['name']} {row['protocol']} {_way(row)}".rstrip() + f": {text}"
              for row, text in standings if text]
    notes = [f"- {row['protocol']}: {row['note']}" for row in record["metrics"] if row.get("note")]
    return lines + ([""] + notes if notes else [])


def write_outputs(out_dir, record, scores, runs, ids):
    """Write ``metrics.json``, ``per_clip.csv`` and ``metrics.md`` together (a staging folder, then renamed)."""
    with atomic_dir(out_dir) as tmp:
        (tmp / "metrics.json").write_text(json.dumps(record, indent=2, default=json_default) + "\n")
        (tmp / "per_clip.csv").write_text(per_clip_csv(scores, runs, list(ids)))
        (tmp / "metrics.md").write_text("# neurocine evaluate\n\n" + "\n".join(table_lines(record)) + "\n")


# --- two runs ---------------------------------------------------------------------------------


def read_per_clip(path):
    """The rows of an evaluation's ``per_clip.csv`` (a dict per clip, values as text)."""
    if not path.is_file():
        raise NeurocineError("no evaluation here; run neurocine evaluate on this run first", path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise NeurocineError("per-clip table is empty", path)
    return rows


def compare_runs(derivatives_dir, subject, name_a, name_b, *, split="test", n_boot=None, n_null=None, seed=0):
    """Paired difference A − B of every metric both runs' evaluations share, on the same clips.

    Each run keeps its own baselines: where both evaluations scored a metric's shuffled baseline
    (the run's own decoded clips against other clips' truth), the comparison also gives each
    run's gain over its own shuffled level and the paired difference of those gains, which only
    content specific to the stimulus can move (a pull towards the average scene moves a run's
    score and its shuffled level together).

    Writes ``sub-XX/models/comparisons/<A>-vs-<B>-<split>.json`` and ``.md``.

    Parameters
    ----------
    derivatives_dir : Path
    subject, name_a, name_b : str
    split : {"test", "validation", "train"}
    n_boot, n_null : int, optional
        Default: ``evaluation.n_boot`` and ``evaluation.n_null`` of run A's config.
    seed : int

    Returns
    -------
    dict
        ``{"a", "b", "n_clips", "differences": [{"column", "a", "b", "difference", "ci95", "p_value",
        "p_floor", "method", "own_shuffled": {"a", "b", "difference", "ci95", "p_value", "p_floor"} or None}],
        "path", "lines"}``
    """
    from ..pipelines.decode_split import find_run

    subject = subject.removeprefix("sub-")
    roots = [find_run(derivatives_dir, subject, n) for n in (name_a, name_b)]
    tables = [read_per_clip(r / f"decoded-{split}" / EVALUATION_DIR / "per_clip.csv") for r in roots]
    ids = [[row["id"] for row in t] for t in tables]
    if ids[0] != ids[1]:
        raise NeurocineError(f"{name_a} and {name_b} were evaluated on different clips ({len(ids[0])} vs "
                             f"{len(ids[1])}, or other windows); decode both with the same data settings")
    columns = [c for c in tables[0][0] if "@" not in c and c not in ("clip", "id", "run") and c in tables[1][0]]
    if not columns:
        raise NeurocineError(f"{name_a} and {name_b} share no metric; evaluate both with the same --metrics")
    runs = np.array([int(row["run"]) for row in tables[0]])
    if n_boot is None or n_null is None:
        section = load_run_config(roots[0], (), "evaluation", "evaluate")["evaluation"]
        n_boot = int(section["n_boot"] if n_boot is None else n_boot)
        n_null = int(section["n_null"] if n_null is None else n_null)

    def values(table, column):
        return np.array([float(row[column]) for row in table])

    def paired(a, b):
        d = paired_difference(a, b, runs, n_boot=n_boot, n_null=n_null, seed=seed)
        return {"difference": d["estimate"], "ci95": d["ci95"], "p_value": d["p_value"], "p_floor": d["p_floor"],
                "n_sign_blocks": d["n_sign_blocks"], "method": d["method"]}

    differences = []
    for column in columns:
        a, b = values(tables[0], column), values(tables[1], column)
        entry = {"column": column, "a": float(a.mean()), "b": float(b.mean()), **paired(a, b), "own_shuffled": None}
        shuffled = f"{column}@shuffled"
        if shuffled in tables[0][0] and shuffled in tables[1][0]:
            gain_a, gain_b = a - values(tables[0], shuffled), b - values(tables[1], shuffled)
            entry["own_shuffled"] = {"a": float(gain_a.mean()), "b": float(gain_b.mean()), **paired(gain_a, gain_b)}
        differences.append(entry)
    result = {"a": str(roots[0]), "b": str(roots[1]), "split": split, "n_clips": len(runs), "differences": differences}
    out = roots[0].parent / "comparisons" / f"{roots[0].name}-vs-{roots[1].name}-{split}"
    a_name, b_name = roots[0].name, roots[1].name
    lines = [f"# {a_name} − {b_name} ({split}, {len(runs)} clips)", "",
             "Each run against its own shuffled baseline (its decoded clips scored against other clips' truth): only "
             "what is specific to the stimulus moves a run's score away from it.", "",
             f"| metric | {a_name} | {b_name} | difference [95 % CI], p | {a_name} − its shuffled | "
             f"{b_name} − its shuffled | difference of those [95 % CI], p |", "|---|---|---|---|---|---|---|"]

    def cell(d):
        what = f"{d['n_sign_blocks']} blocks of clips" if d.get("n_sign_blocks") else None
        return (f"{d['difference']:+.4f} {format_interval(d['ci95'], 4, signed=True)} "
                f"{format_p(d['p_value'], d['p_floor'], what)}")

    for d in differences:
        own = d["own_shuffled"]
        gains = (f"{own['a']:+.4f} | {own['b']:+.4f} | {cell(own)}" if own else "– | – | –")
        lines.append(f"| {d['column']} | {d['a']:.4f} | {d['b']:.4f} | {cell(d)} | {gains} |")
    if differences:
        lines += ["", differences[0]["method"]]
    write_text_atomic(out.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    write_text_atomic(out.with_suffix(".md"), "\n".join(lines) + "\n")
    result["path"] = out.with_suffix(".md")
    result["lines"] = lines
    return result


__all__ = ["evaluate_run", "evaluate_files", "compare_runs", "table_lines", "column_name"]
