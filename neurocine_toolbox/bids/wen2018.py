"""Convert the Wen et al. 2018 release into the BIDS shape neurocine reads (docs/bids-layout.md).

The CIFTI files are linked (or copied) under BIDS names into a derivative folder; the timing
of each run goes into an events.tsv of the raw dataset. Only CIFTI headers are read, never the
data (about 0.3 s per 91k header: two minutes for the whole release when linking).

Trimming follows Wen's own code: a run of 245 volumes starts the 240-volume (8 min) movie
response at volume 1, a run of 246 at volume 2; 4 volumes follow the movie in both. The onset
in events.tsv carries this, so the data stay untouched.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .._version import __version__
from ..errors import NeurocineError
from ..utils.atomic import StagedOutput
from ..utils.progress import progress_bar
from .cifti_header import N_GRAYORDINATES, read_dtseries_header
from .conversion import (
    check_new_output, check_outside, place, write_derivative_description, write_readme, write_run,
)
from .templates import render_json, write_json
from .wen2018_layout import KNOWN_BAD_RUNS, Defect, scan_release

log = logging.getLogger("neurocine")

#: Volumes before and after the movie response, by the number of volumes in a run.
TRIM_BY_VOLUMES = {245: (1, 4), 246: (2, 4)}
#: Volumes of movie response in every run (8 min at TR 2 s).
MOVIE_VOLUMES = 240
#: TR of the experiment (Wen et al. 2018); files whose header says otherwise are recorded.
PUBLISHED_TR = 2.0
#: Not "fmriprep": these files come from the HCP minimal preprocessing pipelines.
DERIVATIVE_NAME = "wen2018-hcp"
PIPELINE = "Wen 2018 release (HCP minimal preprocessing)"
TEST_STIMULI = "test*.mp4"
AUTHORS = ["Haiguang Wen", "Junxing Shi", "Yizhen Zhang", "Kun-Han Lu", "Jiayue Cao", "Zhongming Liu"]
REFERENCE = (
    "Wen H, Shi J, Zhang Y, Lu K-H, Cao J, Liu Z (2018). Neural encoding and decoding with deep "
    "learning for dynamic natural vision. Cerebral Cortex 28(12):4136-4160."
)
RECORD_PATH = "code/neurocine_conversion.json"
#: PURR dataset DOIs: one per subject, one for the movies.
SUBJECT_DOIS = {1: "doi:10.4231/R7X63K3M", 2: "doi:10.4231/R7NS0S1F", 3: "doi:10.4231/R7J101BV"}
STIMULI_DOI = "doi:10.4231/R71Z42KK"


@dataclass
class PlannedRun:
    """A release run that will be converted, with what its header said."""

    subject: int
    segment: str
    repeat: int
    cifti: Path
    source: str  # path relative to the release root's parent
    n_volumes: int
    n_grayordinates: int
    tr: float
    trim_start: int
    trim_end: int

    @property
    def stem(self):
        return f"sub-{bids_subject(self.subject)}_task-{self.segment}_run-{self.repeat}"

    @property
    def onset(self):
        return self.trim_start * self.tr

    @property
    def duration(self):
        return MOVIE_VOLUMES * self.tr


@dataclass
class ConversionResult:
    """What :func:`convert_wen2018` wrote."""

    bids_dir: Path
    subjects: list
    runs: list
    defects: list

    @property
    def record(self):
        return self.bids_dir / RECORD_PATH


def bids_subject(number):
    """BIDS label of release subject ``number``: 1 -> ``"01"``."""
    return f"{int(number):02d}"


def trimming(n_volumes):
    """``(volumes before, volumes after)`` the 240-volume movie response, or None if unknown."""
    return TRIM_BY_VOLUMES.get(int(n_volumes))


def convert_wen2018(raw_dir, bids_dir, copy=False, subjects=None, progress=True):
    """Write a BIDS view of the Wen 2018 release.

    Parameters
    ----------
    raw_dir : str or Path
        ``video_fmri_dataset/`` or the folder holding it.
    bids_dir : str or Path
        New or empty output folder.
    copy : bool
        Copy the CIFTI and mp4 files instead of linking them (absolute symbolic links).
    subjects : iterable of int, optional
        Release subjects to convert (default: all found).
    progress : bool
        Show a progress bar while reading headers and writing.

    Returns
    -------
    ConversionResult

    Raises
    ------
    NeurocineError
        Missing release, non-empty ``bids_dir``, unreadable CIFTI header, nothing convertible.
        Known defects of the release are recorded in ``code/neurocine_conversion.json`` instead.
    """
    bids_dir = Path(bids_dir)
    check_new_output(bids_dir)
    release = scan_release(raw_dir, subjects)
    check_outside(release.root, bids_dir)
    defects = list(release.defects)
    runs = _plan(release, defects, progress)
    if not runs:
        raise NeurocineError("no run to convert (no CIFTI file with 245 or 246 volumes)", release.root)
    _check_stimuli(release, runs, defects)
    _log_defects(defects)

    with StagedOutput(bids_dir) as stage:
        _put_stimuli(stage, release, copy)
        # Only copying takes long enough to deserve a bar.
        for run in progress_bar(runs, desc="copying", enabled=progress and copy, unit="run"):
            _write_run(stage, run, copy)
        converted = sorted({run.subject for run in runs})
        _write_raw_root(stage, release, converted, copy)
        _write_derivative_root(stage, converted)
        _write_record(stage, release, runs, defects, copy)
        stage.commit()
    return ConversionResult(bids_dir=bids_dir, subjects=converted, runs=runs, defects=defects)


def _plan(release, defects, progress):
    """Read every selected run's CIFTI header and decide its trimming (or skip it)."""
    todo = [run for number in sorted(release.subjects) for run in release.subjects[number]]
    runs = []
    odd_tr, odd_size = defaultdict(list), defaultdict(list)
    for run in progress_bar(todo, desc="reading CIFTI headers", enabled=progress, unit="file"):
        source = release.relative(run.cifti)
        where = {"path": source, "subject": run.subject, "segment": run.segment, "repeat": run.repeat}
        reason = KNOWN_BAD_RUNS.get((run.subject, run.segment, run.repeat))
        if reason:
            defects.append(Defect("excluded_run", reason, "run not converted", **where))
            continue
        header = read_dtseries_header(run.cifti)
        if not header.tr > 0:
            raise NeurocineError(f"time step of {header.tr} s in its header is not a usable TR", run.cifti)
        trim = trimming(header.n_volumes)
        if trim is None:
            defects.append(
                Defect("unexpected_volume_count",
                       f"{header.n_volumes} volumes; only 245 and 246 have a documented trimming",
                       "run skipped", **where)
            )
            continue
        if abs(header.tr - PUBLISHED_TR) > 1e-6:
            odd_tr[header.tr].append(source)
        if header.n_grayordinates != N_GRAYORDINATES:
            odd_size[header.n_grayordinates].append(source)
        runs.append(PlannedRun(run.subject, run.segment, run.repeat, run.cifti, source,
                               header.n_volumes, header.n_grayordinates, header.tr, *trim))
    for tr, paths in sorted(odd_tr.items()):
        defects.append(
            Defect("unexpected_tr", f"{len(paths)} run(s) have TR {tr} s in the header, not {PUBLISHED_TR} s",
                   "the header's TR is used for events and sidecars", paths[0])
        )
    for number in sorted(set(release.subjects) - {run.subject for run in runs}):
        defects.append(
            Defect("subject_without_runs", "no run of this subject could be converted",
                   "left out of participants.tsv", f"{release.root.name}/subject{number}", number)
        )
    for size, paths in sorted(odd_size.items()):
        defects.append(
            Defect("unexpected_grayordinates",
                   f"{len(paths)} run(s) have {size} grayordinates, not the HCP 91k {N_GRAYORDINATES}",
                   "converted; named den-91k all the same", paths[0])
        )
    return runs


def _check_stimuli(release, runs, defects):
    if not release.stimuli:
        return  # the missing folder itself is already recorded
    for name in sorted({f"{run.segment}.mp4" for run in runs} - set(release.stimuli)):
        defects.append(
            Defect("missing_stimulus", f"{name} is not in stimuli/ though runs show it",
                   "events still name it; add it to BIDS_DIR/stimuli/",
                   release.relative(release.root / "stimuli" / name))
        )


def _log_defects(defects):
    """One line per defect, or per kind when a kind is frequent (the record has them all)."""
    # What the release documents (or peers know) is routine; anything else deserves a warning.
    routine = {"missing_segment", "missing_run", "misnamed_file", "excluded_run", "unexpected_grayordinates"}
    by_kind = defaultdict(list)
    for defect in defects:
        by_kind[defect.kind].append(defect)
    for kind, found in by_kind.items():
        emit = log.info if kind in routine else log.warning
        if len(found) > 3:
            emit(f"{len(found)} x {kind.replace('_', ' ')}, e.g. {found[0].path}: {found[0].message} "
                 f"({found[0].action}); all listed in {RECORD_PATH}")
            continue
        for defect in found:
            emit(f"{defect.path}: {defect.message} ({defect.action})")


def _put_stimuli(stage, release, copy):
    for name, path in sorted(release.stimuli.items()):
        place(path, stage.path(f"stimuli/{name}"), copy)


def _write_run(stage, run, copy):
    events = pd.DataFrame({
        "onset": [run.onset],
        "duration": [run.duration],
        "trial_type": ["movie"],
        "stim_file": [f"{run.segment}.mp4"],
    })
    sidecar = {
        "RepetitionTime": run.tr,
        "NumberOfVolumes": run.n_volumes,
        "VolumesTrimmedAtStart": run.trim_start,
        "VolumesTrimmedAtEnd": run.trim_end,
        "Sources": [run.source],
    }
    write_run(stage, DERIVATIVE_NAME, bids_subject(run.subject), run.stem, events, run.cifti, copy, run.segment,
              sidecar)


def _write_raw_root(stage, release, subjects, copy):
    description = render_json(
        "dataset_description_raw.json",
        name="Wen et al. 2018, dynamic natural vision (BIDS view)",
        license="CC0-1.0",
        authors="",
        description="neurocine convert-wen2018: events and stimuli of the Purdue PURR release",
        extra={
            "Authors": AUTHORS,
            "ReferencesAndLinks": [REFERENCE, STIMULI_DOI]
            + [SUBJECT_DOIS[s] for s in subjects if s in SUBJECT_DOIS],
        },
    )
    write_json(stage.path("dataset_description.json"), description)
    participants = pd.DataFrame({
        "participant_id": [f"sub-{bids_subject(s)}" for s in subjects],
        "release_folder": [f"subject{s}" for s in subjects],
    })
    participants.to_csv(stage.path("participants.tsv"), sep="\t", index=False)
    write_readme(stage, "README_wen2018.md", copy, source=release.root.name, derivative=DERIVATIVE_NAME,
                 record=RECORD_PATH)


def _write_derivative_root(stage, subjects):
    write_derivative_description(
        stage, DERIVATIVE_NAME, TEST_STIMULI,
        name="Wen et al. 2018, HCP-preprocessed CIFTI 91k (BIDS view)",
        pipeline=PIPELINE,
        version="PURR release",
        description="HCP minimal preprocessing by the authors; renamed to BIDS by neurocine convert-wen2018",
        source="",
        extra={"SourceDatasets": [{"DOI": SUBJECT_DOIS[s]} for s in subjects if s in SUBJECT_DOIS]},
    )


def _write_record(stage, release, runs, defects, copy):
    record = {
        "GeneratedBy": {"Name": "neurocine", "Version": __version__, "Command": "convert-wen2018"},
        "Source": str(release.root.absolute()),
        "Mode": "copy" if copy else "symlink",
        "Subjects": {f"sub-{bids_subject(s)}": f"subject{s}" for s in sorted({r.subject for r in runs})},
        "SubjectsNotSelected": [f"subject{s}" for s in release.not_selected],
        "Decisions": _decisions(copy),
        "Defects": [d.as_dict() for d in defects],
        "Runs": [
            {
                "run": run.stem,
                "source": run.source,
                "n_volumes": run.n_volumes,
                "tr": run.tr,
                "trimmed_start": run.trim_start,
                "trimmed_end": run.trim_end,
                "onset": run.onset,
                "duration": run.duration,
            }
            for run in runs
        ],
    }
    write_json(stage.path(RECORD_PATH), record)


def _decisions(copy):
    return [
        "subject<N> becomes sub-0N, segment <seg> becomes task-<seg>, repeat <r> becomes run-<r>",
        "timing: 245-volume runs start the 240-volume movie response at volume 1, 246-volume runs at "
        "volume 2 (Wen's code drops 1 or 2 volumes before and 4 after); written as the events onset "
        "(volumes before x TR) with duration 240 x TR; this is Wen's pairing of volumes with movie "
        "time, not the physical movie start on the scanner clock; other volume counts are skipped",
        f"CIFTI files go to derivatives/{DERIVATIVE_NAME}/ (HCP minimal preprocessing by the authors, "
        "not fMRIPrep) as *_space-fsLR_den-91k_bold.dtseries.nii",
        ("files are copied" if copy else "files are absolute symbolic links to the release")
        + "; their contents are never changed",
        "MNI and raw volumes (mni/, raw/) are listed and checked for names, not converted",
        "runs that peers exclude (subject3 test2 repeat 9) are not converted",
        f"NeurocineTestStimuli = {TEST_STIMULI!r}: test1-5 are the test split",
    ]
