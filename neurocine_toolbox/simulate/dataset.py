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
        names, blocks = feature_names(config.n_classes, config.grid)
        writer = DtseriesWriter(config.tr)
        movie_rows = np.concatenate([regressors[task][: round(sec / config.tr)]
                                     for task, sec, _ in config.segments()])
        for s in range(config.n_subjects):
            sub = subject_label(s)
            model = build_subject_model(subject_rng(seed, s), config, blocks, movie_rows)
            _write_truth(staged, sub, model, config, names, blocks)
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
    names, _ = feature_names(config.n_classes, config.grid)
    out = {}
    segments = config.segments()
    for task, seconds, _ in progress_bar(segments, desc="movies", enabled=progress, unit="movie"):
        clips = plan_clips(stimulus_rng(seed, task), seconds, config)
        frame_feats = write_movie(staged.path(f"stimuli/{task}.mp4"), clips, config)
        _write_tsv(staged.path(f"stimuli/{task}_clips.tsv"), clips_table(clips, config.fps))
        n_rows = round(seconds / config.tr) + config.end_extra
        out[task] = volume_regressors(frame_feats, config.fps, config.tr, n_rows)
        np.savez_compressed(
            staged.path(f"derivatives/simulation/stimuli/{task}_desc-truth_features.npz"),
            frame_features=frame_feats, volume_regressors=out[task], feature_names=np.array(names),
            fps=config.fps, tr=config.tr,
        )
    return out


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
    names, _ = feature_names(config.n_classes, config.grid)
    fields = {f"{g}_{b}": share for g, (_, shares) in GROUPS.items() for b, share in shares.items()}
    fields.update({f"{g}_areas": ", ".join(areas) for g, (areas, _) in GROUPS.items()})
    write_text_atomic(staged.path("derivatives/simulation/README.md"), render_text(
        "README_simulation_truth.md", seed=seed, end_extra=config.end_extra,
        offset_scale=config.offset_scale, drift_scale=config.drift_scale,
        drift_order=config.drift_order, n_features=len(names), grid=config.grid,
        n_classes=config.n_classes, noise_rho=config.noise_rho, snr=config.snr, **fields,
    ))


def _write_truth(staged, sub, model, config, names, blocks):
    np.savez_compressed(
        staged.path(f"derivatives/simulation/sub-{sub}/sub-{sub}_desc-truth_encoding.npz"),
        weights=model.weights, feature_names=np.array(names), feature_blocks=blocks,
        block_names=np.array(BLOCKS), gains=model.gains, responsive=model.responsive,
        group=model.group, group_names=np.array(GROUP_NAMES), rf_centre=model.rf_centre,
        baseline=model.baseline, snr=config.snr, noise_rho=config.noise_rho,
        drift_order=config.drift_order, drift_scale=config.drift_scale,
        offset_scale=config.offset_scale, tr=config.tr, fps=config.fps, grid=config.grid,
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
