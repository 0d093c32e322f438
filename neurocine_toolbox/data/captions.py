"""Captions of the clip shown during each TR: BLIP's, or a dataset's own ``_clips.tsv`` sidecar.

Both describe the same instant: the TR's middle frame, index ``frames_per_tr // 2`` of its
frames, shown ``(frames_per_tr // 2) · TR / frames_per_tr`` seconds after the TR starts (the
middle of the TR when ``frames_per_tr`` is even, as with the default 6).
"""

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import torch

from ..errors import NeurocineError

CAPTION_SOURCES = ("model", "sidecar")
_SIDECAR_COLUMNS = ("onset", "duration", "caption")
# Clip onsets are written rounded to 1 µs; a frame time this close to an onset belongs to that clip.
_TIME_TOLERANCE = 1e-5


def middle_frame(frames_per_tr):
    """Index of the frame captioned for each TR: ``frames_per_tr // 2``."""
    return int(frames_per_tr) // 2


def first_tr_of_frame_rows(frame_rows, n_frame_rows):
    """For each frame row, the first TR row showing it (stores share frame rows between viewings).

    Raises
    ------
    NeurocineError
        A frame row that no TR row points to (the store is inconsistent).
    """
    first = np.full(n_frame_rows, -1, np.int64)
    rows = np.arange(len(frame_rows))
    first[frame_rows[::-1]] = rows[::-1]  # the last assignment wins: the smallest TR row
    if (first < 0).any():
        raise NeurocineError(f"frame row {int(np.argmax(first < 0))} is shown by no TR row (frame_rows)")
    return first


def sidecar_path(stimuli_dir, stim_file):
    """``stimuli/<movie>_clips.tsv`` of a ``stim_file`` value such as ``seg1.mp4``."""
    stim = Path(stim_file)
    return Path(stimuli_dir) / stim.parent / f"{stim.stem}_clips.tsv"


def read_clips_table(path):
    """Read and check a ``_clips.tsv`` sidecar (columns onset, duration, caption; seconds).

    Returns
    -------
    pandas.DataFrame
        Sorted by onset.

    Raises
    ------
    NeurocineError
        Missing file, missing column, or onsets/durations that are not numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise NeurocineError("no clip sidecar for this movie (needed by --captions sidecar; "
                             "use --captions model for BLIP captions)", path)
    try:
        table = pd.read_csv(path, sep="\t", keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as err:
        raise NeurocineError(f"not a readable TSV table ({str(err).splitlines()[0]})", path)
    missing = [c for c in _SIDECAR_COLUMNS if c not in table.columns]
    if missing:
        raise NeurocineError(f"clip sidecar lacks column(s) {', '.join(missing)} "
                             f"(needs {', '.join(_SIDECAR_COLUMNS)})", path)
    for column in ("onset", "duration"):
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any():
            raise NeurocineError(f"column {column} holds a value that is not a number (seconds)", path)
        table[column] = values
    return table.sort_values("onset", kind="stable").reset_index(drop=True)


def captions_at(table, times, path=None):
    """Caption of the clip on screen at each time (s from the movie's start).

    A clip covers ``onset <= t < onset + duration``.

    Raises
    ------
    NeurocineError
        A time that no clip covers.
    """
    onset = table["onset"].to_numpy(float)
    end = onset + table["duration"].to_numpy(float)
    times = np.asarray(times, float)
    index = np.searchsorted(onset, times + _TIME_TOLERANCE, side="right") - 1
    bad = (index < 0) | (times >= end[np.maximum(index, 0)] + _TIME_TOLERANCE)
    if bad.any():
        raise NeurocineError(f"no clip covers the movie time {times[np.argmax(bad)]:.3f} s", path)
    return [str(c) for c in table["caption"].to_numpy()[index]]


def sidecar_captions(store, stimuli_dir):
    """Ground-truth captions of every frame row of a store, from ``stimuli/<movie>_clips.tsv``.

    Parameters
    ----------
    store : Store
    stimuli_dir : Path
        The raw dataset's ``stimuli/`` folder (:func:`find_stimuli_dir`).

    Returns
    -------
    list of str
        One caption per frame row (``store.frames`` rows on disk, not TR rows).
    """
    n_frame_rows = store.n_frame_rows
    first = first_tr_of_frame_rows(store.frame_rows, n_frame_rows)
    offset = middle_frame(store.frames_per_tr) * store.tr / store.frames_per_tr
    times = store.stimulus_time[first].astype(float) + offset
    movies = store.stimulus[first]
    captions = [None] * n_frame_rows
    for movie in np.unique(movies):
        path = sidecar_path(stimuli_dir, store.stimulus_files[movie])
        rows = np.flatnonzero(movies == movie)
        for row, caption in zip(rows, captions_at(read_clips_table(path), times[rows], path)):
            captions[row] = caption
    return captions


def _source_dataset_roots(derivative_dir):
    """Local folders named by a derivative's ``SourceDatasets`` (``file://`` URLs or paths)."""
    try:
        description = json.loads((derivative_dir / "dataset_description.json").read_text())
    except (OSError, ValueError):
        return []
    roots = []
    for source in description.get("SourceDatasets") or []:
        url = str(source.get("URL", "")) if isinstance(source, dict) else ""
        parsed = urlparse(url)
        if parsed.scheme == "file":
            roots.append(Path(unquote(parsed.path)))
        elif not parsed.scheme and url:
            roots.append((derivative_dir / url).resolve())
    return roots


def find_stimuli_dir(store_path, bids_dir=None):
    """Find the raw dataset's ``stimuli/`` folder for a store.

    Looks, in order, in ``bids_dir`` if given; in the folders named by ``SourceDatasets`` in the
    derivative's ``dataset_description.json`` (prep writes the BIDS root's ``file://`` URL
    there); and in the BIDS root above ``derivatives/`` when the store sits in
    ``BIDS_DIR/derivatives/<name>/``.

    Parameters
    ----------
    store_path : Path
        ``…/sub-XX/func/sub-XX_split-…_desc-neurocine_bold.h5``.
    bids_dir : str or Path, optional

    Returns
    -------
    Path

    Raises
    ------
    NeurocineError
        No ``stimuli/`` folder found.
    """
    if bids_dir is not None:
        stimuli = Path(bids_dir) / "stimuli"
        if not stimuli.is_dir():
            raise NeurocineError("no stimuli/ folder in this BIDS dataset", bids_dir)
        return stimuli
    store_path = Path(store_path).absolute()
    candidates = []
    if len(store_path.parents) > 2:
        derivative_dir = store_path.parents[2]
        candidates += _source_dataset_roots(derivative_dir)
        if derivative_dir.parent.name == "derivatives":
            candidates.append(derivative_dir.parent.parent)
    for root in candidates:
        if (root / "stimuli").is_dir():
            return root / "stimuli"
    looked = ", ".join(str(c) for c in candidates) or "nowhere"
    raise NeurocineError(f"cannot find the raw dataset's stimuli/ folder for sidecar captions (looked in "
                         f"{looked}); give the BIDS folder with --bids-dir", store_path)


@torch.no_grad()
def blip_captions(blip, images, max_new_tokens):
    """Caption a batch of images with BLIP (greedy decoding, deterministic).

    Parameters
    ----------
    blip : BlipComponents
    images : ndarray, uint8 ``[n, H, W, 3]``
    max_new_tokens : int
        Longest caption in tokens (config ``embedding.max_caption_tokens``).

    Returns
    -------
    list of str
    """
    model = blip.model
    inputs = blip.processor(images=list(images), return_tensors="pt")
    pixels = inputs["pixel_values"].to(device=model.device, dtype=model.dtype)
    ids = model.generate(pixel_values=pixels, max_new_tokens=int(max_new_tokens), num_beams=1, do_sample=False)
    return [c.strip() for c in blip.processor.batch_decode(ids, skip_special_tokens=True)]
