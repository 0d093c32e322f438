"""How a report's ROI importance relates to a simulated dataset's true encoding model.

``neurocine simulate`` writes each subject's true weights
(``derivatives/simulation/sub-XX/sub-XX_desc-truth_encoding.npz``): which grayordinates carry
stimulus signal (``group``), and how much of it comes from each feature block (``gains``:
colour, retinotopy, motion, class). Across the HCP-MMP1.0 parcels that hold selected voxels, the
report's mean importance is rank-correlated (Spearman) with each parcel's share of
stimulus-driven voxels and with its mean gain of each block, over the same selected voxels.

The parcels are those the report's table ranked (enough selected voxels). Rho gets a 95 %
interval from block-bootstrap resamples of the windows (the map re-averaged over resampled
windows, blocks within runs). Two p-values (one-sided, for a positive correlation): Spearman's
own, which treats parcels as independent (neighbouring parcels are not), and a spatial p: every
surrogate of the importance map (Moran spectral randomisation on the selected grayordinates,
:func:`~.spatial_nulls.moran_surrogates`, the same surrogates as the report's tables) has its
means over the same parcels and the same grayordinates correlated with the same truth. The null
has one value per surrogate, or none when a parcel has grayordinates without surrogate values.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .roi_summary import atlas, membership, surrogate_region_means


def truth_path(derivatives_dir, subject):
    """Where ``neurocine simulate`` put a subject's true encoding model (beside the derivatives)."""
    return Path(derivatives_dir).parent / "simulation" / f"sub-{subject}" / f"sub-{subject}_desc-truth_encoding.npz"


def parcel_truth(truth, selected):
    """Per HCP-MMP1.0 parcel, the truth over its selected grayordinates.

    Parameters
    ----------
    truth : mapping
        The truth file's arrays (``group``, ``gains``, ``block_names``).
    selected : bool ndarray ``[91282]``
        Grayordinates with a voxel in the store.

    Returns
    -------
    pandas.DataFrame
        Index: parcel name; columns ``stimulus_driven`` and ``gain_<block>`` for every block.
    """
    labels, names = atlas("HCP-MMP1.0")
    keep = selected & (labels > 0)
    frame = pd.DataFrame({"parcel": [names[label] for label in labels[keep]],
                          "stimulus_driven": (np.asarray(truth["group"])[keep] > 0).astype(float)})
    for block, gains in zip(truth["block_names"], np.asarray(truth["gains"])):
        frame[f"gain_{block}"] = gains[keep]
    return frame.groupby("parcel").mean()


def _surrogate_parcel_means(surrogates, parcels):
    """Each parcel's mean under every surrogate, ``[len(parcels), n_surrogates]``; None if a parcel
    has a selected grayordinate without surrogate values (no full-size null)."""
    labels, names = atlas("HCP-MMP1.0")
    label_of = {name: label for label, name in names.items()}
    means = surrogate_region_means(surrogates, membership(labels[surrogates.grayordinates], int(labels.max())))
    means = means[[label_of[p] for p in parcels]]
    return None if np.isnan(means).any() else means


def _spatial_p(rho, null_means, truth_values):
    """One-sided p of ``rho`` among the surrogates' rhos, and how many surrogates it counts."""
    if null_means is None or not np.isfinite(rho) or null_means.shape[1] == 0:
        return np.nan, 0
    null = _spearman_columns(null_means, truth_values)
    null = null[np.isfinite(null)]
    # A tolerance: a surrogate ranking the parcels as the map does must count, whatever rounding.
    return ((1.0 + (null >= rho - 1e-12).sum()) / (1.0 + len(null)) if len(null) else np.nan), len(null)


def _spearman_columns(columns, y):
    """Spearman's rho between ``y`` ``[n]`` and every column of ``columns`` ``[n, K]`` (NaN where constant)."""
    ranked = stats.rankdata(columns, axis=0) - (len(y) + 1) / 2.0
    target = stats.rankdata(y) - (len(y) + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return (target @ ranked) / np.sqrt((target ** 2).sum() * (ranked ** 2).sum(axis=0))


def _spearman(x, y):
    """Spearman's rho and one-sided p (rho > 0); NaN when either does not vary."""
    if pd.Series(x).nunique() < 2 or pd.Series(y).nunique() < 2:
        return np.nan, np.nan
    result = stats.spearmanr(x, y, alternative="greater")
    return float(result.statistic), float(result.pvalue)


def _bootstrap_rho(window_means, runs, parcels, truth_values, n_boot, seed):
    """95 % percentile interval of rho over block-bootstrap resamples of the windows."""
    from ..evaluation.time_series_statistics import block_bootstrap_means
    from .roi_summary import window_block_length

    labels, names = atlas("HCP-MMP1.0")
    label_of = {name: label for label, name in names.items()}
    columns = [label_of[p] for p in parcels]
    block = window_block_length(window_means[:, columns], runs)
    replicates = block_bootstrap_means(window_means[:, columns], runs, block, n_boot, seed)  # [K, parcels]
    rhos = np.array([_spearman(r, truth_values)[0] for r in replicates])
    rhos = rhos[np.isfinite(rhos)]
    return [float(v) for v in np.percentile(rhos, [2.5, 97.5])] if len(rhos) else [np.nan, np.nan]


def truth_correlations(mmp_table, truth, grayordinate_map, surrogates=None, window_means=None, runs=None,
                       n_boot=2000, seed=0):
    """Spearman correlation across parcels between mean importance and each truth column.

    Parameters
    ----------
    mmp_table : pandas.DataFrame
        The HCP-MMP1.0 :func:`~.roi_summary.roi_table` of ``grayordinate_map``; its ranked
        parcels (status other than "too few voxels") are correlated.
    truth : mapping
    grayordinate_map : ndarray ``[91282]``
        The map the table summarises (NaN off the selected voxels).
    surrogates : Surrogates, optional
        :func:`~.spatial_nulls.moran_surrogates` of ``grayordinate_map``, for ``p_spatial``
        (NaN without).
    window_means : ndarray ``[N, n_regions + 1]``, optional
        Each window's MMP parcel means (:func:`~.roi_summary.window_region_means`); with
        ``runs``, gives rho's 95 % interval (percentiles of block-bootstrap resamples of the
        windows; NaN without).
    runs : ndarray ``[N]``, optional
    n_boot, seed : int

    Returns
    -------
    pandas.DataFrame
        Columns ``truth``, ``n_parcels``, ``spearman_rho``, ``ci_low``, ``ci_high``, ``p``
        (Spearman's, one-sided), ``p_spatial`` (against the surrogates' rhos) and ``n_null``
        (surrogates in that null: all of them, or 0 where a parcel lacks surrogate values);
        NaN where a column does not vary.

    Raises
    ------
    ValueError
        If ``surrogates`` were drawn on other grayordinates than the map's selected ones.
    """
    selected = np.isfinite(grayordinate_map)
    if surrogates is not None and not np.array_equal(surrogates.grayordinates, np.flatnonzero(selected)):
        raise ValueError("the surrogates were drawn on other grayordinates than the map's selected ones")
    per_parcel = parcel_truth(truth, selected)
    ranked = mmp_table[mmp_table["status"] != "too few voxels"]
    joined = ranked.set_index("region").join(per_parcel, how="inner")
    null_means = _surrogate_parcel_means(surrogates, list(joined.index)) if surrogates is not None else None
    rows = []
    for column in per_parcel.columns:
        rho, p = _spearman(joined["mean_importance"], joined[column])
        p_spatial, n_null = _spatial_p(rho, null_means, joined[column].to_numpy())
        interval = [np.nan, np.nan]
        if window_means is not None and np.isfinite(rho):
            interval = _bootstrap_rho(window_means, runs, list(joined.index), joined[column].to_numpy(), n_boot, seed)
        rows.append({"truth": column, "n_parcels": len(joined), "spearman_rho": rho, "ci_low": interval[0],
                     "ci_high": interval[1], "p": p, "p_spatial": p_spatial, "n_null": n_null})
    return pd.DataFrame(rows)
