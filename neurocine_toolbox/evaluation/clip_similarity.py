"""Are decoded clips closer to their own truth than to other clips' truth? (SSIM, MinD-Video protocol)

Each decoded clip is scored (:func:`.ssim.pair_ssim`) against its own truth and against the
truth of up to ``n_others`` other clips of its run, the same for every clip of the run: the
run's targets shifted circularly by offsets at least one autocorrelation length from 0 (so the
other clips do not share the own clip's signal by being its neighbours in time). Among these
offsets are those of the circular-shift null of :mod:`.time_series_statistics`, so the same
scores give

- the **other-clip level**: each clip's mean SSIM to its others, what SSIM reaches with no
  information about which clip was shown;
- the **p-value**: the mean own SSIM against its mean under the null's shifted pairings.

Intervals come from the block bootstrap over clips (within runs). Scoring N clips costs
``N · (1 + n_others)`` SSIMs instead of the ``N²`` of a full matrix.
"""

import numpy as np

from .ssim import PROTOCOL, pair_ssim
from .time_series_statistics import (block_length, bootstrap_interval, check_runs, format_interval, format_p,
                                     method_line, null_offsets, run_bounds, shift_lattice, shift_partners,
                                     shift_spacing, summarise)


def other_offsets(runs, min_shift, n_others=50, seed=0):
    """Per run, the circular offsets of the other clips each clip is scored against.

    The null lattice's non-zero offsets (:func:`.shift_lattice`) first, then offsets drawn
    without replacement from ``min_shift … L − min_shift``, up to ``n_others`` (fewer when the
    run is short).

    Parameters
    ----------
    runs : array_like ``[N]``
    min_shift, n_others : int
    seed : int

    Returns
    -------
    list of ndarray of int
        One array of offsets per run, in run order.
    """
    rng = np.random.default_rng(seed)
    offsets = []
    for start, stop in run_bounds(runs):
        length = stop - start
        lattice = shift_lattice(length, min_shift)[1:]
        far = np.arange(min(min_shift, length // 2), length - min(min_shift, length // 2) + 1)
        far = np.setdiff1d(far[(far > 0) & (far < length)], lattice)
        extra = rng.permutation(far)[:max(0, n_others - len(lattice))]
        offsets.append(np.concatenate([lattice, np.sort(extra)]).astype(np.int64))
    return offsets


def score_clips(decoded, truth, runs, *, n_others=50, n_null=1000, n_boot=2000, seed=0, progress=None,
                per_clip=False):
    """SSIM of each decoded clip to its own truth and to other clips' truth, with statistics.

    Parameters
    ----------
    decoded, truth : uint8 ``[N, F, H, W, 3]``
        Clips in time order.
    runs : array_like ``[N]``
        Run (or movie) of each clip; each run's clips consecutive.
    n_others : int
        Other clips per clip (fewer in short runs).
    n_null : int
        Shifted pairings in the null (all of them when there are fewer).
    n_boot : int
    seed : int
    progress : callable, optional
        Called with the number of clip pairs scored after each chunk.
    per_clip : bool
        Also return ``per_clip``: ``{"own": [N], "others": [N]}`` arrays (to compare conditions
        clip by clip).

    Returns
    -------
    dict
        ``protocol``, ``n``, ``n_runs``, ``own`` / ``others`` / ``difference`` (each ``{"mean",
        "ci95"}``), ``closer_to_own``, ``p_value`` (``None`` when runs are too short for a
        shift), ``null_mean``, ``n_null``, ``n_others`` (per clip, at most), ``block_length``,
        ``min_shift``, ``n_boot``, ``method``.
    """
    decoded, truth = np.asarray(decoded), np.asarray(truth)
    if decoded.shape != truth.shape:
        raise ValueError(f"decoded clips {decoded.shape} and true clips {truth.shape} differ in shape")
    n = len(decoded)
    runs = check_runs(runs, n)
    if n < 2:
        raise ValueError("comparing with other clips' truth needs at least 2 clips")
    windows = np.arange(n)
    own = pair_ssim(decoded, truth, windows, windows, progress=progress)
    bounds = run_bounds(runs)
    longest = max(stop - start for start, stop in bounds)
    # The null's lattice lies among the others, so it may not have more than n_others offsets.
    spacing = max(shift_spacing(own, runs), -(-longest // (n_others + 1)))
    block = block_length(own, runs)

    # The others: every clip of run r against the truth of the clip `offset` later (circularly).
    offsets = other_offsets(runs, spacing, n_others, seed)
    if min(len(o) for o in offsets) == 0:
        raise ValueError("every run needs at least 2 clips: a clip is compared with other clips of its run")
    firsts, seconds = [], []
    for (start, stop), run_offsets in zip(bounds, offsets):
        position = np.arange(stop - start)
        firsts.append(np.repeat(start + position, len(run_offsets)))
        seconds.append((start + (position[:, None] + run_offsets) % (stop - start)).ravel())
    scores = pair_ssim(decoded, truth, np.concatenate(firsts), np.concatenate(seconds), progress=progress)
    per_run, at = [], 0
    for (start, stop), run_offsets in zip(bounds, offsets):
        size = (stop - start) * len(run_offsets)
        per_run.append(scores[at:at + size].reshape(stop - start, len(run_offsets)))
        at += size
    others = np.concatenate([run_scores.mean(axis=1) for run_scores in per_run])

    # The null: shifted pairings whose offsets all lie on the lattice, scored above.
    null = null_offsets(runs, spacing, n_null, seed)
    null_values = np.empty((len(null), n))
    for r, ((start, stop), run_offsets) in enumerate(zip(bounds, offsets)):
        column = {int(o): c for c, o in enumerate(run_offsets)}
        own_run = own[start:stop, None]
        table = np.concatenate([own_run, per_run[r]], axis=1)  # column 0: offset 0, the run left unshifted
        index = np.array([column[int(o)] + 1 if o else 0 for o in null[:, r]], dtype=np.int64)
        null_values[:, start:stop] = table[:, index].T
    own_summary = summarise(own, runs, null_values if len(null) else None, shift_partners(runs, null),
                            block=block, min_shift=spacing, n_boot=n_boot, seed=seed)
    difference = own - others
    (lo_others, lo_diff), (hi_others, hi_diff) = bootstrap_interval(
        np.stack([others, difference], axis=1), runs, block, n_boot, seed)
    result = {
        "protocol": PROTOCOL, "n": n, "n_runs": own_summary["n_runs"],
        "own": {"mean": own_summary["estimate"], "ci95": own_summary["ci95"]},
        "others": {"mean": float(others.mean()), "ci95": _interval(lo_others, hi_others)},
        "difference": {"mean": float(difference.mean()), "ci95": _interval(lo_diff, hi_diff)},
        "closer_to_own": float(np.mean(difference > 0)),
        "p_value": own_summary["p_value"], "p_floor": own_summary["p_floor"], "null_mean": own_summary["null_mean"],
        "n_null": own_summary["n_null"],
        "n_others": int(max(len(o) for o in offsets)), "block_length": block, "min_shift": spacing,
        "n_boot": int(n_boot),
    }
    result["method"] = method_line(result)
    if per_clip:
        result["per_clip"] = {"own": own, "others": others}
    return result


def _interval(low, high):
    """``[low, high]``, or None where the bootstrap could not form one (fewer than 2 blocks)."""
    return [float(low), float(high)] if np.isfinite(low) and np.isfinite(high) else None


def format_scores(result):
    """Printed lines: protocol; own, other clips and difference with intervals and p (and its floor); method."""
    own, others, diff = result["own"], result["others"], result["difference"]
    p = format_p(result["p_value"], result.get("p_floor"), f"{result['n_null']} shifts")
    return [
        result["protocol"],
        f"SSIM to own truth {own['mean']:.3f} {format_interval(own['ci95'])}  "
        f"to other clips' truth {others['mean']:.3f} {format_interval(others['ci95'])}  "
        f"difference {diff['mean']:+.3f} {format_interval(diff['ci95'], signed=True)}  {p}",
        f"({result['method']}; N={result['n']} clips in {result['n_runs']} runs, "
        f"each against up to {result['n_others']} others ≥ {result['min_shift']} clips away)",
        f"clips closer to their own truth than to the others' on average: {result['closer_to_own']:.0%}",
    ]


def score_decoded(out_dir, progress=True):
    """Score a ``decode`` output folder (:func:`score_clips` of its ``frames.npz``) into its ``decode.json``.

    ``neurocine decode`` and the demo call it after decoding: the quick look at whether the
    clips are closer to their own truth than to others' (``neurocine evaluate`` gives the rest).

    Parameters
    ----------
    out_dir : Path
        ``decoded-<split>/`` with ``frames.npz`` and ``decode.json``.
    progress : bool

    Returns
    -------
    dict or None
        :func:`score_clips`' result (also written to ``decode.json["ssim"]``); None when a run has
        fewer than 2 clips.
    """
    import json
    from pathlib import Path

    from ..utils.atomic import write_text_atomic
    from ..utils.json_values import json_default
    from ..utils.progress import progress_bar

    out_dir = Path(out_dir)
    record = json.loads((out_dir / "decode.json").read_text())
    with np.load(out_dir / "frames.npz") as frames:
        decoded, truth, runs = frames["decoded"], frames["truth"], frames["runs"]
    if len(runs) < 2 or any(np.sum(runs == r) < 2 for r in np.unique(runs)):
        return None
    pairs = progress_bar(desc="SSIM", unit="pair", enabled=progress)
    record["ssim"] = score_clips(decoded, truth, runs, seed=int(record["seed"]), progress=pairs.update)
    pairs.close()
    write_text_atomic(out_dir / "decode.json", json.dumps(record, indent=2, default=json_default) + "\n")
    return record["ssim"]
