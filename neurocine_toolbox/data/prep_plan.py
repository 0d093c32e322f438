"""Plan a subject's prep before any heavy work: check every input, lay out the store rows.

Everything that can be wrong with the input (files, TRs, events, movies) is found here, so
``prep`` stops with one line before it writes anything.
"""

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..bids.events import movie_blocks, read_movie_events
from ..bids.layout import is_test_stimulus, movie_runs
from ..errors import NeurocineError
from .cifti import read_header
from .video import probe_movie

log = logging.getLogger("neurocine")

# Sidecar and file TRs may differ by rounding only.
_TR_TOLERANCE = 1e-3


@dataclass
class PlannedRun:
    """A run to read: its file, TR, volumes and the movie blocks it holds."""

    name: str
    dtseries: Path
    events: Path
    tr: float
    n_volumes: int
    blocks: list

    @property
    def span(self):
        """First and one-past-last volume used by any block (the trimmed run)."""
        return min(b.first_tr for b in self.blocks), max(b.first_tr + b.n_tr for b in self.blocks)


@dataclass
class StoreRun:
    """A run of the store: one viewing of a movie, or the average of its viewings."""

    stim_file: str
    n_tr: int
    movie_start: float
    sources: list = field(default_factory=list)  # (PlannedRun, MovieBlock) pairs
    first_row: int = 0
    first_frame_row: int = 0


@dataclass
class SplitPlan:
    """The store runs of one split, with row and frame-row offsets assigned."""

    split: str
    runs: list
    n_rows: int = 0
    n_frame_rows: int = 0
    stimulus_files: list = field(default_factory=list)


@dataclass
class SubjectPlan:
    """All a subject's prep needs: runs to read, movies to decode, store layouts."""

    subject: str
    tr: float
    runs: list
    movies: dict  # stim_file -> MovieInfo
    splits: dict  # "train"/"test" -> SplitPlan


def natural_key(text):
    """Sort key that puts seg2 before seg10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _check_tr(run, header):
    if run.tr is None:
        log.warning("%s: no RepetitionTime in its sidecar; using the CIFTI time step %.3f s", run.dtseries.name, header.tr)
        return header.tr
    if abs(run.tr - header.tr) > _TR_TOLERANCE:
        raise NeurocineError(
            f"TR mismatch: the sidecar says {run.tr:g} s but the CIFTI time axis says {header.tr:g} s",
            run.dtseries,
        )
    return run.tr


def plan_subject(layout, subject, test_glob, train_repeats="average", detrend_order=4):
    """Check a subject's inputs and lay out its train and test stores.

    Parameters
    ----------
    layout : bids.BIDSLayout
    subject : str
        Label without ``sub-``.
    test_glob : str
        Glob on ``stim_file`` naming the test split.
    train_repeats : {"average", "separate"}
        Average the training viewings of a movie, or keep each as its own run. Test viewings
        are always averaged.

    Returns
    -------
    SubjectPlan
    """
    planned = []
    for run in movie_runs(layout, subject):
        header = read_header(run.dtseries)
        tr = _check_tr(run, header)
        blocks = movie_blocks(read_movie_events(run.events), tr, header.n_volumes, run.events)
        planned.append(PlannedRun(run.name, run.dtseries, run.events, tr, header.n_volumes, blocks))
        start, stop = planned[-1].span
        if stop - start <= detrend_order + 1:
            raise NeurocineError(
                f"only {stop - start} TRs show a movie: too few to remove an order-{detrend_order} "
                "trend (see --detrend-order)", run.events)
    trs = sorted({round(r.tr, 6) for r in planned})
    if len(trs) > 1:
        raise NeurocineError(f"sub-{subject}'s runs have different TRs ({trs}); prep them separately", layout.root)
    tr = planned[0].tr

    movies = {}
    stimuli_dir = Path(layout.root) / "stimuli"
    for run in planned:
        for block in run.blocks:
            if block.stim_file not in movies:
                movies[block.stim_file] = probe_movie(stimuli_dir / block.stim_file)
            needed = block.movie_start + block.n_tr * tr
            info = movies[block.stim_file]
            # A frame lasts 1/fps: the last one covers up to the movie's duration.
            if info.duration + 1e-3 < needed - 0.5 / max(info.fps, 1.0):
                raise NeurocineError(
                    f"movie is shorter than its events say: {info.duration:.2f} s, but {run.events.name} "
                    f"shows it for {needed:.2f} s",
                    info.path,
                )

    groups = {"train": {}, "test": {}}
    lengths = {}
    for run in planned:
        for block in run.blocks:
            if lengths.setdefault(block.stim_file, block.n_tr) != block.n_tr:
                raise NeurocineError(
                    f"viewings of {block.stim_file} cover different numbers of TRs "
                    f"({lengths[block.stim_file]} and {block.n_tr}); they cannot be aligned",
                    run.events,
                )
            split = "test" if is_test_stimulus(block.stim_file, test_glob) else "train"
            separate = split == "train" and train_repeats == "separate"
            key = (block.stim_file, len(groups[split])) if separate else block.stim_file
            group = groups[split].setdefault(key, StoreRun(block.stim_file, block.n_tr, block.movie_start))
            group.sources.append((run, block))
    for split, runs in groups.items():
        if not runs:
            what = f"matches the test glob '{test_glob}'" if split == "test" else "is outside the test split"
            raise NeurocineError(f"no movie of sub-{subject} {what}; check --test-stimuli", layout.root)
    splits = {split: _layout_rows(split, list(runs.values())) for split, runs in groups.items()}
    return SubjectPlan(subject, tr, planned, movies, splits)


def _layout_rows(split, runs):
    runs.sort(key=lambda r: (natural_key(r.stim_file), [s[0].name for s in r.sources]))
    plan = SplitPlan(split, runs)
    plan.stimulus_files = sorted({r.stim_file for r in runs}, key=natural_key)
    frame_offsets = {}
    for run in runs:
        run.first_row = plan.n_rows
        plan.n_rows += run.n_tr
        if run.stim_file not in frame_offsets:
            # Every viewing of a movie shares one copy of its frames.
            frame_offsets[run.stim_file] = plan.n_frame_rows
            plan.n_frame_rows += run.n_tr
        run.first_frame_row = frame_offsets[run.stim_file]
    return plan


def frame_times(run, tr, frames_per_tr):
    """Movie times of the frames of every TR of a store run, ``[n_tr, frames_per_tr]``.

    Frames are sampled evenly within each TR, starting at the TR's start (6 per 2 s TR = 3 fps).
    """
    offsets = np.arange(frames_per_tr) * (tr / frames_per_tr)
    starts = run.movie_start + np.arange(run.n_tr) * tr
    return starts[:, None] + offsets[None, :]
