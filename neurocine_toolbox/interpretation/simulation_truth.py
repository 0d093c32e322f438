"""How a report's ROI importance relates to a simulated dataset's true encoding model.

``neurocine simulate`` writes each subject's true weights
(``derivatives/simulation/sub-XX/sub-XX_desc-truth_encoding.npz``): which grayordinates carry
stimulus signal (``group``), and how much of it comes from each feature block (``gains``:
colour, retinotopy, motion, class). Across the HCP-MMP1.0 parcels that hold selected voxels, the
report's mean importance is rank-correlated (Spearman) with each parcel's share of
stimulus-driven voxels and with its mean gain of each block, over the same selected voxels.
The p-values are Spearman's, which treat parcels as independent (neighbouring parcels are not;
read them as descriptive).
"""

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .roi_summary import atlas


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


def truth_correlations(mmp_table, truth, selected):
    """Spearman correlation across parcels between mean importance and each truth column.

    Parameters
    ----------
    mmp_table : pandas.DataFrame
        An HCP-MMP1.0 :func:`~.roi_summary.roi_table`.
    truth : mapping
    selected : bool ndarray ``[91282]``

    Returns
    -------
    pandas.DataFrame
        Columns ``truth``, ``n_parcels``, ``spearman_rho``, ``p``; ``rho`` is NaN where the truth
        column does not vary across the parcels.
    """
    per_parcel = parcel_truth(truth, selected)
    joined = mmp_table.set_index("region").join(per_parcel, how="inner")
    rows = []
    for column in per_parcel.columns:
        varies = joined[column].nunique() > 1 and joined["mean_importance"].nunique() > 1
        rho, p = stats.spearmanr(joined["mean_importance"], joined[column]) if varies else (np.nan, np.nan)
        rows.append({"truth": column, "n_parcels": len(joined), "spearman_rho": float(rho), "p": float(p)})
    return pd.DataFrame(rows)
