"""Write the simulated dataset as BIDS (docs/bids-layout.md) with its ground truth."""

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..bids.templates import render_json, render_text, write_json
from ..data.cifti import DtseriesWriter
from ..data.grayordinates import standard_brain_model_axis
from ..errors import NeurocineError
from ..utils.atomic import StagedOutput, write_text_atomic
from ..utils.progress import progress_bar
from .encoding import GROUP_NAMES, GROUPS, build_subject_model, simulate_run
from .features import BLOCKS, feature_names, volume_regressors
from .presets import resolve_config
from .stimuli import clips_table, plan_clips, write_movie

log = logging.getLogger("neurocine")

# Independent random streams, keyed so that any movie, subject or run can be regenerated alone.
_STIMULUS, _SUBJECT, _RUN = 1, 2, 3

PIPELINE = "neurocine simulate"
TEST_STIMULI_GLOB = "test*.mp4"
BOLD_SUFFIX = "space-fsLR_den-91k_bold"


@dataclass(frozen=True)
class Run:
    """One viewing of one movie by one subject."""

    task: str
    run: int
    segment_index: int
    n_tr: int
    start_extra: int

    def prefix(self, subject):
        return f"sub-{subject}_task-{self.task}_run-{self.run}"


def subject_label(i):
    """BIDS label of the ``i``-th subject (0-based): ``"01"``, ``"02"``, ..."""
    return f"{i + 1:02d}"


def stimulus_rng(seed, task):
    """Generator of one movie, keyed by its name (train and test movies never share one)."""
    kind, number = re.fullmatch(r"(seg|test)(\d+)", task).groups()
    return np.random.default_rng([seed, _STIMULUS, ("seg", "test").index(kind), int(number)])


def subject_rng(seed, subject_index):
    return np.random.default_rng([seed, _SUBJECT, subject_index])


def run_rng(seed, subject_index, run):
    return np.random.default_rng([seed, _RUN, subject_index, run.segment_index, run.run])


def plan_runs(config):
    """Every run in acquisition order; the extra volumes at the start alternate 1, 2, 1, ...

    (Wen 2018's runs have 245 or 246 volumes: 1 or 2 extra at the start, 4 at the end.)
    """
    runs, i = [], 0
    for s, (task, seconds, repeats) in enumerate(config.segments()):
        for rep in range(1, repeats + 1):
            runs.append(Run(task, rep, s, round(seconds / config.tr), 1 if i % 2 == 0 else 2))
            i += 1
    return runs


def world_feature_names(config):
    """Feature names, block index of each feature, and block names of ``config``'s world."""
    if config.world == "natural":
        from .natural_features import NATURAL_BLOCKS, natural_feature_names

        return (*natural_feature_names(config.n_classes, config.n_scenes), NATURAL_BLOCKS)
    return (*feature_names(config.n_classes, config.grid), BLOCKS)


def build_brain(rng, config, blocks, movie_rows):
    """One subject's true encoding model in ``config``'s world."""
    if config.world == "natural":
        from .cortex import build_cortex

        return build_cortex(rng, config, blocks, movie_rows)
    return build_subject_model(rng, config, blocks, movie_rows)


def _check_output(out_dir):
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise NeurocineError("output folder exists and is not empty; give a new or empty folder", out_dir)


def simulate_dataset(out_dir, *, preset="small", seed=0, progress=True, **overrides):
    """Write a synthetic movie-watching BIDS dataset with known ground truth.

    Parameters
    ----------
    out_dir : str or Path
        New (or empty) folder for the BIDS dataset.
    preset : {"small", "wen2018-size"}
        Base sizes (:data:`~neurocine_toolbox.simulate.presets.PRESETS`).
    seed : int
        Fixes every random draw: the same seed gives identical files.
    progress : bool
        Show progress bars.
    **overrides
        Fields of :class:`~neurocine_toolbox.simulate.presets.SimulationConfig` (``n_subjects``,
        ``n_train_segments``, ``train_segment_seconds``, ``tr``, ``fps``, ``movie_size``,
        ``snr``, ...), applied on top of the preset.

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    NeurocineError
        Bad options, or ``out_dir`` is not empty. Nothing is written then, nor when the run
        fails midway.
    """
    config = resolve_config(preset, **overrides)
    seed = int(seed)
    out_dir = Path(out_dir)
    _check_output(out_dir)
    runs = plan_runs(config)
    log.info("simulate: %d movies, %d subject(s) x %d runs -> %s",
             len(config.segments()), config.n_subjects, len(runs), out_dir)
    standard_brain_model_axis()  # build once (a few seconds) before the progress bars start
    with StagedOutput(out_dir) as staged:
        regressors = _write_stimuli(staged, config, seed, progress)
        _write_metadata(staged, config, seed, preset)
        names, blocks, block_names = world_feature_names(config)
        writer = DtseriesWriter(config.tr)
        movie_rows = np.concatenate([regressors[task][: round(sec / config.tr)]
                                     for task, sec, _ in config.segments()])
        for s in range(config.n_subjects):
            sub = subject_label(s)
            model = build_brain(subject_rng(seed, s), config, blocks, movie_rows)
            _write_truth(staged, sub, model, config, names, blocks, block_names)
            for run in progress_bar(runs, desc=f"sub-{sub} runs", enabled=progress, unit="run"):
                _write_run(staged, writer, sub, run, config,
                           simulate_run(run_rng(seed, s, run), model,
                                        run_design(regressors[run.task], run, config), config))
        staged.commit()
    return out_dir


def run_design(movie_regressors, run, config):
    """HRF-convolved features at each volume of ``run``: zeros, then the movie's regressors."""
    n_vol = run.start_extra + run.n_tr + config.end_extra
    x = np.zeros((n_vol, movie_regressors.shape[1]), np.float32)
    x[run.start_extra:] = movie_regressors[: n_vol - run.start_extra]
    return x


def _write_stimuli(staged, config, seed, progress):
    """Movies, their clip tables and their features; returns ``{task: volume regressors}``."""
    names, _, _ = world_feature_names(config)
    draw = _natural_movie if config.world == "natural" else _shapes_movie
    out = {}
    segments = config.segments()
    for task, seconds, _ in progress_bar(segments, desc="movies", enabled=progress, unit="movie"):
        frame_feats, feature_fps, table, truth = draw(staged.path(f"stimuli/{task}.mp4"),
                                                      stimulus_rng(seed, task), seconds, config)
        _write_tsv(staged.path(f"stimuli/{task}_clips.tsv"), table)
        n_rows = round(seconds / config.tr) + config.end_extra
        out[task] = volume_regressors(frame_feats, feature_fps, config.tr, n_rows)
        np.savez_compressed(
            staged.path(f"derivatives/simulation/stimuli/{task}_desc-truth_features.npz"),
            frame_features=frame_feats, volume_regressors=out[task], feature_names=np.array(names),
            fps=feature_fps, tr=config.tr, movie_fps=config.fps, **truth,
        )
    return out


def _shapes_movie(path, rng, seconds, config):
    """Draw and write one shapes-world movie: ``(frame features, their rate, clips table, {})``."""
    clips = plan_clips(rng, seconds, config)
    return write_movie(path, clips, config), config.fps, clips_table(clips, config.fps), {}


def _natural_movie(path, rng, seconds, config):
    """Draw and write one natural-world movie: features at 15 Hz, shots table, what each frame shows."""
    from .natural_features import FEATURE_FPS, NaturalFeatureRecorder
    from .natural_stimuli import plan_shots, shots_table, write_natural_movie

    shots = plan_shots(rng, seconds, config)
    recorder = NaturalFeatureRecorder(config.fps, config.n_classes, config.n_scenes)
    shown = write_natural_movie(path, shots, config, recorder)
    truth = {f"frame_{name}": array for name, array in vars(shown).items()}
    return recorder.features(), FEATURE_FPS, shots_table(shots, config.fps), truth


def _write_tsv(path, table):
    write_text_atomic(path, table.to_csv(sep="\t", index=False, lineterminator="\n"))


def _write_metadata(staged, config, seed, preset):
    name = f"neurocine simulated movie watching (preset {preset}, seed {seed})"
    write_json(staged.path("dataset_description.json"), render_json(
        "dataset_description_raw.json", name=name, license="CC0", authors="neurocine simulate",
        description=f"Synthetic movie-watching fMRI with a known encoding model (seed {seed})",
    ))
    write_text_atomic(staged.path("README.md"), render_text(
        "README_simulate.md", name=name, seed=seed, fps=config.fps, size=config.movie_size))
    participants = pd.DataFrame({"participant_id": [f"sub-{subject_label(s)}"
                                                     for s in range(config.n_subjects)]})
    _write_tsv(staged.path("participants.tsv"), participants)
    links = {"DatasetLinks": {"raw": "../../"}}
    write_json(staged.path("derivatives/fmriprep/dataset_description.json"), render_json(
        "dataset_description_preproc.json", name=f"{name}: BOLD in CIFTI 91k", pipeline=PIPELINE,
        description="Simulated BOLD on the HCP 91k fs_LR grayordinates", source="bids:raw:",
        extra={**links, "NeurocineTestStimuli": TEST_STIMULI_GLOB},
    ))
    write_json(staged.path("derivatives/simulation/dataset_description.json"), render_json(
        "dataset_description_preproc.json", name=f"{name}: ground truth", pipeline=PIPELINE,
        description="Encoding-model weights and stimulus features used to simulate the BOLD",
        source="bids:raw:", extra=links,
    ))
    if config.world == "natural":
        write_text_atomic(staged.path("derivatives/simulation/README.md"), _natural_truth_readme(config, seed))
        return
    names, _ = feature_names(config.n_classes, config.grid)
    fields = {f"{g}_{b}": share for g, (_, shares) in GROUPS.items() for b, share in shares.items()}
    fields.update({f"{g}_areas": ", ".join(areas) for g, (areas, _) in GROUPS.items()})
    write_text_atomic(staged.path("derivatives/simulation/README.md"), render_text(
        "README_simulation_truth.md", seed=seed, end_extra=config.end_extra,
        offset_scale=config.offset_scale, drift_scale=config.drift_scale,
        drift_order=config.drift_order, n_features=len(names), grid=config.grid,
        n_classes=config.n_classes, noise_rho=config.noise_rho, snr=config.snr, **fields,
    ))


def _natural_truth_readme(config, seed):
    from . import cortex
    from .natural_features import FEATURE_FPS, ME_SIZE, NATURAL_BLOCKS, natural_feature_names
    from .natural_stimuli import MAX_OBJECTS

    names, blocks = natural_feature_names(config.n_classes, config.n_scenes)
    groups = "\n".join(f"  - {g} ({', '.join(areas)}): " + ", ".join(f"{b} {s}" for b, s in shares.items())
                       for g, (areas, shares) in cortex.NATURAL_GROUPS.items())
    return render_text(
        "README_simulation_truth_natural.md", seed=seed, feature_fps=FEATURE_FPS, step=config.fps // FEATURE_FPS,
        end_extra=config.end_extra, max_objects=MAX_OBJECTS, offset_scale=config.offset_scale,
        drift_scale=config.drift_scale, drift_order=config.drift_order, n_features=len(names),
        n_energy=int((blocks == NATURAL_BLOCKS.index("motion_energy")).sum()), me_size=ME_SIZE,
        n_classes=config.n_classes, n_scenes=config.n_scenes, groups=groups,
        slopes=", ".join(f"{a} {v}" for a, v in cortex.PRF_SLOPE.items()), dorsal_slope=cortex.DORSAL_PRF_SLOPE,
        group_snr=", ".join(f"{g} {v}" for g, v in cortex.GROUP_SNR.items()), snr_log_sd=cortex.SNR_LOG_SD,
    )


def _write_truth(staged, sub, model, config, names, blocks, block_names):
    extra = {}
    group_names = GROUP_NAMES
    if config.world == "natural":
        from .cortex import NATURAL_GROUP_NAMES, SCREEN_DEGREES

        group_names = NATURAL_GROUP_NAMES
        extra = {"prf_sigma": model.prf_sigma, "grayordinate_snr": model.snr,
                 "screen_degrees": SCREEN_DEGREES}
    np.savez_compressed(
        staged.path(f"derivatives/simulation/sub-{sub}/sub-{sub}_desc-truth_encoding.npz"),
        weights=model.weights, feature_names=np.array(names), feature_blocks=blocks,
        block_names=np.array(block_names), gains=model.gains, responsive=model.responsive,
        group=model.group, group_names=np.array(group_names), rf_centre=model.rf_centre,
        baseline=model.baseline, snr=config.snr,
        noise_rho=config.noise_rho if model.noise_rho is None else model.noise_rho,
        drift_order=config.drift_order, drift_scale=config.drift_scale,
        offset_scale=config.offset_scale, tr=config.tr, fps=config.fps, grid=config.grid,
        world=config.world, **extra,
    )


def _write_run(staged, writer, sub, run, config, data):
    prefix = run.prefix(sub)
    onset = run.start_extra * config.tr
    events = pd.DataFrame({"onset": [onset], "duration": [run.n_tr * config.tr],
                           "trial_type": ["movie"], "stim_file": [f"{run.task}.mp4"]})
    _write_tsv(staged.path(f"sub-{sub}/func/{prefix}_events.tsv"), events)
    func = f"derivatives/fmriprep/sub-{sub}/func/{prefix}_{BOLD_SUFFIX}"
    writer.write(staged.path(f"{func}.dtseries.nii"), data)
    write_json(staged.path(f"{func}.json"), render_json("bold.json", task=run.task, extra={
        "RepetitionTime": config.tr, "VolumesTrimmedAtStart": run.start_extra,
        "VolumesTrimmedAtEnd": config.end_extra,
    }))
