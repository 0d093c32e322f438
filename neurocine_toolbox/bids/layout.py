"""Find the movie runs of a BIDS dataset with pybids: dtseries, TR, events and stimuli."""

import fnmatch
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NeurocineError

log = logging.getLogger("neurocine")

# Entities that identify a run in both the raw dataset and its derivatives.
_RUN_ENTITIES = ("subject", "session", "task", "acquisition", "ceagent", "direction", "run")


@dataclass
class MovieRun:
    """One fMRI run of movie viewing: its dtseries, TR and the movies it showed."""

    subject: str
    dtseries: Path
    events: Path
    tr: float
    entities: dict = field(default_factory=dict)

    @property
    def name(self):
        """A short BIDS-like name, e.g. ``sub-01_task-seg1_run-1``."""
        keys = {"subject": "sub", "session": "ses", "task": "task", "acquisition": "acq", "run": "run"}
        return "_".join(f"{short}-{self.entities[k]}" for k, short in keys.items() if k in self.entities)


def _check_description(folder, what):
    desc = Path(folder) / "dataset_description.json"
    if not desc.is_file():
        raise NeurocineError(f"missing dataset_description.json ({what} must have one)", desc)
    try:
        return json.loads(desc.read_text())
    except ValueError as err:
        raise NeurocineError(f"not valid JSON ({err})", desc)


def derivative_folders(bids_dir):
    """Derivative pipelines under ``derivatives/`` that hold CIFTI dtseries files."""
    root = Path(bids_dir) / "derivatives"
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if next(folder.rglob("*.dtseries.nii"), None) is not None:
            _check_description(folder, "a BIDS derivative")
            found.append(folder)
    return found


def open_layout(bids_dir, database_dir=None):
    """Index a BIDS dataset and its dtseries derivatives with pybids.

    Parameters
    ----------
    bids_dir : str or Path
    database_dir : str or Path, optional
        Where pybids caches its index (``--bids-database-dir``); reused when present.

    Returns
    -------
    bids.BIDSLayout
    """
    from bids import BIDSLayout

    bids_dir = Path(bids_dir)
    if not bids_dir.is_dir():
        raise NeurocineError("BIDS folder not found", bids_dir)
    _check_description(bids_dir, "a BIDS dataset")
    derivatives = derivative_folders(bids_dir)
    if not derivatives:
        raise NeurocineError("no derivative under derivatives/ holds CIFTI dtseries (*.dtseries.nii)", bids_dir)
    try:
        return BIDSLayout(
            bids_dir,
            derivatives=[str(d) for d in derivatives],
            validate=False,
            database_path=None if database_dir is None else str(database_dir),
        )
    except Exception as err:
        raise NeurocineError(f"pybids cannot index it ({type(err).__name__}: {err})", bids_dir)


def _key(entities):
    return tuple((k, str(entities[k])) for k in _RUN_ENTITIES if k in entities)


def movie_runs(layout, subject):
    """List a subject's movie runs: each dtseries paired with its raw events.tsv.

    Runs without events (e.g. resting state) are skipped with a message; a run with several
    candidate dtseries files is an error (keep one derivative pipeline).

    Returns
    -------
    list of MovieRun
        Sorted by their BIDS names.
    """
    if subject not in layout.get_subjects():
        found = ", ".join(layout.get_subjects()) or "none"
        raise NeurocineError(f"no subject '{subject}' in the dataset (found: {found})", layout.root)
    files = layout.get(subject=subject, suffix="bold", extension=".dtseries.nii")
    if not files:
        raise NeurocineError(f"no CIFTI dtseries (*_bold.dtseries.nii) for sub-{subject} under derivatives/", layout.root)
    events = {
        _key(f.get_entities()): Path(f.path)
        for f in layout.get(subject=subject, suffix="events", extension=".tsv", scope="raw")
    }
    by_run = {}
    for f in files:
        by_run.setdefault(_key(f.get_entities()), []).append(f)
    runs = []
    for key, candidates in sorted(by_run.items()):
        if len(candidates) > 1:
            dense = [c for c in candidates if c.get_entities().get("den") == "91k"]
            if len(dense) != 1:
                names = ", ".join(Path(c.path).name for c in candidates)
                raise NeurocineError(f"several dtseries for one run ({names}); keep one derivative pipeline", candidates[0].dirname)
            candidates = dense
        bold = candidates[0]
        if key not in events:
            log.info("skipping %s: no events.tsv names a movie for it", Path(bold.path).name)
            continue
        metadata = layout.get_metadata(bold.path)
        tr = metadata.get("RepetitionTime")
        runs.append(
            MovieRun(
                subject=subject,
                dtseries=Path(bold.path),
                events=events[key],
                tr=None if tr is None else float(tr),
                entities=dict(key),
            )
        )
    if not runs:
        raise NeurocineError(f"no dtseries of sub-{subject} has a matching events.tsv", layout.root)
    return runs


def test_stimuli_glob(layout, override=None):
    """The glob on ``stim_file`` naming the test split.

    ``override`` (``--test-stimuli``) wins; otherwise the ``NeurocineTestStimuli`` key that
    ``simulate`` and ``convert-wen2018`` write in their derivative's dataset_description.json.
    """
    if override:
        return override
    for folder in layout.derivatives.values():
        value = folder.get_dataset_description().get("NeurocineTestStimuli")
        if value:
            return value
    raise NeurocineError(
        "no test split defined: pass --test-stimuli GLOB (e.g. 'test*.mp4')", layout.root
    )


def is_test_stimulus(stim_file, pattern):
    """Whether ``stim_file`` matches the test-split glob (on its path or its file name)."""
    return fnmatch.fnmatch(stim_file, pattern) or fnmatch.fnmatch(Path(stim_file).name, pattern)
