"""How honest are the intervals and p-values? Measured on simulated null data.

Each simulated dataset has runs of AR(1) windows (ρ = 0.9 by default, the autocorrelation of
BOLD at a TR of 2 s or so), with nothing linking predictions to targets:

- **coverage**: the per-window values are an AR(1) series of mean 0; an interval covers when it
  contains 0;
- **false positives**: predictions ``x_i`` and targets ``y_i`` are independent AR(1) vectors;
  the score of window i against target j is ``x_i · y_j``; a false positive is
  ``p ≤ alpha`` for "the true pairing scores higher than chance".

Both are measured for the i.i.d. methods neurocine used before (a bootstrap over windows, a
random permutation of the pairing) and for :mod:`.time_series_statistics` (block bootstrap
within runs, circular-shift null). ``benchmarks/null_false_positive_rate.py`` prints them.
"""

import numpy as np
from scipy.signal import lfilter

from .time_series_statistics import (block_length, bootstrap_interval, null_offsets, permutation_p_value,
                                     shift_partners, shift_spacing)


def ar1_runs(rng, lengths, rho, n_datasets, dims=None):
    """Stationary AR(1) series (unit variance), independent across runs and datasets.

    Parameters
    ----------
    rng : numpy Generator
    lengths : sequence of int
        Windows per run.
    rho : float
    n_datasets : int
    dims : int, optional
        Components per window (independent series).

    Returns
    -------
    ndarray ``[n_datasets, N]`` or ``[n_datasets, N, dims]``
    """
    shape = (n_datasets,) + ((dims,) if dims else ())
    scale = np.sqrt(1 - rho ** 2)
    parts = []
    for length in lengths:
        noise = rng.standard_normal(shape + (length,))
        noise[..., 0] /= scale  # x_0 = e_0: the stationary variance from the first window on
        parts.append(lfilter([scale], [1.0, -rho], noise, axis=-1))
    series = np.concatenate(parts, axis=-1)
    return np.moveaxis(series, 1, -1) if dims else series


def runs_of(lengths):
    """Run label of each window for runs of the given lengths."""
    return np.repeat(np.arange(len(lengths)), lengths)


def null_calibration(lengths, rho=0.9, n_datasets=300, n_boot=500, n_null=200, dims=4, alpha=0.05, seed=0):
    """False-positive rate and interval coverage of the old and the new methods on null data.

    Parameters
    ----------
    lengths : sequence of int
        Windows per run (e.g. ``[239] * 5`` for Wen 2018's test split).
    rho : float
        AR(1) coefficient between consecutive windows.
    n_datasets : int
    n_boot : int
        Bootstrap resamples per interval.
    n_null : int
        Null pairings per p-value (shifts or permutations).
    dims : int
        Components of the simulated predictions and targets.
    alpha : float
    seed : int

    Returns
    -------
    dict
        ``{"iid": {"false_positive_rate", "coverage"}, "blocks": {"false_positive_rate",
        "coverage", "median_block_length", "median_n_null"}, "n_datasets", "lengths", "rho", "alpha"}``
    """
    rng = np.random.default_rng(seed)
    runs = runs_of(lengths)
    n = len(runs)
    values = ar1_runs(rng, lengths, rho, n_datasets)
    predictions = ar1_runs(rng, lengths, rho, n_datasets, dims)
    targets = ar1_runs(rng, lengths, rho, n_datasets, dims)
    counts = {"iid": np.zeros(2), "blocks": np.zeros(2)}
    blocks, n_nulls = [], []
    for d in range(n_datasets):
        # Coverage of the true mean, 0.
        boot = values[d][rng.integers(0, n, (n_boot, n))].mean(axis=1)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        counts["iid"][1] += lo <= 0 <= hi
        block = block_length(values[d], runs)
        lo, hi = bootstrap_interval(values[d], runs, block, n_boot, rng)
        counts["blocks"][1] += lo <= 0 <= hi
        blocks.append(block)
        # False positives of "own pairing beats chance".
        scores = predictions[d] @ targets[d].T  # window i against target j
        own = np.diagonal(scores)
        observed = own.mean()
        rows = np.arange(n)
        null = scores[rows, np.argsort(rng.random((n_null, n)), axis=1)].mean(axis=1)
        counts["iid"][0] += permutation_p_value(observed, null) <= alpha
        spacing = shift_spacing(own, runs)
        partners = shift_partners(runs, null_offsets(runs, spacing, n_null, rng))
        null = scores[rows, partners].mean(axis=1)
        p = permutation_p_value(observed, null)
        counts["blocks"][0] += p is not None and p <= alpha
        n_nulls.append(len(partners))
    result = {name: {"false_positive_rate": float(c[0] / n_datasets), "coverage": float(c[1] / n_datasets)}
              for name, c in counts.items()}
    result["blocks"].update(median_block_length=float(np.median(blocks)), median_n_null=float(np.median(n_nulls)))
    result.update(n_datasets=n_datasets, lengths=list(lengths), rho=rho, alpha=alpha)
    return result
