"""Choose the grayordinates the encoder reads, and pad them to whole patches.

Both selectors follow the estimator contract: arguments in ``__init__``, ``fit`` sets
``indices_`` (grayordinates in reading order) and ``labels_`` (their HCP-MMP1.0 labels).
Only training runs may be given to ``fit``.
"""

import numpy as np
from scipy import stats

from ..errors import NeurocineError
from .grayordinates import VISUAL_HIERARCHY, mmp_labels, mmp_visual_grayordinates

PATCH_SIZE = 16


class MMPVisualSelector:
    """HCP-MMP1.0 visual areas in hierarchy order (default V1, V2, V3, V4; 4,183 grayordinates).

    Parameters
    ----------
    areas : sequence of str
        MMP area names, read in this order, each left hemisphere then right.
    """

    def __init__(self, areas=VISUAL_HIERARCHY):
        self.areas = areas

    def fit(self, repeats=None):
        """Look the areas up in the atlas (no data needed)."""
        self.indices_, self.labels_ = mmp_visual_grayordinates(self.areas)
        if len(self.indices_) == 0:
            raise NeurocineError(f"no grayordinate carries the MMP areas {list(self.areas)}")
        return self

    def describe(self):
        return {"method": "mmp-visual", "areas": list(self.areas)}


class ReliabilitySelector:
    """Grayordinates whose responses repeat across viewings of the same training movie.

    For each training movie seen at least twice, the Pearson correlation between viewings
    (averaged over pairs when seen more often) is Fisher z-transformed; a one-sample t-test
    across movies asks whether the mean z exceeds 0 (one-sided); p-values are Bonferroni
    corrected over all grayordinates. Kept are those with corrected p < ``p_threshold``, or, if
    ``top_n`` is set, the ``top_n`` with the largest t. The MinD-Video protocol.

    Parameters
    ----------
    p_threshold : float
        Bonferroni-corrected threshold (default 0.01).
    top_n : int, optional
        Keep this many instead of thresholding.
    """

    def __init__(self, p_threshold=0.01, top_n=None):
        self.p_threshold = p_threshold
        self.top_n = top_n

    def fit(self, repeats):
        """Test reliability.

        Parameters
        ----------
        repeats : iterable of list of ndarray
            For each training movie, its cleaned viewings, each ``[time, grayordinates]``.
        """
        z = [_mean_pairwise_fisher_z(views) for views in repeats if len(views) >= 2]
        if len(z) < 2:
            raise NeurocineError(
                "reliability selection needs at least 2 training movies seen at least twice"
            )
        z = np.stack(z)
        t, p = stats.ttest_1samp(z, 0.0, axis=0, alternative="greater")
        t = np.nan_to_num(t, nan=-np.inf)
        p = np.nan_to_num(p, nan=1.0)
        corrected = np.minimum(p * z.shape[1], 1.0)
        if self.top_n is not None:
            chosen = np.sort(np.argsort(-t, kind="stable")[: self.top_n])
        else:
            chosen = np.flatnonzero(corrected < self.p_threshold)
        if len(chosen) == 0:
            raise NeurocineError(
                f"no grayordinate passes the reliability test at Bonferroni p < {self.p_threshold}; "
                "try --reliability-top-n"
            )
        self.t_ = t
        self.p_ = p
        self.p_corrected_ = corrected
        self.indices_ = chosen
        self.labels_ = mmp_labels()[chosen]
        return self

    def describe(self):
        return {"method": "reliability", "p_threshold": self.p_threshold, "top_n": self.top_n,
                "test": "one-sided one-sample t-test of Fisher z across training movies, Bonferroni"}


def _mean_pairwise_fisher_z(views):
    zs = []
    for i in range(len(views)):
        for j in range(i + 1, len(views)):
            a, b = views[i], views[j]
            n = min(len(a), len(b))
            a, b = a[:n] - a[:n].mean(0), b[:n] - b[:n].mean(0)
            denom = np.sqrt((a * a).sum(0) * (b * b).sum(0))
            r = np.divide((a * b).sum(0), denom, out=np.zeros(a.shape[1]), where=denom > 0)
            zs.append(np.arctanh(np.clip(r, -0.999999, 0.999999)))
    return np.mean(zs, axis=0)


def padded_columns(indices, labels, multiple=PATCH_SIZE):
    """Append padding columns (grayordinate ``-1``, label ``""``) up to a multiple of ``multiple``.

    Returns
    -------
    grayordinates : ndarray of int32
    labels : ndarray of str
    """
    pad = (-len(indices)) % multiple
    grayordinates = np.concatenate([np.asarray(indices, np.int32), np.full(pad, -1, np.int32)])
    return grayordinates, np.concatenate([np.asarray(labels, str), np.full(pad, "", dtype=object).astype(str)])
