"""``neurocine decode``: every window of a split through the trained pipeline, to files.

Outputs, in the run folder (``sub-XX/models/<name>/``)::

    decoded-<split>/
        clips/clip-0000.mp4                      the decoded clip (H.264, the store's frame rate)
        clips/clip-0000_truth-vs-decoded.gif     truth | decoded in the peers' grid (``evaluate --gifs`` reads it)
        clips/clip-0000.npy                      the decoded frames, uint8 [F, H, W, 3]
        frames.npz                               all clips: decoded, truth, rows, stimulus, time
        decode.json                              settings, provenance; SSIM to own vs. other clips' truth added by
                                                 evaluation.clip_similarity.score_decoded (decode's CLI, the demo)
        settings.json                            what the clips depend on (checked when resuming)

Windows are decoded in fixed batches; a batch whose clips all exist is skipped, so an
interrupted run resumes where it stopped and gives the same frames. Clips decoded with other
settings, or by a pipeline trained since, are never mixed in: the command stops (``--force``). Each clip's noise comes from
its own generator seeded by ``(seed, clip)``. Under ``accelerate launch`` the batches are
shared among the processes; the main process writes the summary files.
"""

import contextlib
import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from .._version import __version__
from ..alignment.run_space import map_key, subject_fmri
from ..config import load_run_config
from ..data.clips import clip_frame_indices, frames_to_tensor, mean_training_window, tensor_to_frames
from ..data.dataset import split_window_starts, windows_at
from ..data.store import open_store, store_path
from ..data.video_writing import peer_grid, write_gif, write_mp4
from ..errors import NeurocineError
from ..utils.atomic import atomic_path, write_text_atomic
from ..utils.json_values import json_default
from ..utils.processes import check_launch
from ..utils.progress import progress_bar
from ..utils.seeds import step_seed

log = logging.getLogger("neurocine")

PIPELINE_STAGE = "decoder-fmri"


def find_run(derivatives_dir, subject, name=None):
    """The run folder ``sub-XX/models/<name>`` holding a trained pipeline (the only one if no name)."""
    models = Path(derivatives_dir) / f"sub-{subject}" / "models"
    if name:
        root = models / name
    else:
        runs = sorted(p.parent.parent for p in models.glob(f"*/{PIPELINE_STAGE}/model"))
        if len(runs) != 1:
            found = ", ".join(p.name for p in runs) or "none"
            raise NeurocineError(f"choose the run to decode with --name (trained pipelines: {found})", models)
        root = runs[0]
    if not (root / PIPELINE_STAGE / "model" / "model_index.json").is_file():
        raise NeurocineError(f"holds no trained pipeline; run `neurocine fit --subject {subject}` first", root)
    return root


def has_perception_reconstructor(pipeline_dir):
    """Whether a saved pipeline holds a perception reconstructor (the low-level pathway)."""
    index = json.loads((Path(pipeline_dir) / "model_index.json").read_text())
    return (index.get("perception_reconstructor") or [None])[0] is not None


def clip_path(out_dir, index, suffix):
    return Path(out_dir) / "clips" / f"clip-{index:04d}{suffix}"


def _write_clip(out_dir, index, decoded, truth, fps):
    """The clip's frames, mp4 and comparison gif (the peers' grid); the .npy last (it marks the clip as done)."""
    with atomic_path(clip_path(out_dir, index, ".mp4")) as tmp:
        write_mp4(tmp, decoded, fps)
    with atomic_path(clip_path(out_dir, index, "_truth-vs-decoded.gif")) as tmp:
        write_gif(tmp, peer_grid(truth, decoded), fps)
    with atomic_path(clip_path(out_dir, index, ".npy")) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, decoded)


def _check_settings(out_dir, settings, force):
    path = Path(out_dir) / "settings.json"
    if force or not path.is_file():
        return
    before = json.loads(path.read_text())
    differ = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
    if differ:
        raise NeurocineError(f"holds clips decoded with other settings or another pipeline (differs in: "
                             f"{', '.join(differ)}); add --force to decode them again", out_dir)


@contextlib.contextmanager
def _quiet_diffusers():
    """No loading bars from diffusers (neurocine shows its own progress)."""
    from diffusers.utils import logging as diffusers_logging

    enabled = diffusers_logging.is_progress_bar_enabled()
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()  # e.g. its advice on casting with .to(), which decode does on purpose
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(verbosity)
        if enabled:
            diffusers_logging.enable_progress_bar()


def sampling_dtype(sampling, device):
    """The models' dtype while decoding: ``sampling.precision``.

    ``auto`` is bf16 on a CUDA GPU that supports it (fp16 on older ones: V100, T4) and float32
    elsewhere. Only the models run in it: latents, sampler and guidance stay in float32.
    """
    choice = sampling["precision"]
    if choice == "auto":
        if torch.device(device).type != "cuda":
            choice = "fp32"
        else:
            choice = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[choice]


def _negative(config, stores, window, lag, root):
    """Guidance's negative window: the mean training window of the store the run trained on (in its space)."""
    from ..alignment.run_space import subject_map, training_store

    choice = config["sampling"]["negative"]
    if choice == "train_mean":
        return mean_training_window(training_store(root, stores["train"]), window, lag)
    if choice == "test_mean":
        log.warning("sampling.negative is test_mean (MinD-Video's choice): the guidance negative is the mean "
                    "TEST fMRI; this is recorded in decode.json and the scores are not clean held-out ones")
        mean = mean_training_window(stores["test"], window, lag)
        with open_store(stores["test"]) as store:
            return subject_map(root, store.subject, store.fmri.shape[1]).apply(mean)
    raise NeurocineError(f"sampling.negative must be train_mean or test_mean, not '{choice}'")


def load_pipeline(pipeline_dir, device, dtype):
    """A saved pipeline on ``device``, its models in ``dtype`` but the perception reconstructor in float32.

    The reconstructor is set aside before the cast: a linear map over thousands of voxels whose
    weights were rounded to bf16 would stay rounded when cast back.
    """
    from . import NeuroCinePipeline

    with _quiet_diffusers():
        pipeline = NeuroCinePipeline.from_pretrained(pipeline_dir)
        reconstructor = pipeline.perception_reconstructor
        pipeline.register_modules(perception_reconstructor=None)
        pipeline.to(device, dtype)  # on purpose: diffusers' advice to cast in from_pretrained stays quiet
    if reconstructor is not None:
        pipeline.register_modules(perception_reconstructor=reconstructor.to(device))
    return pipeline


def decode_windows(pipeline, fmri, clips, config, negative, *, seed=None, init_latents=None, **sampling_overrides):
    """Decode some windows with a run's sampling settings, each clip from its own generator.

    Parameters
    ----------
    pipeline : NeuroCinePipeline
    fmri : float ``[N, window, V]``
        Every window of the split.
    clips : list of int
        The windows to decode now (indices into ``fmri``).
    config : dict
        The run's config (``sampling``, ``decoder``, ``seed``).
    negative : float ``[window, V]``
        The guidance negative.
    seed : int, optional
        Clip ``i``'s noise is seeded by ``(seed, i)`` (default: the run's seed, as ``decode``).
    init_latents : Tensor ``[N, C, F, h, w]``, optional
        Latents to start from (SDEdit), one per window; default: the pipeline's perception
        reconstructor when ``sampling.strength`` is below 1.
    **sampling_overrides
        ``sampling`` settings to use instead of the run's (e.g. ``strength=0.5``).

    Returns
    -------
    ndarray, uint8 ``[len(clips), F, H, W, 3]``
    """
    sampling = {**config["sampling"], **sampling_overrides}
    decoder = config["decoder"]
    seed = int(config["seed"]) if seed is None else int(seed)
    generators = [torch.Generator().manual_seed(step_seed(seed, i, 6)) for i in clips]
    return pipeline(fmri[clips], num_inference_steps=int(sampling["num_inference_steps"]),
                    guidance_scale=float(sampling["guidance_scale"]), beta=float(decoder["beta"]),
                    generator=generators, negative_fmri=negative, num_frames=int(decoder["frames"]),
                    height=int(decoder["resolution"]), width=int(decoder["resolution"]), eta=float(sampling["eta"]),
                    strength=float(sampling["strength"]),
                    init_latents=None if init_latents is None else init_latents[clips]).frames


def decode_split(derivatives_dir, subject, *, name=None, split="test", overrides=(), progress=True,
                 limit=None, force=False, command=None):
    """Decode every window of a split with a run's trained pipeline.

    Parameters
    ----------
    derivatives_dir : Path
    subject : str
    name : str, optional
        Run folder under ``sub-XX/models`` (default: the only one with a trained pipeline).
    split : {"test", "validation", "train"}
        ``validation``: the training movies prep held out, where settings are chosen; ``test``
        only reports.
    overrides : sequence of str
        ``sampling.*`` settings (e.g. ``sampling.num_inference_steps=50``) over the run's config.
    progress : bool
    limit : int, optional
        Decode only the first ``limit`` windows (a quick look).
    force : bool
        Decode every clip again (needed when the settings or the pipeline changed since).
    command : str, optional
        For provenance.

    Returns
    -------
    dict
        ``{"out_dir", "n_clips", "decoded", "skipped", "main_process"}``; the SSIM summary of
        ``decode.json`` is added by :func:`~neurocine_toolbox.evaluation.clip_similarity.score_decoded`.
    """
    subject = subject.removeprefix("sub-")
    root = find_run(derivatives_dir, subject, name)
    config = load_run_config(root, overrides, "sampling", "decode")
    # The training store gives the guidance negative (the test store only with test_mean).
    needed = {"train", split} | ({"test"} if config["sampling"]["negative"] == "test_mean" else set())
    stores = {s: store_path(derivatives_dir, subject, s) for s in sorted(needed)}
    for path in stores.values():
        if not path.is_file():
            raise NeurocineError("store not found; run neurocine prep first", path)
    window, lag = config["data"]["window"], config["data"]["lag"]
    decoder, sampling = config["decoder"], config["sampling"]
    batch = int(sampling["batch_size"])
    with open_store(stores[split]) as store:
        starts = split_window_starts(store, window, lag, split)[:limit]
        frame_index = clip_frame_indices(store.frames_per_tr, decoder["frames"])
        fps = store.fps
        fmri = windows_at(subject_fmri(root, store), starts, window, lag)  # in the run's space
        truth = tensor_to_frames(frames_to_tensor(store.frames[starts][:, frame_index], decoder["resolution"]))
        info = {"rows": starts, "runs": store.runs[starts], "stimulus": store.stimulus[starts],
                "stimulus_time": store.stimulus_time[starts]}
    negative = _negative(config, stores, window, lag, root)

    out_dir = root / f"decoded-{split}"
    pipeline_dir = root / PIPELINE_STAGE / "model"
    strength = float(sampling["strength"])
    if strength < 1 and not has_perception_reconstructor(pipeline_dir):
        raise NeurocineError(f"sampling.strength is {strength:g} but the pipeline has no perception reconstructor "
                             "to start from; fit the run with perception.enabled: true", pipeline_dir)
    # What the clips depend on: clips decoded otherwise are never mixed with new ones.
    state = check_launch()
    dtype = sampling_dtype(sampling, state.device)
    settings = {"sampling": {k: v for k, v in sampling.items() if k != "batch_size"}, "batch_size": batch,
                "dtype": str(dtype).removeprefix("torch."),
                "beta": decoder["beta"], "frames": decoder["frames"], "resolution": decoder["resolution"],
                "seed": int(config["seed"]), "pipeline_mtime_ns": pipeline_dir.stat().st_mtime_ns}
    subject_map = map_key(root, subject)
    if subject_map != "identity":  # a subject read through a map: clips of another map are not mixed in
        settings["subject_map"] = subject_map
    _check_settings(out_dir, settings, force)
    if state.is_main_process:
        if force:
            shutil.rmtree(out_dir / "clips", ignore_errors=True)
        (out_dir / "clips").mkdir(parents=True, exist_ok=True)
        write_text_atomic(out_dir / "settings.json", json.dumps(settings, indent=2) + "\n")
    state.wait_for_everyone()
    batches = [list(range(i, min(i + batch, len(starts)))) for i in range(0, len(starts), batch)]
    todo = [b for b in batches if not all(clip_path(out_dir, i, ".npy").is_file() for i in b)]
    skipped = len(starts) - sum(len(b) for b in todo)
    if skipped:
        log.info("decode: %d of %d clips decoded earlier; skipped", skipped, len(starts))

    pipeline = load_pipeline(pipeline_dir, state.device, dtype)
    pipeline.set_progress_bar_config(disable=True)
    seed = int(config["seed"])
    mine = todo[state.process_index::state.num_processes]
    bar = progress_bar(total=sum(len(b) for b in mine), desc=f"decode {split}", unit="clip",
                       enabled=progress and state.is_main_process)
    for clips in mine:
        frames = decode_windows(pipeline, fmri, clips, config, negative)
        for i, clip in zip(clips, frames):
            _write_clip(out_dir, i, clip, truth[i], fps)
        bar.update(len(clips))
    bar.close()
    state.wait_for_everyone()

    summary = {"out_dir": out_dir, "n_clips": len(starts), "decoded": len(starts) - skipped, "skipped": skipped,
               "main_process": state.is_main_process}
    if not state.is_main_process:
        return summary
    decoded = np.stack([np.load(clip_path(out_dir, i, ".npy")) for i in range(len(starts))])
    with atomic_path(out_dir / "frames.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, decoded=decoded, truth=truth, **info)
    record = {
        "neurocine_version": __version__, "command": command or " ".join(sys.argv), "run": str(root),
        "split": split, "store": str(stores[split]), "n_clips": len(starts), "sampling": sampling,
        "beta": decoder["beta"], "frames": decoder["frames"], "resolution": decoder["resolution"], "seed": seed,
        "negative": sampling["negative"], "test_fmri_in_guidance": sampling["negative"] == "test_mean",
        "ssim": None,  # filled in by evaluation.clip_similarity.score_decoded
    }
    write_text_atomic(out_dir / "decode.json", json.dumps(record, indent=2, default=json_default) + "\n")
    return summary
