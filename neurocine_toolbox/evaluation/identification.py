"""Low-level identification: is a decoded clip closer to its own truth than to other clips' truth?

MindEye's "2-way" low-level identification (for fMRI, Kay et al. 2008), for clips: a clip scores
the fraction of the other clips whose truth is *strictly* less similar to it (by SSIM or by
PixCorr, a clip's frames averaged) than its own truth is. Chance is exactly 0.5 whatever the
metric, the frames or the test set: a decoder that knows nothing about which clip was shown
puts its own truth at a uniformly random rank among the others. A constant output (a flat
frame, the mean clip) ranks the truths the same way for every clip, so over clips it averages
0.5 minus its ties: content that is not specific to the stimulus cannot win here, which is what
SSIM alone cannot tell (a flat frame beats most decoders on SSIM).

Each clip is compared with every other clip when there are at most ``max_others + 1`` clips
(the demo: 38 others), else with ``max_others`` others drawn without replacement (Wen 2018's
1,200 test clips: 1,200 × 100 SSIM pairs instead of 1.4 million); the chance level stays 0.5.
"""

import numpy as np

from .pixel_metrics import standardised_frames
from .ssim import pair_ssim

#: Other clips each clip is compared with when the test set is larger (all of them otherwise).
MAX_OTHERS = 100
CHANCE = 0.5
METRICS = ("ssim", "pixcorr")


def other_clips(n, max_others=MAX_OTHERS, seed=0):
    """For each clip, the other clips it is compared with: ``[n, min(n − 1, max_others)]`` indices.

    Every other clip when ``n − 1 ≤ max_others``; else ``max_others`` drawn without replacement
    for each clip (seeded), never the clip itself.
    """
    if n < 2:
        raise ValueError("identification needs at least 2 clips")
    if n - 1 <= max_others:
        return np.array([np.delete(np.arange(n), i) for i in range(n)], dtype=np.int64)
    rng = np.random.default_rng(seed)
    draws = np.stack([rng.choice(n - 1, size=max_others, replace=False) for _ in range(n)])
    return (draws + (draws >= np.arange(n)[:, None])).astype(np.int64)  # skip the clip itself


def pixcorr_matrix(pred, truth, chunk=32):
    """PixCorr of every prediction against every truth, a clip's frames averaged: ``[len(pred), len(truth)]``.

    Frames are standardised (:func:`.pixel_metrics.standardised_frames`) a chunk of clips at a
    time, so that Wen-size clips (6 × 256² × 3 values each) never sit in memory as floats all
    at once; each block of the matrix is then a product of two standardised chunks.
    """
    pred, truth = np.asarray(pred), np.asarray(truth)
    out = np.empty((len(pred), len(truth)))
    for r in range(0, len(pred), chunk):
        a = standardised_frames(pred[r:r + chunk])
        for c in range(0, len(truth), chunk):
            b = standardised_frames(truth[c:c + chunk])
            out[r:r + chunk, c:c + chunk] = np.einsum("ifd,jfd->ij", a, b, dtype=np.float64) / a.shape[1]
    return out


def pair_scores(metric, pred, truth, first, second):
    """Mean over frames of ``metric`` between ``pred[first[p]]`` and ``truth[second[p]]`` for every pair p.

    ``metric`` is ``"ssim"`` (the MinD-Video protocol, :func:`.ssim.pair_ssim`) or ``"pixcorr"``
    (Pearson r of each frame's flattened RGB values, :func:`.pixel_metrics.pixcorr_per_frame`;
    through :func:`pixcorr_matrix`, whose products cost less than pairs one by one).
    """
    first, second = np.asarray(first, np.int64).ravel(), np.asarray(second, np.int64).ravel()
    if metric == "ssim":
        return pair_ssim(pred, truth, first, second)
    if metric != "pixcorr":
        raise ValueError(f"unknown identification metric {metric!r}; known: {', '.join(METRICS)}")
    return pixcorr_matrix(pred, truth)[first, second]


def identification(metric, pred, truth, own=None, others=None, max_others=MAX_OTHERS, seed=0):
    """Per-clip 2-way identification accuracy of ``pred`` against ``truth`` by ``metric``.

    Parameters
    ----------
    metric : {"ssim", "pixcorr"}
    pred : uint8 ``[N, F, H, W, 3]`` or ``[1, F, H, W, 3]``
        The prediction for each clip (one prediction is used for every clip: a constant output).
    truth : uint8 ``[N, F, H, W, 3]``
    own : array_like of int ``[N]`` or ``[m, N]``, optional
        The truth each prediction belongs to (default: clip i's own, ``i``; the shuffled baseline
        gives each decoded clip another clip's truth). Several rows score the same predictions
        against several pairings, each pair scored once.
    others : int ``[N, K]``, optional
        The other truths each prediction is compared with (default :func:`other_clips`); a
        clip's own truth among them is left out of its comparisons.
    max_others, seed : int

    Returns
    -------
    ndarray ``[N]`` (``[m, N]`` for several rows of ``own``)
        Fraction of the compared truths scoring strictly below the own truth (ties count against
        the prediction, so a constant output cannot gain from them).
    """
    truth, pred = np.asarray(truth), np.asarray(pred)
    n = len(truth)
    one_row = own is None or np.ndim(own) == 1
    own = np.arange(n)[None] if own is None else np.atleast_2d(np.asarray(own, np.int64))
    others = other_clips(n, max_others, seed) if others is None else np.asarray(others, np.int64)
    if len(pred) == 1:  # a constant output: its score against each truth, once
        table = pair_scores(metric, pred, truth, np.zeros(n, np.int64), np.arange(n))
        own_scores, scores = table[own], np.broadcast_to(table[others], (len(own), *others.shape))
    else:  # every pair (clip, truth) any row needs, scored once
        wanted = np.concatenate([others, own.T], axis=1)  # [N, K + m]
        table = pair_scores(metric, pred, truth, np.repeat(np.arange(n), wanted.shape[1]), wanted.ravel())
        table = table.reshape(wanted.shape)
        own_scores, scores = table[:, others.shape[1]:].T, np.broadcast_to(table[:, :others.shape[1]],
                                                                            (len(own), *others.shape))
    compared = others[None] != own[:, :, None]
    lower = (scores < own_scores[:, :, None] - 1e-12) & compared
    result = lower.sum(axis=2) / np.maximum(compared.sum(axis=2), 1)
    return result[0] if one_row else result
