"""Left against right: how much of a map lies in each hemisphere, beside the truth's.

A ratio far from the truth's is the first sign that a map shows something other than the
stimulus (e.g. token position: the encoder's fixed positions run over the store's column order,
which puts the left cortex first). Each map's left/right ratio is the ratio of its mean over the
selected left-cortex grayordinates to that over the right, with a 95 % percentile interval from
block-bootstrap resamples of the windows (the model held fixed).
"""

import numpy as np
import pandas as pd

from .spatial_nulls import part_of


def hemisphere_masks(voxel_grayordinates):
    """Boolean masks of the store columns in the left and in the right cortex."""
    g = np.asarray(voxel_grayordinates)
    part = np.where(g >= 0, part_of(g), -1)  # padding columns (-1) belong to no part
    return part == 0, part == 1


def hemisphere_ratio(column_values, voxel_grayordinates, runs=None, n_boot=2000, seed=0):
    """Left mean, right mean and their ratio for per-window column values ``[N, n_columns]``.

    Returns
    -------
    dict
        ``left``, ``right``, ``ratio`` and ``ci_low``/``ci_high`` (NaN without ``runs``).
    """
    from ..evaluation.time_series_statistics import block_bootstrap_means, block_length

    values = np.atleast_2d(np.asarray(column_values, np.float64))
    left, right = hemisphere_masks(voxel_grayordinates)
    if not left.any() or not right.any():  # a selection in one hemisphere only: no ratio
        return {"left": np.nan, "right": np.nan, "ratio": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    per_window = np.column_stack([values[:, left].mean(axis=1), values[:, right].mean(axis=1)])
    mean = per_window.mean(axis=0)
    interval = [np.nan, np.nan]
    if runs is not None and len(values) > 1:
        block = block_length(per_window.sum(axis=1), runs)
        replicates = block_bootstrap_means(per_window, runs, block, n_boot, seed)
        interval = np.percentile(replicates[:, 0] / replicates[:, 1], [2.5, 97.5]).tolist()
    return {"left": mean[0], "right": mean[1], "ratio": mean[0] / mean[1], "ci_low": interval[0],
            "ci_high": interval[1]}


def hemisphere_table(entries, voxel_grayordinates, runs=None, n_boot=2000, seed=0, truth=None):
    """The report's hemisphere table.

    Parameters
    ----------
    entries : dict
        ``{label: per-window column values [N, n_columns]}``.
    voxel_grayordinates : ndarray of int
    runs : ndarray ``[N]``, optional
    n_boot, seed : int
    truth : mapping, optional
        A simulation's truth (``group``, ``gains``): adds the truth's own rows (the share of
        stimulus-driven voxels and the mean summed gain of the selected voxels, each side).

    Returns
    -------
    pandas.DataFrame
        Columns ``map``, ``left``, ``right``, ``ratio``, ``ci_low``, ``ci_high``.
    """
    rows = [dict(map=label, **hemisphere_ratio(values, voxel_grayordinates, runs, n_boot, seed))
            for label, values in entries.items()]
    if truth is not None:
        g = np.asarray(voxel_grayordinates)
        real = g >= 0
        driven = np.zeros(len(g))
        driven[real] = np.asarray(truth["group"])[g[real]] > 0
        gain = np.zeros(len(g))
        gain[real] = np.asarray(truth["gains"], np.float64)[:, g[real]].sum(axis=0)
        for label, values in (("truth: share of stimulus-driven voxels", driven), ("truth: summed gain", gain)):
            rows.append(dict(map=label, **hemisphere_ratio(values[None], voxel_grayordinates)))
    return pd.DataFrame(rows, columns=["map", "left", "right", "ratio", "ci_low", "ci_high"])
