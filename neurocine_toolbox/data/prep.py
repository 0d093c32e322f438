"""``neurocine prep``: from a BIDS movie dataset to the store of fMRI per TR and its frames.

Per subject: plan and check every input (``prep_plan``), choose voxels on training runs only,
then stream run by run (read → trim → detrend → z-score → average repeats) and movie by movie
(decode once → frames per TR), writing into a staging folder that is moved into place at the end.
"""

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .._version import __version__
from ..bids.layout import open_layout, test_stimuli_glob
from ..bids.paths import check_output_dir, default_output_dir
from ..bids.templates import render_json
from ..errors import NeurocineError
from ..utils.atomic import StagedOutput
from ..utils.hashing import sha256_file
from ..utils.progress import progress_bar
from .cifti import read_dtseries
from .cleaning import clean_run, zscore
from .prep_plan import frame_times, natural_key, plan_subject
from .store import create_store, store_relpath, write_json_attr, write_strings
from .video import sample_frames
from .voxels import MMPVisualSelector, ReliabilitySelector, padded_columns

log = logging.getLogger("neurocine")

WINDOW_CONVENTION = (
    "Rows are TRs. A window of w TRs starting at row t holds fMRI rows t+lag … t+lag+w-1 and is "
    "paired with the frames of rows t … t+w-1; windows never cross runs. The frames of a row are "
    "those on screen at the start of the TR and every TR/frames_per_tr seconds after it."
)


@dataclass
class PrepOptions:
    """Settings of ``neurocine prep`` (recorded in every store).

    Parameters
    ----------
    test_stimuli : str, optional
        Glob on ``stim_file`` for the test split (default: the dataset's ``NeurocineTestStimuli``).
    frames_per_tr : int
        Frames kept per TR, evenly spaced (6 at TR 2 s = 3 fps).
    frame_size : int
        Frames are resized to ``frame_size`` × ``frame_size``.
    train_repeats : {"average", "separate"}
        Average the training viewings of a movie or keep each. Test viewings are averaged.
    rescale_after_average : bool
        Z-score each averaged run again. Averaging k viewings shrinks the spread of what does
        not repeat across them, so without it the test split (10 viewings in Wen 2018) has a
        smaller spread than the training split (2) the encoder learned from. Each run's own time
        series only: no statistic crosses runs or splits.
    voxels : {"mmp-visual", "reliability"}
        Voxel selection.
    reliability_p : float
        Bonferroni-corrected p threshold for ``voxels="reliability"``.
    reliability_top_n : int, optional
        Keep the N most reliable grayordinates instead of thresholding.
    detrend_order : int
        Order of the polynomial trend removed from each run (Wen 2018: 4).
    max_bad_fraction : float
        Largest fraction of selected grayordinates of a run that may be NaN or constant.
    fmri_dtype : {"float32", "float16"}
    validation_share : float
        Share of the training movies held out for validation (at least one when it is above 0
        and 3 or more training movies leave 2 to fit): evenly spread over the movies in natural
        order, marked in the training store. Every setting is chosen on them; they never feed
        training, voxel selection or the baselines.
    validation_movies : tuple of str, optional
        The ``stim_file`` values of the validation movies, instead of ``validation_share``.
    """

    test_stimuli: str | None = None
    frames_per_tr: int = 6
    frame_size: int = 256
    train_repeats: str = "average"
    rescale_after_average: bool = False
    voxels: str = "mmp-visual"
    reliability_p: float = 0.01
    reliability_top_n: int | None = None
    detrend_order: int = 4
    max_bad_fraction: float = 0.1
    fmri_dtype: str = "float32"
    validation_share: float = 0.2
    validation_movies: tuple | None = None

    def validate(self):
        if self.train_repeats not in ("average", "separate"):
            raise NeurocineError(f"--train-repeats must be average or separate, not {self.train_repeats!r}")
        if self.voxels not in ("mmp-visual", "reliability"):
            raise NeurocineError(f"--voxels must be mmp-visual or reliability, not {self.voxels!r}")
        if self.frames_per_tr < 1 or self.frame_size < 8:
            raise NeurocineError("--frames-per-tr must be >= 1 and --frame-size >= 8")
        if not 0 <= self.max_bad_fraction <= 1:
            raise NeurocineError("--max-bad-fraction must lie in [0, 1]")
        if not 0 <= self.validation_share < 1:
            raise NeurocineError(f"--validation-share must lie in [0, 1), not {self.validation_share}")


def validation_movies(train_movies, options):
    """The training movies held out for validation (``PrepOptions.validation_share`` / ``validation_movies``).

    Parameters
    ----------
    train_movies : list of str
        The training split's ``stim_file`` values, in natural order.
    options : PrepOptions

    Returns
    -------
    list of str

    Raises
    ------
    NeurocineError
        A named movie that is not a training movie, or a choice that leaves fewer than 2 movies
        to train on (cross-validation over movies needs two).
    """
    if options.validation_movies:
        chosen = [str(m) for m in options.validation_movies]
        unknown = [m for m in chosen if m not in train_movies]
        if unknown:
            raise NeurocineError(f"--validation-movies names {', '.join(unknown)}, not among the training movies "
                                 f"({', '.join(train_movies)})")
    else:
        n = len(train_movies)
        if options.validation_share == 0 or n < 3:
            return []
        count = min(n - 2, max(1, round(options.validation_share * n)))
        # Evenly spread: the last of each of `count` equal stretches of the movies.
        chosen = [train_movies[(k + 1) * n // count - 1] for k in range(count)]
    if len(train_movies) - len(set(chosen)) < 2:
        raise NeurocineError(f"holding out {len(set(chosen))} of {len(train_movies)} training movies for validation "
                             "leaves fewer than 2 to train on")
    return [m for m in train_movies if m in set(chosen)]


def prep(bids_dir, out_dir=None, participant_labels=None, options=None, bids_database_dir=None, progress=True):
    """Prepare the store of every (or the named) subject(s) of a BIDS movie dataset.

    Parameters
    ----------
    bids_dir : str or Path
        Raw BIDS root with events.tsv, ``stimuli/`` and a CIFTI 91k derivative.
    out_dir : str or Path, optional
        Output folder (default ``BIDS_DIR/derivatives/neurocine``).
    participant_labels : list of str, optional
        Subjects to prepare (with or without ``sub-``); default all.
    options : PrepOptions, optional
    bids_database_dir : str or Path, optional
        pybids index cache.
    progress : bool
        Show progress bars.

    Returns
    -------
    list of Path
        The store files written.
    """
    options = options or PrepOptions()
    options.validate()
    bids_dir = Path(bids_dir)
    out_dir = Path(out_dir) if out_dir is not None else default_output_dir(bids_dir)
    check_output_dir(bids_dir, out_dir)
    layout = open_layout(bids_dir, bids_database_dir)
    test_glob = test_stimuli_glob(layout, options.test_stimuli)
    subjects = [s.removeprefix("sub-") for s in participant_labels] if participant_labels else sorted(
        layout.get_subjects(), key=natural_key
    )
    plans = [plan_subject(layout, s, test_glob, options.train_repeats, options.detrend_order) for s in subjects]

    written = []
    with StagedOutput(out_dir) as staged:
        for plan in plans:
            written += _prep_subject(plan, bids_dir, staged, options, test_glob, progress)
        description = render_json("dataset_description_neurocine.json", source=bids_dir.resolve().as_uri())
        (staged.path("dataset_description.json")).write_text(json.dumps(description, indent=2) + "\n")
        staged.commit()
    return [out_dir / p for p in written]


def _select_voxels(plan, options, held_out, progress):
    if options.voxels == "mmp-visual":
        return MMPVisualSelector().fit()
    selector = ReliabilitySelector(options.reliability_p, options.reliability_top_n)
    return selector.fit(_training_viewings(plan, options, held_out, progress))


def _training_viewings(plan, options, held_out, progress):
    """Yield, movie by movie, the cleaned whole-brain viewings of each training movie (not ``held_out``)."""
    by_movie = {}
    for run in plan.runs:
        for block in run.blocks:
            by_movie.setdefault(block.stim_file, []).append((run, block))
    train = set(plan.splits["train"].stimulus_files) - set(held_out)
    cache = {}
    for stim in progress_bar(sorted(train, key=natural_key), desc=f"sub-{plan.subject} reliability", enabled=progress):
        views = []
        for run, block in by_movie[stim]:
            if run.name not in cache:
                cache.clear()  # one run in memory at a time
                data = read_dtseries(run.dtseries).data
                start, stop = run.span
                cache[run.name] = (clean_run(data[start:stop], options.detrend_order)[0], start)
            cleaned, start = cache[run.name]
            views.append(cleaned[block.first_tr - start: block.first_tr - start + block.n_tr])
        yield views


def _prep_subject(plan, bids_dir, staged, options, test_glob, progress):
    held_out = validation_movies(plan.splits["train"].stimulus_files, options) if "train" in plan.splits else []
    if held_out:
        log.info("sub-%s: %d of %d training movies held out for validation: %s", plan.subject, len(held_out),
                 len(plan.splits["train"].stimulus_files), ", ".join(held_out))
    selector = _select_voxels(plan, options, held_out, progress)
    columns, rois = padded_columns(selector.indices_, selector.labels_)
    selected = selector.indices_
    frame_shape = (options.frame_size, options.frame_size)
    files = {}
    relpaths = {}
    for split, split_plan in plan.splits.items():
        relpaths[split] = store_relpath(plan.subject, split)
        files[split] = create_store(
            staged.path(relpaths[split]), n_rows=split_plan.n_rows, n_frame_rows=split_plan.n_frame_rows,
            n_columns=len(columns), frames_per_tr=options.frames_per_tr, frame_size=frame_shape,
            fmri_dtype=options.fmri_dtype,
        )
    try:
        inputs = _write_fmri(plan, files, selected, options, progress)
        inputs.update(_write_frames(plan, files, bids_dir, options, progress))
        for split, split_plan in plan.splits.items():
            _write_tables(files[split], plan, split_plan, columns, rois, options, selector, inputs, test_glob, bids_dir,
                          held_out if split == "train" else [])
    finally:
        for f in files.values():
            f.close()
    for split in plan.splits:
        sidecar = staged.path(relpaths[split].with_suffix(".json"))
        record = _provenance(plan, split, options, selector, test_glob, held_out)
        sidecar.write_text(json.dumps(record, indent=2) + "\n")
    return list(relpaths.values())


def _write_fmri(plan, files, selected, options, progress):
    """Stream the runs: clean the selected grayordinates, average or place each viewing."""
    # Where each (run, block) goes: (split, store run).
    targets = {}
    for split, split_plan in plan.splits.items():
        for store_run in split_plan.runs:
            for run, block in store_run.sources:
                targets.setdefault(run.name, []).append((split, store_run, block))
    sums, counts = {}, {}
    inputs = {}
    n_selected = len(selected)
    ordered = sorted(plan.runs, key=lambda r: min(natural_key(b.stim_file) for b in r.blocks))
    for run in progress_bar(ordered, desc=f"sub-{plan.subject} fMRI", enabled=progress, unit="run"):
        loaded = read_dtseries(run.dtseries, with_sha256=True, columns=selected)
        inputs[str(run.dtseries)] = loaded.sha256
        start, stop = run.span
        cleaned, bad = clean_run(loaded.data[start:stop], options.detrend_order)
        del loaded
        n_bad = int(bad.sum())
        if n_bad > options.max_bad_fraction * n_selected:
            raise NeurocineError(
                f"{n_bad} of {n_selected} selected grayordinates are NaN or constant "
                f"(limit {options.max_bad_fraction:.0%}, --max-bad-fraction)",
                run.dtseries,
            )
        if n_bad:
            log.warning("%s: %d of %d selected grayordinates are NaN or constant; set to 0",
                        run.dtseries.name, n_bad, n_selected)
        for split, store_run, block in targets.get(run.name, []):
            rows = cleaned[block.first_tr - start: block.first_tr - start + block.n_tr]
            key = (split, store_run.first_row)
            sums[key] = sums.get(key, 0.0) + rows.astype(np.float64)
            counts[key] = counts.get(key, 0) + 1
            if counts[key] == len(store_run.sources):
                mean = sums.pop(key) / counts[key]
                if options.rescale_after_average and counts[key] > 1:
                    mean, _ = zscore(mean)
                padded = np.zeros((store_run.n_tr, files[split]["fmri"].shape[1]), np.float32)
                padded[:, :n_selected] = mean
                files[split]["fmri"][store_run.first_row: store_run.first_row + store_run.n_tr] = padded
        inputs[str(run.events)] = sha256_file(run.events)
    return inputs


def _write_frames(plan, files, bids_dir, options, progress):
    """Decode each movie once and write the frames of every TR it covers."""
    inputs = {}
    jobs = {}
    for split, split_plan in plan.splits.items():
        for store_run in split_plan.runs:
            jobs.setdefault(store_run.stim_file, (split, store_run))
    for stim in progress_bar(sorted(jobs, key=natural_key), desc=f"sub-{plan.subject} movies", enabled=progress, unit="movie"):
        split, store_run = jobs[stim]
        times = frame_times(store_run, plan.tr, options.frames_per_tr)
        path = Path(bids_dir) / "stimuli" / stim
        frames = sample_frames(path, times.ravel(), options.frame_size)
        frames = frames.reshape(*times.shape, *frames.shape[1:])
        first = store_run.first_frame_row
        files[split]["frames"][first: first + store_run.n_tr] = frames
        inputs[str(path)] = sha256_file(path)
    return inputs


def _write_tables(f, plan, split_plan, columns, rois, options, selector, inputs, test_glob, bids_dir, held_out):
    n = split_plan.n_rows
    runs = np.empty(n, np.int32)
    tr_in_run = np.empty(n, np.int32)
    stimulus = np.empty(n, np.int32)
    stimulus_time = np.empty(n, np.float32)
    frame_rows = np.empty(n, np.int32)
    for index, store_run in enumerate(split_plan.runs):
        rows = slice(store_run.first_row, store_run.first_row + store_run.n_tr)
        runs[rows] = index
        tr_in_run[rows] = np.arange(store_run.n_tr)
        stimulus[rows] = split_plan.stimulus_files.index(store_run.stim_file)
        stimulus_time[rows] = store_run.movie_start + np.arange(store_run.n_tr) * plan.tr
        frame_rows[rows] = store_run.first_frame_row + np.arange(store_run.n_tr)
    f["runs"][:] = runs
    f["tr_in_run"][:] = tr_in_run
    f["stimulus"][:] = stimulus
    f["stimulus_time"][:] = stimulus_time
    f["frame_rows"][:] = frame_rows
    f["validation"][:] = np.isin(np.asarray(split_plan.stimulus_files)[stimulus], held_out) if held_out else 0
    write_json_attr(f, "validation_movies", list(held_out))
    f.create_dataset("voxel_grayordinates", data=columns)
    write_strings(f, "voxel_rois", rois)
    write_strings(f, "stimulus_files", split_plan.stimulus_files)
    root = Path(bids_dir)
    write_strings(f, "run_sources", [
        json.dumps([_relative(r.dtseries, root) for r, _ in store_run.sources]) for store_run in split_plan.runs
    ])
    f.attrs["subject"] = plan.subject
    f.attrs["split"] = split_plan.split
    f.attrs["tr"] = plan.tr
    f.attrs["frames_per_tr"] = options.frames_per_tr
    f.attrs["fps"] = options.frames_per_tr / plan.tr
    f.attrs["frame_offsets_s"] = np.arange(options.frames_per_tr) * plan.tr / options.frames_per_tr
    f.attrs["window_convention"] = WINDOW_CONVENTION
    f.attrs["fmri_units"] = ("z-score within each run (after trimming and detrending), then averaged over viewings"
                             + (", then z-scored again within each averaged run" if options.rescale_after_average
                                else ""))
    f.attrs["neurocine_version"] = __version__
    write_json_attr(f, "prep_parameters", _provenance(plan, split_plan.split, options, selector, test_glob, held_out))
    write_json_attr(f, "inputs", {_relative(p, root): h for p, h in sorted(inputs.items())})


def _relative(path, root):
    # Not resolved: converted datasets link to the release, and the BIDS name is the useful one.
    return os.path.relpath(os.path.abspath(path), os.path.abspath(root))


def _provenance(plan, split, options, selector, test_glob, held_out):
    return {
        "subject": plan.subject,
        "split": split,
        "tr": plan.tr,
        "options": asdict(options),
        "test_stimuli": test_glob,
        "validation_movies": list(held_out),
        "voxel_selection": selector.describe(),
        "n_voxels": int(len(selector.indices_)),
        "neurocine_version": __version__,
        "GeneratedBy": {"Name": "neurocine prep", "Version": __version__},
    }
