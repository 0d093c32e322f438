"""Intervals and p-values for per-window scores of a time series (fMRI windows in runs).

Consecutive fMRI windows overlap and BOLD is autocorrelated, so neighbouring windows' scores
are not independent: an i.i.d. bootstrap over windows gives intervals that are too narrow and a
random permutation of the pairing gives p-values that are too small (on simulated null data
with AR(1) ρ = 0.9: see :mod:`.calibration` and docs/benchmarks.md). Every metric of neurocine
goes through this module instead:

- **Interval**: a circular block bootstrap. Blocks are consecutive windows of one run (wrapping
  around inside that run, never into another), their starts drawn uniformly among all windows
  of all runs, so a resample mixes runs in varying proportions and the spread between runs
  enters the interval. The autocorrelation length is arch's ``optimal_block_length``
  (Politis & White 2004, circular column) of the run-centred values, at least
  :data:`MIN_BLOCK_LENGTH` windows; blocks are :data:`BLOCKS_PER_AUTOCORRELATION` times as long.
  The interval is ``mean ± t(K − 1) · SE`` with the bootstrap standard error and K = N / block
  (:func:`bootstrap_interval` says why).
- **p-value**: a circular-shift permutation within runs. In a null pairing every run's windows
  are paired with the same run's targets shifted circularly by an offset; the offsets come from
  a lattice of spacing at least the autocorrelation length, so neighbours of the true pairing,
  which share its signal through autocorrelation, are never used, and the null pairings form a
  group (shifts by multiples of the spacing; exactly a group when the spacing divides the run's
  length, otherwise rounded to whole windows), which keeps the observed pairing exchangeable with
  them. Offsets drawn at random from ``[min_shift, L − min_shift]`` instead were measured
  anti-conservative (9 % false positives at α = 0.05 on five runs of 239 AR(1) ρ = 0.9 windows:
  the observed pairing is the only one whose neighbours are left out), and so were pairings
  that shift every run (9 %; 14 % on five runs of 60): a null pairing may leave some runs
  unshifted, and those windows are left out of the measured chance level (``partners`` of
  :func:`summarise`). ``p = (1 + #{null ≥ observed}) / (1 + n_null)``, one-sided. With short runs there are few
  shifts and the smallest possible p is large (3 runs of 13 windows: 1/8): that is what such
  data can show.

Hand-written here, and why: arch's block bootstraps (``CircularBlockBootstrap``,
``MovingBlockBootstrap``) resample one series, so their blocks would cross from one run (one
movie) into the next, and they draw one replicate per Python call; the index arithmetic below
keeps blocks inside runs and draws all replicates at once (a test checks it against arch on a
single run). arch has no circular-shift permutation.
"""

import itertools
import math
import warnings

import numpy as np

MIN_BLOCK_LENGTH = 5
"""Shortest block (and shift) in windows: BOLD stays correlated for about 10 s (5 TRs of 2 s)
even where a short series gives a smaller estimate."""

MIN_SHIFTS_PER_RUN = 3
"""Null shifts keep at least this many positions in the longest run (:func:`shift_spacing`)."""

BLOCKS_PER_AUTOCORRELATION = 3
"""Bootstrap blocks are this many times the estimated optimal length: blocks of the optimal
length (which minimises the error of the variance, not of the interval) covered the mean of
AR(1) ρ = 0.9 data in 91 % of datasets at Wen 2018's size (5 runs × 239 windows), three times
as long (with the t interval of :func:`bootstrap_interval`) in 95 %; docs/benchmarks.md."""


def check_runs(runs, n=None):
    """The run label of each window, checked: 1-D, ``n`` long, each run one contiguous stretch.

    Parameters
    ----------
    runs : array_like of int
        Run (or movie) of each window, windows in time order.
    n : int, optional
        Expected number of windows.

    Returns
    -------
    ndarray of int
    """
    runs = np.asarray(runs)
    if runs.ndim != 1 or (n is not None and len(runs) != n):
        raise ValueError(f"runs must be one label per window ({n} windows), not shape {runs.shape}")
    if len(runs) == 0:
        raise ValueError("no windows")
    changes = np.flatnonzero(runs[1:] != runs[:-1]) + 1
    if len(np.unique(runs)) != len(changes) + 1:
        raise ValueError("each run's windows must be consecutive (windows in time order, run after run)")
    return runs


def run_bounds(runs):
    """``(start, stop)`` of each run's stretch of windows, in order."""
    runs = check_runs(runs)
    edges = np.concatenate([[0], np.flatnonzero(runs[1:] != runs[:-1]) + 1, [len(runs)]])
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def autocorrelation_length(values, runs, minimum=MIN_BLOCK_LENGTH):
    """How many windows apart values stop sharing signal: arch's ``optimal_block_length``.

    The circular-bootstrap column of arch's estimate (Politis & White 2004, with Patton et al.'s
    correction) for the values centred within each run (run means would otherwise look like slow
    autocorrelation), rounded up, at least ``minimum`` and at most the longest run. It is the
    spacing of the null shifts; bootstrap blocks are :data:`BLOCKS_PER_AUTOCORRELATION` times it.

    Parameters
    ----------
    values : array_like ``[N]``
        Per-window values in time order.
    runs : array_like ``[N]``
    minimum : int

    Returns
    -------
    int
    """
    from arch.bootstrap import optimal_block_length

    values = np.asarray(values, float)
    bounds = run_bounds(check_runs(runs, len(values)))
    longest = max(stop - start for start, stop in bounds)
    centred = np.concatenate([values[a:b] - values[a:b].mean() for a, b in bounds])
    estimate = np.nan
    if len(centred) >= 8 and np.ptp(centred) > 0:
        with warnings.catch_warnings():  # arch warns on very short or degenerate series
            warnings.simplefilter("ignore")
            estimate = float(optimal_block_length(centred)["circular"].iloc[0])
    length = minimum if not np.isfinite(estimate) else max(minimum, int(np.ceil(estimate)))
    return int(max(1, min(length, longest)))


def shift_spacing(values, runs, minimum=MIN_BLOCK_LENGTH):
    """Spacing of the null shifts: :func:`autocorrelation_length`, but at most a third of the
    longest run (never below ``minimum``).

    The shifts' validity comes from their forming a group (every pairing's neighbours are left
    out alike), not from the spacing; the spacing only keeps null pairings apart. On a series
    with slow trends the Politis–White estimate can approach a whole run (41 windows in runs of
    45, measured on decoded clips' SSIM), which would leave no shift at all and no p-value; a
    third of a run keeps at least three positions per run. On AR(1) null data (ρ = 0.9, 1,500
    datasets each) the false-positive rate at α = 0.05 was 0.059 / 0.047 / 0.025 on 4 × 30,
    4 × 45 and 2 × 39 windows with this cap, 0.048 / 0.043 / 0.025 without it and
    0.069 / 0.051 / 0.025 with a quarter of a run.
    """
    bounds = run_bounds(check_runs(runs, len(values)))
    longest = max(stop - start for start, stop in bounds)
    return int(min(autocorrelation_length(values, runs, minimum), max(minimum, longest // MIN_SHIFTS_PER_RUN)))


def block_length(values, runs, minimum=MIN_BLOCK_LENGTH):
    """Bootstrap block length: :data:`BLOCKS_PER_AUTOCORRELATION` × :func:`autocorrelation_length`,
    at most the longest run."""
    bounds = run_bounds(check_runs(runs, len(values)))
    longest = max(stop - start for start, stop in bounds)
    return int(min(longest, BLOCKS_PER_AUTOCORRELATION * autocorrelation_length(values, runs, minimum)))


def _block_table(runs, block):
    """``table[c, j]``: the j-th window of the circular block that starts at window c (inside c's run)."""
    table = np.empty((len(runs), block), dtype=np.int64)
    for start, stop in run_bounds(runs):
        length = stop - start
        table[start:stop] = start + (np.arange(length)[:, None] + np.arange(block)) % length
    return table


def block_bootstrap_indices(runs, block, n_boot, seed=0):
    """Resampled window indices: circular blocks inside runs, starts drawn over all windows.

    Parameters
    ----------
    runs : array_like ``[N]``
    block : int
        Block length in windows.
    n_boot : int
    seed : int or numpy Generator

    Returns
    -------
    ndarray of int ``[n_boot, N]``
    """
    runs = check_runs(runs)
    n = len(runs)
    rng = np.random.default_rng(seed)
    n_blocks = -(-n // block)
    starts = rng.integers(0, n, size=(n_boot, n_blocks))
    return _block_table(runs, block)[starts].reshape(n_boot, n_blocks * block)[:, :n]


def bootstrap_interval(values, runs, block, n_boot=2000, seed=0):
    """95 % interval of the mean of each column of ``values`` from the block bootstrap.

    The standard error is the spread of the bootstrap means times ``sqrt(K / (K − 1))``, with
    ``K = N / block`` independent blocks (the resampled block means spread about the sample's
    mean, not the true one: the usual ``n − 1``), and the interval is ``mean ± t(K − 1) · SE``,
    Student's t because K is small (4 to 30 for fMRI test splits); it is then clipped to the
    range the values take. Percentile intervals of the same resamples covered less (docs/benchmarks.md).

    Parameters
    ----------
    values : array_like ``[N]`` or ``[N, m]``
        Several per-window series are resampled with the same blocks (so the interval of a
        difference agrees with those of its terms).
    runs : array_like ``[N]``
    block, n_boot : int
    seed : int or numpy Generator

    Returns
    -------
    ndarray ``[2]`` or ``[2, m]``
        Lower and upper bounds; NaN when the values hold fewer than 2 blocks (:func:`block_count`):
        one block resampled is the sample itself, and its "interval" would have zero width.
    """
    from scipy.stats import t as student_t

    values = np.asarray(values, float)
    runs = check_runs(runs, len(values))
    blocks = block_count(len(values), block)
    if blocks < 2:
        return np.full((2,) + values.shape[1:], np.nan)
    means = block_bootstrap_means(values, runs, block, n_boot, seed)
    se = means.std(axis=0, ddof=1) * np.sqrt(blocks / (blocks - 1))
    half = student_t.ppf(0.975, blocks - 1) * se
    mean = values.mean(axis=0)
    return np.stack([np.maximum(mean - half, values.min(axis=0)), np.minimum(mean + half, values.max(axis=0))])


def block_count(n, block):
    """K = N / block: how many independent blocks N windows hold (a fraction when N is not a multiple)."""
    return n / max(1, int(block))


def block_bootstrap_means(values, runs, block, n_boot, seed=0):
    """Means of :func:`block_bootstrap_indices` resamples, from block sums (no N-long resamples).

    A resample is ``K − 1`` whole blocks and the first ``N − (K − 1)·block`` windows of a last
    one, so its sum is a sum of K precomputed block sums; the same seed gives the same
    resamples as :func:`block_bootstrap_indices`.

    Parameters
    ----------
    values : array_like ``[N]`` or ``[N, m]``
    runs : array_like ``[N]``
    block, n_boot : int
    seed : int or numpy Generator

    Returns
    -------
    ndarray ``[n_boot]`` or ``[n_boot, m]``
    """
    values = np.asarray(values, float)
    runs = check_runs(runs, len(values))
    n = len(values)
    n_blocks = -(-n // block)
    last = n - (n_blocks - 1) * block
    table = _block_table(runs, block)
    full = values[table].sum(axis=1)  # [N(, m)]: the block starting at each window
    partial = values[table[:, :last]].sum(axis=1)
    starts = np.random.default_rng(seed).integers(0, n, size=(n_boot, n_blocks))
    return (full[starts[:, :-1]].sum(axis=1) + partial[starts[:, -1]]) / n


def shift_lattice(length, min_shift):
    """Offsets ``0, ≈L/K, ≈2L/K, …`` with ``K = ⌊L / min_shift⌋`` (spacing at least ``min_shift``)."""
    count = max(1, length // max(1, min_shift))
    return np.unique(np.round(np.arange(count) * length / count).astype(np.int64))


def null_offsets(runs, min_shift, n_null=1000, seed=0):
    """Per-run circular shifts of the null pairings: every combination when there are at most
    ``n_null``, else ``n_null`` drawn uniformly (never the true pairing, all offsets zero).

    Parameters
    ----------
    runs : array_like ``[N]``
    min_shift : int
        Spacing of the lattice of offsets (normally the block length).
    n_null : int
    seed : int or numpy Generator

    Returns
    -------
    ndarray of int ``[n_shifts, n_runs]``
        Zero rows only where no run is long enough for a shift (then none is returned).
    """
    lattices = [shift_lattice(stop - start, min_shift) for start, stop in run_bounds(runs)]
    sizes = [len(lattice) for lattice in lattices]
    if math.prod(sizes) - 1 <= n_null:
        combos = np.array(list(itertools.product(*lattices))[1:], dtype=np.int64).reshape(-1, len(sizes))
        return combos
    rng = np.random.default_rng(seed)
    picks = np.empty((0, len(sizes)), dtype=np.int64)
    while len(picks) < n_null:  # rejection of the all-zero row (probability 1/total)
        draw = np.stack([rng.integers(0, size, n_null) for size in sizes], axis=1)
        picks = np.concatenate([picks, draw[draw.any(axis=1)]])[:n_null]
    return np.stack([lattice[picks[:, r]] for r, lattice in enumerate(lattices)], axis=1)


def shift_partners(runs, offsets):
    """Partner of every window under per-run circular shifts.

    Parameters
    ----------
    runs : array_like ``[N]``
    offsets : array_like of int ``[S, n_runs]``

    Returns
    -------
    ndarray of int ``[S, N]``
        ``partners[s, i]``: the window whose target window i is paired with in shift s.
    """
    offsets = np.atleast_2d(np.asarray(offsets, dtype=np.int64))
    bounds = run_bounds(runs)
    parts = [start + (np.arange(stop - start)[None] + offsets[:, [r]]) % (stop - start)
             for r, (start, stop) in enumerate(bounds)]
    return np.concatenate(parts, axis=1)


def permutation_p_value(observed, null):
    """One-sided ``(1 + #{null ≥ observed}) / (1 + len(null))``; ``None`` without a null.

    Ties count against the observed value (``≥``), as they must for a valid p-value.
    """
    null = np.asarray(null, float)
    if null.size == 0:
        return None
    return float((1 + np.sum(null >= observed)) / (1 + null.size))


def format_p(p, floor, what=None):
    """A p-value printed with the least value its null allows.

    Parameters
    ----------
    p, floor : float or None
        The p-value and its floor (``p_floor`` of :func:`summarise` and :func:`paired_difference`).
    what : str, optional
        What limits the floor, e.g. ``"3 blocks of clips"``.

    Returns
    -------
    str
        ``p=0.25 (the least 3 blocks of clips allow)``, ``p=0.031 (least possible 0.001)`` or
        ``p n/a`` (no null: runs too short to shift).
    """
    if p is None:
        return "p n/a (runs too short to shift)"
    if floor is None:
        return f"p={p:.3g}"
    if p <= floor * (1 + 1e-9):
        return f"p={p:.3g} (the least {what} allow)" if what else f"p={p:.3g} (the least possible)"
    return f"p={p:.3g} (least possible {floor:.2g})"


def format_interval(interval, digits=3, signed=False):
    """``[lo, hi]`` with ``digits`` decimals, or ``n/a`` for an interval that could not be formed."""
    if interval is None or any(v is None or not np.isfinite(v) for v in interval):
        return "[n/a: fewer than 2 blocks]"
    sign = "+" if signed else ""
    return f"[{interval[0]:{sign}.{digits}f}, {interval[1]:{sign}.{digits}f}]"


def method_line(result):
    """``block bootstrap, blocks of 36 windows; circular-shift null, 1000 shifts by multiples of ≥ 12 windows``."""
    text = f"block bootstrap, blocks of {result['block_length']} windows"
    if result.get("n_null"):
        text += f"; circular-shift null, {result['n_null']} shifts by multiples of ≥ {result['min_shift']} windows"
    return text


def summarise(values, runs, null_values=None, partners=None, *, block=None, min_shift=None, n_boot=2000, seed=0):
    """Mean of per-window values with its 95 % interval and, given null values, its p-value.

    Parameters
    ----------
    values : array_like ``[N]``
        Per-window values of the true pairing, windows in time order.
    runs : array_like ``[N]``
        Run (or movie) of each window.
    null_values : array_like ``[S, N]``, optional
        The same values under S null pairings (rows of :func:`shift_partners` applied to
        :func:`null_offsets`); their means are the null distribution of the mean.
    partners : array_like of int ``[S, N]``, optional
        The pairings of ``null_values`` (:func:`shift_partners`). Given, the null level averages
        only windows paired with another window: a null pairing may leave a run unshifted (the
        shifts of each run form a group with zero in it, which keeps the p-value valid; only
        pairings that shift every run were measured anti-conservative), and those windows'
        values are the true pairing's, not chance.
    block : int, optional
        Bootstrap block length (default :func:`block_length` of ``values``).
    min_shift : int, optional
        The spacing the null shifts were drawn with (recorded; default
        :func:`shift_spacing` of ``values``).
    n_boot : int
    seed : int

    Returns
    -------
    dict
        ``estimate``, ``ci95`` ``[lo, hi]`` (``None`` with fewer than 2 blocks), ``p_value``
        (``None`` without a null), ``p_floor`` (the least p the null allows, ``1 / (1 + S)``),
        ``null_mean`` (the level measured under the null, ``None`` without one), ``n``, ``n_runs``,
        ``block_length``, ``n_blocks``, ``n_boot``, ``min_shift``, ``n_null``, ``method``.
    """
    values = np.asarray(values, float)
    runs = check_runs(runs, len(values))
    block = block or block_length(values, runs)
    min_shift = min_shift or shift_spacing(values, runs)
    lo, hi = bootstrap_interval(values, runs, block, n_boot, seed)
    estimate = float(values.mean())
    result = {"estimate": estimate, "ci95": [float(lo), float(hi)] if np.isfinite(lo) else None, "p_value": None,
              "p_floor": None, "null_mean": None, "n": int(len(values)), "n_runs": int(len(np.unique(runs))),
              "block_length": int(block), "n_blocks": round(block_count(len(values), block), 2), "n_boot": int(n_boot),
              "min_shift": int(min_shift), "n_null": 0}
    if null_values is not None:
        null_values = np.asarray(null_values, float).reshape(-1, len(values))
        shifted = np.ones(null_values.shape, bool)
        if partners is not None:
            shifted = np.asarray(partners).reshape(null_values.shape) != np.arange(len(values))
        result.update(p_value=permutation_p_value(estimate, null_values.mean(axis=1)), n_null=len(null_values),
                      p_floor=1.0 / (1 + len(null_values)),
                      null_mean=float(null_values[shifted].mean()) if shifted.any() else None)
    result["method"] = method_line(result)
    return result


def block_sign_flip_null(differences, runs, block, n_null=1000, seed=0):
    """Null means of paired differences with the sign of whole blocks flipped at random.

    Under "the two methods are equally good", each clip's difference ``a − b`` is as likely to
    have either sign; neighbouring clips share their signal, so the signs are flipped per block
    of ``block`` consecutive clips within a run (the last block of a run may be shorter), never
    per clip. A circular shift would test whether scores follow the clips (a pairing), not
    whether two methods differ on the same clips, so comparisons use this instead.

    Parameters
    ----------
    differences : array_like ``[N]``
    runs : array_like ``[N]``
    block : int
    n_null : int
        Every sign pattern but the identity is used when there are at most ``n_null`` (the one
        that flips every block among them, which always ties the observed value: hence the
        floor of :func:`paired_difference`); else ``n_null`` are drawn.
    seed : int

    Returns
    -------
    ndarray ``[S]``
        The mean difference under each sign pattern (the identity excluded).
    """
    return _sign_flips(differences, runs, block, n_null, seed)[0]


def _sign_flips(differences, runs, block, n_null, seed):
    """:func:`block_sign_flip_null`'s null means, its patterns ``[S, n_blocks]`` and the block count."""
    d = np.asarray(differences, float)
    runs = check_runs(runs, len(d))
    # Block labels: (run start, block within the run), numbered 0 … n_blocks − 1 in time order.
    labels = np.concatenate([start * (len(d) + 1) + np.arange(stop - start) // max(1, int(block))
                             for start, stop in run_bounds(runs)])
    _, block_of = np.unique(labels, return_inverse=True)
    count = int(block_of.max()) + 1
    if 2 ** count - 1 <= n_null:
        patterns = np.array(list(itertools.product((1.0, -1.0), repeat=count))[1:])
    else:
        rng = np.random.default_rng(seed)
        patterns = rng.choice((1.0, -1.0), size=(n_null, count))
    return (patterns[:, block_of] * d).mean(axis=1), patterns, count


def paired_difference(a, b, runs, *, n_boot=2000, n_null=1000, seed=0):
    """Mean of ``a − b`` over the same clips, its block-bootstrap interval and a two-sided p-value.

    Parameters
    ----------
    a, b : array_like ``[N]``
        Per-clip values of two methods on the same clips, in time order.
    runs : array_like ``[N]``
    n_boot, n_null, seed : int

    Returns
    -------
    dict
        As :func:`summarise` (``estimate``, ``ci95``, ``block_length`` …), with ``p_value``
        from :func:`block_sign_flip_null` (two-sided: ``|null| ≥ |observed|``), ``p_floor`` (the
        least p those patterns allow: the pattern that flips every block always ties, so with B
        blocks all enumerated it is ``2 / 2^B``: 0.25 for 3), ``n_sign_blocks`` and ``method``
        saying so.
    """
    d = np.asarray(a, float) - np.asarray(b, float)
    runs = check_runs(runs, len(d))
    result = summarise(d, runs, n_boot=n_boot, seed=seed)
    null, patterns, count = _sign_flips(d, runs, result["block_length"], n_null, seed)
    observed = abs(result["estimate"])
    always_tie = int(np.sum((patterns == -1).all(axis=1)))  # -d has the same |mean| as d
    result.update(p_value=float((1 + np.sum(np.abs(null) >= observed - 1e-12)) / (1 + len(null))),
                  p_floor=float((1 + always_tie) / (1 + len(null))), n_null=int(len(null)), null_mean=0.0,
                  n_sign_blocks=int(count))
    result["method"] = (f"block bootstrap, blocks of {result['block_length']} clips; two-sided sign flips of "
                        f"{count} blocks of ≤ {result['block_length']} clips, {len(null)} patterns")
    return result
