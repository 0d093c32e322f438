"""Which map heads the report: attention or attribution, chosen on validation windows by deletion.

A map that says where the model reads should name the voxels whose loss hurts the model most.
For each candidate map (made from the validation windows, never the split the report maps), the
deletion test zeroes the map's top ``share`` of columns in every validation window and measures
how much the cosine similarity between the encoder's pooled embedding and the window's CLIP
target drops, minus the drop when as many columns are zeroed at random (the mean over
``n_random`` random sets). The map with the larger excess drop heads the report; both excesses,
and their paired difference, get 95 % block-bootstrap intervals over windows (circular blocks
within runs, :mod:`~neurocine_toolbox.evaluation.time_series_statistics`).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .attribution import target_similarity


@dataclass
class HeadlineChoice:
    """The deletion test's result.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate: ``map``, ``drop_top`` (mean similarity drop, top columns zeroed),
        ``drop_random``, ``excess`` (their difference), ``ci_low``/``ci_high`` (of ``excess``).
    difference : dict
        ``first``, ``second`` (candidate names), ``mean``, ``ci_low``, ``ci_high`` of the
        per-window difference of their excess drops.
    chosen : str
        The candidate with the larger excess drop.
    n_windows : int
    share : float
    """

    table: pd.DataFrame
    difference: dict
    chosen: str
    n_windows: int
    share: float


def _zeroed(windows, columns):
    out = np.array(windows, np.float32, copy=True)
    out[..., columns] = 0.0
    return out


def deletion_drops(encoder, windows, targets, column_scores, share=0.1, n_random=5, batch_size=8, seed=0):
    """Per-window similarity drops when each map's top columns, or random ones, are zeroed.

    Parameters
    ----------
    encoder : FMRIEncoder
    windows : ndarray ``[N, w, n_columns]``
    targets : ndarray ``[N, d]``
    column_scores : dict
        ``{name: float [n_columns]}``; higher = more important.
    share : float
        Share of columns zeroed.
    n_random : int
    batch_size, seed : int

    Returns
    -------
    top : dict ``{name: float64 [N]}``
    random : float64 ``[N]``
    """
    n_columns = windows.shape[-1]
    k = max(1, int(round(share * n_columns)))
    base = target_similarity(encoder, windows, targets, batch_size)
    top = {}
    for name, scores in column_scores.items():
        chosen = np.argsort(-np.nan_to_num(np.asarray(scores, np.float64), nan=-np.inf), kind="stable")[:k]
        top[name] = base - target_similarity(encoder, _zeroed(windows, chosen), targets, batch_size)
    rng = np.random.default_rng(seed)
    random = np.mean([base - target_similarity(encoder, _zeroed(windows, rng.choice(n_columns, k, replace=False)),
                                               targets, batch_size) for _ in range(n_random)], axis=0)
    return top, random


def choose_headline(encoder, windows, targets, runs, column_scores, share=0.1, n_boot=2000, seed=0, batch_size=8):
    """Run the deletion test on validation windows and choose the headline map.

    Parameters
    ----------
    encoder, windows, targets
        As :func:`deletion_drops`; the windows are the validation split's.
    runs : ndarray ``[N]``
        Each window's run (windows in time order), for the block bootstrap.
    column_scores : dict
        Two candidates ``{name: float [n_columns]}``, made from these windows.
    share : float
    n_boot, seed, batch_size : int

    Returns
    -------
    HeadlineChoice
    """
    from ..evaluation.time_series_statistics import block_length, bootstrap_interval

    top, random = deletion_drops(encoder, windows, targets, column_scores, share, batch_size=batch_size, seed=seed)
    names = list(column_scores)
    excess = np.stack([top[name] - random for name in names], axis=1)  # [N, candidates]
    difference = excess[:, 0] - excess[:, 1]
    block = block_length(difference, runs)
    intervals = bootstrap_interval(np.column_stack([excess, difference]), runs, block, n_boot, seed)
    table = pd.DataFrame({"map": names, "drop_top": [float(top[n].mean()) for n in names],
                          "drop_random": float(random.mean()), "excess": excess.mean(axis=0),
                          "ci_low": intervals[0, :2], "ci_high": intervals[1, :2]})
    chosen = names[int(np.argmax(excess.mean(axis=0)))]
    diff = {"first": names[0], "second": names[1], "mean": float(difference.mean()),
            "ci_low": float(intervals[0, 2]), "ci_high": float(intervals[1, 2])}
    return HeadlineChoice(table, diff, chosen, len(windows), share)
