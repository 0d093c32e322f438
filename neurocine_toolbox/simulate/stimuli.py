"""Plan, draw and encode the simulated movies, and describe their clips.

A movie is a sequence of clips of 2-6 s (seeded); each clip shows one visual class
(:mod:`.classes`) with a random size, start position, speed and background shade.
Classes are dealt as successive shuffled decks, so every class appears about equally often
and no class follows itself.
"""


import numpy as np
import pandas as pd

from ..data.video_writing import mp4_writer
from .drawing import Clip, draw_clip
from .features import frame_features

#: Column order of ``stimuli/<name>_clips.tsv``.
CLIP_COLUMNS = ("onset", "duration", "class", "class_name", "shape", "colour", "direction", "caption")


def clip_lengths(rng, n_frames, fps, min_seconds, max_seconds):
    """Clip lengths in frames, each within [min, max] seconds, summing to ``n_frames``."""
    lo, hi = round(min_seconds * fps), round(max_seconds * fps)
    lengths, left = [], n_frames
    while left > hi:
        # Keep at least ``lo`` frames for the last clip.
        top = min(hi, left - lo)
        lengths.append(int(rng.integers(lo, top + 1)))
        left -= lengths[-1]
    lengths.append(left)  # in [lo, hi] unless the whole movie is shorter than ``lo``
    return lengths


def class_sequence(rng, n, n_classes):
    """``n`` class indices dealt as shuffled decks of ``n_classes``, never one twice in a row."""
    out = []
    while len(out) < n:
        deck = list(rng.permutation(n_classes))
        if out and deck[0] == out[-1]:
            deck.append(deck.pop(0))  # no class twice in a row
        out += [int(c) for c in deck]
    return out[:n]


def plan_clips(rng, seconds, config):
    """Draw the clips of one movie.

    Parameters
    ----------
    rng : numpy.random.Generator
    seconds : float
        Movie duration.
    config : SimulationConfig

    Returns
    -------
    list of Clip
    """
    fps, size = config.fps, config.movie_size
    n_frames = round(seconds * fps)
    lengths = clip_lengths(rng, n_frames, fps, config.clip_min_seconds, config.clip_max_seconds)
    classes = class_sequence(rng, len(lengths), config.n_classes)
    clips, start = [], 0
    for length, cls in zip(lengths, classes):
        clips.append(Clip(
            start=start, n_frames=length, class_index=cls,
            radius=float(rng.uniform(0.12, 0.22) * size),
            x0=float(rng.uniform(0, size)), y0=float(rng.uniform(0, size)),
            speed=float(rng.uniform(0.08, 0.3)),
            background=float(rng.uniform(0.02, 0.2)),
        ))
        start += length
    return clips


def clips_table(clips, fps):
    """The ``_clips.tsv`` table of a movie (onsets and durations in seconds)."""
    rows = []
    for c in clips:
        vc = c.visual_class
        rows.append({
            "onset": round(c.start / fps, 6), "duration": round(c.n_frames / fps, 6),
            "class": c.class_index, "class_name": vc.name, "shape": vc.shape,
            "colour": vc.colour, "direction": vc.direction, "caption": vc.caption(),
        })
    return pd.DataFrame(rows, columns=list(CLIP_COLUMNS))


def write_movie(path, clips, config):
    """Draw the clips, encode them as H.264 mp4 (PyAV), and return their per-frame features.

    Frames are streamed from the drawing code to the encoder; the whole movie is never held
    in memory.

    Parameters
    ----------
    path : Path
        Output ``.mp4`` (written as is; the caller stages it).
    clips : list of Clip
    config : SimulationConfig

    Returns
    -------
    ndarray, float32 ``[n_frames, n_features]``
        Features of the frames as drawn, before compression (:mod:`.features`).
    """
    size, fps = config.movie_size, config.fps
    feats = []
    with mp4_writer(path, fps, size, size) as write:
        for clip in clips:
            for frames in draw_clip(clip, size, fps):
                feats.append(frame_features(frames, clip, config.n_classes, config.grid))
                for frame in frames:
                    write(frame)
    return np.concatenate(feats, axis=0)

