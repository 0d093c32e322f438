"""Are decoded clips closer to their own truth than to other clips' truth? (SSIM, MinD-Video protocol)

Every decoded clip is compared with every true clip: ``S[i, j]`` is the mean over frames of
scikit-image's ``structural_similarity(decoded_i[f], truth_j[f], data_range=255,
channel_axis=-1)`` (RGB uint8, 7×7 uniform window: the protocol NeuroCine and MinD-Video report).
The score to the *own* truth is the mean of the diagonal; the *shuffled* level is the mean of
the off-diagonal (each clip against the truth of the others), which is what SSIM reaches with no
information about which clip was shown. Intervals resample clips (bootstrap); the p-value is the
share of random pairings of decoded and true clips that score at least the real pairing's.
"""

import numpy as np


def frame_ssim(a, b):
    """SSIM of two uint8 RGB frames ``[H, W, 3]`` (MinD-Video protocol)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, data_range=255, channel_axis=-1))


def clip_ssim_matrix(decoded, truth):
    """``S[i, j]``: mean SSIM over frames of decoded clip i against true clip j.

    Parameters
    ----------
    decoded, truth : uint8 ``[N, F, H, W, 3]``

    Returns
    -------
    ndarray ``[N, N]``
    """
    decoded, truth = np.asarray(decoded), np.asarray(truth)
    if decoded.shape != truth.shape:
        raise ValueError(f"decoded clips {decoded.shape} and true clips {truth.shape} differ in shape")
    n, frames = decoded.shape[:2]
    matrix = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            matrix[i, j] = np.mean([frame_ssim(decoded[i, f], truth[j, f]) for f in range(frames)])
    return matrix


def own_vs_shuffled(matrix, n_boot=1000, n_perm=1000, seed=0):
    """Own-truth against shuffled-truth SSIM, with bootstrap intervals and a permutation p-value.

    Parameters
    ----------
    matrix : ndarray ``[N, N]``
        From :func:`clip_ssim_matrix`.
    n_boot, n_perm : int
    seed : int

    Returns
    -------
    dict
        ``own``, ``shuffled``, ``difference`` (each ``{"mean", "ci95"}``), ``p_value``,
        ``closer_to_own`` (share of clips whose own SSIM beats their mean to the others), ``n``.
    """
    matrix = np.asarray(matrix, float)
    n = len(matrix)
    if n < 2:
        raise ValueError("comparing with other clips' truth needs at least 2 clips")
    own = np.diag(matrix)
    others = (matrix.sum(axis=1) - own) / (n - 1)
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, n, size=(n_boot, n))

    def summary(values):
        means = values[boot].mean(axis=1)
        return {"mean": float(values.mean()), "ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]}

    perms = np.array([matrix[np.arange(n), rng.permutation(n)].mean() for _ in range(n_perm)])
    return {
        "n": n, "protocol": "SSIM, MinD-Video protocol (RGB uint8, data_range 255, 7x7 window), mean over frames",
        "own": summary(own), "shuffled": summary(others), "difference": summary(own - others),
        "closer_to_own": float(np.mean(own > others)),
        "p_value": float((1 + np.sum(perms >= own.mean())) / (1 + n_perm)),
    }


def format_own_vs_shuffled(result):
    """One printed line: own, shuffled, difference with interval, p."""
    own, shuffled, diff = result["own"], result["shuffled"], result["difference"]
    return (f"SSIM to own truth {own['mean']:.3f} [{own['ci95'][0]:.3f}, {own['ci95'][1]:.3f}]  "
            f"to other clips' truth {shuffled['mean']:.3f} [{shuffled['ci95'][0]:.3f}, {shuffled['ci95'][1]:.3f}]  "
            f"difference {diff['mean']:+.3f} [{diff['ci95'][0]:+.3f}, {diff['ci95'][1]:+.3f}]  "
            f"p={result['p_value']:.3g}  (N={result['n']} clips)")
