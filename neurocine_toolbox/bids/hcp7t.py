"""Convert the HCP 7T movie-watching release (HCP-YA S1200) into the BIDS shape neurocine reads.

Each subject watched four runs (MOVIE1–4, TR 1 s). A run is one mp4 holding several clips
separated by 20 s REST blocks (:mod:`.hcp7t_layout` reads where they are). ``prep`` takes a
stimulus as a whole file whose time 0 is its events onset, so every clip is cut into its own
mp4 in ``stimuli/`` (re-encoded with PyAV, video only):

- ``movie{N}_clip{M}.mp4``: clip M of run N, a training movie, seen once;
- ``test_repeated_clip.mp4``: the clip that ends every run (the same montage four times), the
  test split (``NeurocineTestStimuli = "test*.mp4"``), so ``prep`` averages its four viewings.
  Its copies differ in length by up to a TR: all four are cut to the shortest, and each run's
  events duration covers the same whole number of TRs from the first TR at or after its
  onset (the test mp4 is cut from run 1's movie).

REST blocks stay in events.tsv with ``stim_file`` n/a: they are not stimuli and never become
samples. The dtseries are linked (or copied) under BIDS names into ``derivatives/hcp7t-hcp/``;
only their headers are read, to refuse what is not 91,282 grayordinates at TR 1 s or ends before
its last clip. Everything is checked before anything is written, and the tree is built in a
staging folder moved into place at the end.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .._version import __version__
from ..errors import NeurocineError
from ..utils.atomic import StagedOutput
from ..utils.movie_files import cut_movie, probe_movie
from ..utils.progress import progress_bar
from .cifti_header import N_GRAYORDINATES, read_dtseries_header
from .conversion import (
    check_new_output, check_outside, write_derivative_description, write_readme, write_run,
)
from .events import movie_blocks
from .hcp7t_layout import MOVIE_VERSIONS, PUBLISHED_VOLUMES, REGISTRATIONS, RUNS, TR, scan_release
from .templates import render_json, write_json

log = logging.getLogger("neurocine")

DERIVATIVE_NAME = "hcp7t-hcp"
PIPELINE = "HCP minimal preprocessing + FIX (HCP-YA S1200 release)"
TEST_STIMULI = "test*.mp4"
TEST_STIMULUS = "test_repeated_clip.mp4"
RECORD_PATH = "code/neurocine_conversion.json"
#: Grayordinates of the 1.6 mm files (59k fs_LR), named in the refusal.
N_GRAYORDINATES_59K = 170494
REGISTRATION_NAMES = {"msmall": "MSMAll", "msmsulc": "MSMSulc"}
RELEASE_URL = "https://db.humanconnectome.org/data/projects/HCP_1200"
REFERENCE = (
    "Van Essen DC, Smith SM, Barch DM, Behrens TEJ, Yacoub E, Ugurbil K, for the WU-Minn HCP Consortium "
    "(2013). The WU-Minn Human Connectome Project: an overview. NeuroImage 80:62-79."
)
ACKNOWLEDGEMENT = (
    "Data were provided by the Human Connectome Project, WU-Minn Consortium (Principal Investigators: "
    "David Van Essen and Kamil Ugurbil; 1U54MH091657) funded by the 16 NIH Institutes and Centers that "
    "support the NIH Blueprint for Neuroscience Research; and by the McDonnell Center for Systems "
    "Neuroscience at Washington University."
)
#: Frame-rate slack when checking a clip's end against its movie (prep's own rule).
_FRAME_SLACK = 0.5


@dataclass
class PlannedRun:
    """One subject's run, with what its header said."""

    subject: str
    run: int
    cifti: Path
    source: str  # relative to RAW_DIR
    n_volumes: int
    tr: float

    @property
    def stem(self):
        return f"sub-{self.subject}_task-movie{self.run}_dir-{RUNS[self.run][0]}"


@dataclass
class Clip:
    """A stimulus file cut from one run's movie, and the events rows that show it."""

    stim_file: str
    split: str  # "train" or "test"
    run: int  # the run whose movie it is cut from
    start: float  # movie (= run) time of its first frame, seconds
    end: float
    labels: list  # HCP block labels it stands for ("1.2"; four for the test clip)
    n_frames: int = 0


@dataclass
class ConversionResult:
    """What :func:`convert_hcp7t` wrote."""

    bids_dir: Path
    subjects: list
    runs: list
    clips: list
    notes: list = field(default_factory=list)

    @property
    def record(self):
        return self.bids_dir / RECORD_PATH


def convert_hcp7t(raw_dir, bids_dir, *, copy=False, subjects=None, movie_version="post", registration="msmall",
                  progress=True):
    """Write a BIDS view of the HCP 7T movie-watching release.

    Parameters
    ----------
    raw_dir : str or Path
        Folder holding the subject folders (``100610/MNINonLinear/…``), the movie folders and
        ``HCP_7T_Movie_Clip_Timing.csv`` (:mod:`.hcp7t_layout`).
    bids_dir : str or Path
        New or empty output folder.
    copy : bool
        Copy the dtseries instead of linking them (absolute symbolic links). Clips are always
        new files.
    subjects : iterable of str, optional
        HCP IDs (default: every subject folder).
    movie_version : {"pre", "post"}
        The movies shown before 2014-08-22 (147 subjects) or after; one version for all.
    registration : {"msmall", "msmsulc"}
        ``_Atlas_MSMAll_hp2000_clean`` or ``_Atlas_hp2000_clean``.
    progress : bool
        Show progress bars.

    Returns
    -------
    ConversionResult

    Raises
    ------
    NeurocineError
        One line naming the file: a missing run or movie, an unreadable timing file, a clip that
        ends after its movie or its run's last volume, a dtseries that is not 91k or not TR 1 s.
    """
    bids_dir = Path(bids_dir)
    check_new_output(bids_dir)
    subjects = None if not subjects else [str(s).removeprefix("sub-") for s in subjects]
    release = scan_release(raw_dir, subjects, movie_version, registration)
    check_outside(release.root, bids_dir)
    notes = list(release.notes)
    _check_movies(release)
    runs = _plan_runs(release, notes, progress)
    clips, events = _plan_clips(release)
    for note in notes:
        log.warning(note)

    with StagedOutput(bids_dir) as stage:
        _cut_clips(stage, release, clips, progress)
        for run in progress_bar(runs, desc="copying", enabled=progress and copy, unit="run"):
            _write_run(stage, release, run, events[run.run], copy)
        converted = sorted(release.subjects)
        _write_raw_root(stage, release, converted, copy)
        _write_derivative_root(stage, release)
        _write_record(stage, release, runs, clips, notes, copy)
        stage.commit()
    return ConversionResult(bids_dir, converted, runs, clips, notes)


def _check_movies(release):
    """Every clip of the timing file must end within its run's movie."""
    for run, movie in release.movies.items():
        info = probe_movie(movie)
        clip = max(release.timing[run].clips, key=lambda b: b.end)
        if clip.end - _FRAME_SLACK / max(info.fps, 1.0) > info.duration + 1e-3:
            raise NeurocineError(
                f"clip {clip.label} ends at {clip.end:g} s (line {clip.line}) but {movie.name} lasts "
                f"{info.duration:.2f} s: the timing does not fit the {release.movie_version} version's movie",
                release.timing_path)


def _space_problem(count):
    if count == N_GRAYORDINATES:
        return None
    what = " (the 1.6 mm, 59k fs_LR files)" if count == N_GRAYORDINATES_59K else ""
    return (f"{count} grayordinates{what}, not the 91,282 of 32k fs_LR at 2 mm: use the 2 mm package "
            "(7T_MOVIE_2mm_fix) or resample to 91k with Connectome Workbench (wb_command -cifti-resample)")


def _plan_runs(release, notes, progress):
    """Read every run's header: TR 1 s, long enough for its last clip, 91,282 grayordinates."""
    todo = [(s, run, path) for s in sorted(release.subjects) for run, path in sorted(release.subjects[s].items())]
    planned = []
    for subject, run, path in progress_bar(todo, desc="reading CIFTI headers", enabled=progress, unit="file"):
        header = read_dtseries_header(path)
        if abs(header.tr - TR) > 1e-3:
            raise NeurocineError(f"TR of {header.tr:g} s in its header; the HCP 7T movie runs have TR {TR:g} s", path)
        timing = release.timing[run]
        last = timing.test_clip
        if last.end > header.n_volumes * header.tr + 1e-6:
            raise NeurocineError(
                f"clip {last.label} ends at {last.end:g} s ({release.timing_path.name} line {last.line}), after "
                f"the last of its {header.n_volumes} volumes (TR {header.tr:g} s): the timing does not fit this run",
                path)
        if _space_problem(header.n_grayordinates):
            raise NeurocineError(_space_problem(header.n_grayordinates), path)
        if abs(timing.end - header.n_volumes * header.tr) > header.tr + 1e-6:
            notes.append(
                f"{release.relative(path)}: {header.n_volumes} volumes, but the timing file's blocks of run "
                f"{run} end at {timing.end:g} s (the release has {PUBLISHED_VOLUMES[run]}); clips converted")
        planned.append(PlannedRun(subject, run, path, release.relative(path), header.n_volumes, header.tr))
    return planned


def _plan_clips(release):
    """The stimulus files to cut and every run's events rows (the same for every subject)."""
    clips, events = [], {}
    for run, timing in release.timing.items():
        rows = []
        for block in timing.blocks:
            if block.is_rest:
                rows.append((block.start, block.duration, "rest", None, block.label))
            elif block is not timing.test_clip:
                stim = f"movie{run}_clip{block.clip}.mp4"
                clips.append(Clip(stim, "train", run, block.start, block.end, [block.label]))
                rows.append((block.start, block.duration, "clip", stim, block.label))
        events[run] = rows
    test = {run: timing.test_clip for run, timing in release.timing.items()}
    length = min(block.duration for block in test.values())
    # Each viewing's first TR is the first at or after its onset (prep's rule); all must cover
    # the same number of whole TRs, which the shortest viewing decides.
    first = {
        run: movie_blocks(pd.DataFrame({"onset": [b.start], "duration": [length], "stim_file": [TEST_STIMULUS]}),
                          TR, float("inf"), release.timing_path)[0]
        for run, b in test.items()
    }
    n_tr = min(block.n_tr for block in first.values())
    for run, block in test.items():
        duration = round(first[run].movie_start + n_tr * TR, 6)
        events[run].append((block.start, duration, "test_clip", TEST_STIMULUS, block.label))
    source = min(test)
    clips.append(Clip(TEST_STIMULUS, "test", source, test[source].start, test[source].start + length,
                      [test[run].label for run in sorted(test)]))
    tables = {}
    for run, rows in events.items():
        tables[run] = pd.DataFrame(sorted(rows, key=lambda row: row[0]),
                                   columns=["onset", "duration", "trial_type", "stim_file", "hcp_block"])
        tables[run] = tables[run].round(6)
        # prep's own rule must find at least one whole TR in every clip.
        movie_blocks(tables[run].dropna(subset=["stim_file"]), TR, float("inf"), release.timing_path)
    return clips, tables


def _cut_clips(stage, release, clips, progress):
    for run in progress_bar(sorted(release.movies), desc="cutting clips", enabled=progress, unit="movie"):
        mine = [clip for clip in clips if clip.run == run]
        counts = cut_movie(release.movies[run],
                           [(c.start, c.end, stage.path(f"stimuli/{c.stim_file}")) for c in mine])
        for clip, count in zip(mine, counts):
            clip.n_frames = count


def _write_run(stage, release, run, events, copy):
    sidecar = {
        "RepetitionTime": run.tr,
        "TaskDescription": "Natural movie viewing (HCP 7T MOVIE run): clips separated by 20 s REST "
                           "blocks (fixation), no response required.",
        "NumberOfVolumes": run.n_volumes,
        "PhaseEncodingDirectionHCP": RUNS[run.run][0],
        "Registration": REGISTRATION_NAMES[release.registration],
        "Sources": [run.source],
    }
    write_run(stage, DERIVATIVE_NAME, run.subject, run.stem, events, run.cifti, copy, f"movie{run.run}", sidecar)


def _write_raw_root(stage, release, subjects, copy):
    description = render_json(
        "dataset_description_raw.json",
        name="HCP-YA 7T movie watching (S1200), BIDS view",
        license="HCP WU-Minn Open Access Data Use Terms",
        authors="WU-Minn HCP Consortium",
        description="neurocine convert-hcp7t: events and clips of the HCP 7T movie-watching runs",
        extra={"ReferencesAndLinks": [REFERENCE, RELEASE_URL], "HowToAcknowledge": ACKNOWLEDGEMENT},
    )
    write_json(stage.path("dataset_description.json"), description)
    pd.DataFrame({"participant_id": [f"sub-{s}" for s in subjects], "hcp_id": subjects}).to_csv(
        stage.path("participants.tsv"), sep="\t", index=False)
    write_readme(stage, "README_hcp7t.md", copy, version_folder=MOVIE_VERSIONS[release.movie_version][0],
                 registration=REGISTRATION_NAMES[release.registration], derivative=DERIVATIVE_NAME,
                 test=TEST_STIMULUS, record=RECORD_PATH)


def _write_derivative_root(stage, release):
    write_derivative_description(
        stage, DERIVATIVE_NAME, TEST_STIMULI,
        name="HCP-YA 7T movie watching, FIX-denoised CIFTI 91k (BIDS view)",
        pipeline=PIPELINE,
        version="S1200",
        description=f"HCP minimal preprocessing, FIX (hp2000_clean), {REGISTRATION_NAMES[release.registration]} "
                    "registration, 91,282 grayordinates; renamed to BIDS by neurocine convert-hcp7t",
        source=RELEASE_URL,
    )


def _write_record(stage, release, runs, clips, notes, copy):
    record = {
        "GeneratedBy": {"Name": "neurocine", "Version": __version__, "Command": "convert-hcp7t"},
        "Source": str(release.root.absolute()),
        "Mode": "copy" if copy else "symlink",
        "MovieVersion": release.movie_version,
        "Registration": release.registration,
        "TimingFile": release.relative(release.timing_path),
        "TimingSections": {f"run-{run}": t.name for run, t in sorted(release.timing.items())},
        "Movies": {f"run-{run}": release.relative(path) for run, path in sorted(release.movies.items())},
        "Subjects": sorted(f"sub-{s}" for s in release.subjects),
        "SubjectsNotSelected": release.not_selected,
        "Decisions": _decisions(release, copy),
        "Notes": notes,
        "Runs": [{"run": r.stem, "source": r.source, "n_volumes": r.n_volumes, "tr": r.tr} for r in runs],
        "Clips": [
            {"stim_file": c.stim_file, "split": c.split, "hcp_blocks": c.labels,
             "source": release.relative(release.movies[c.run]), "start": round(c.start, 6),
             "end": round(c.end, 6), "frames": c.n_frames}
            for c in clips
        ],
    }
    write_json(stage.path(RECORD_PATH), record)


def _decisions(release, copy):
    folder = MOVIE_VERSIONS[release.movie_version][0]
    return [
        "HCP subject <ID> becomes sub-<ID>; run tfMRI_MOVIE<N>_7T_<PE> becomes task-movie<N>_dir-<PE> "
        "(one run each, no session entity)",
        f"dtseries: {REGISTRATION_NAMES[release.registration]} registration "
        f"(*{REGISTRATIONS[release.registration]}.dtseries.nii, 91,282 grayordinates, TR 1 s), "
        + ("copied" if copy else "absolute symbolic links") + f", in derivatives/{DERIVATIVE_NAME}/; "
        "their contents are never changed",
        f"movies: the {release.movie_version}-2014-08-21 version ({folder}/) for every subject; the release "
        "says 147 subjects scanned before 2014-08-22 saw the earlier version",
        "timing: run-local seconds of the clip timing file = movie time (the mp4 starts with the run); "
        "REST blocks (label 0) are events rows with stim_file n/a, never samples",
        "each training clip N.M is cut into stimuli/movie<N>_clip<M>.mp4 (frames shown at or after its "
        "start and before its end, re-encoded H.264 crf 18, no sound); onset and duration as in the "
        "timing file",
        f"the last clip of every run is one repeated test clip: cut once from run {min(RUNS)}'s movie "
        f"into stimuli/{TEST_STIMULUS}, as long as the shortest of the runs' copies; each run's duration "
        "covers the same whole number of TRs from the first TR at or after its onset, so prep averages "
        "the four viewings",
        f"NeurocineTestStimuli = {TEST_STIMULI!r}: the repeated clip is the test split; all other clips train",
    ]
