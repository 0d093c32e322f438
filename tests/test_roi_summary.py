"""ROI tables: ranks, spatial and permutation p-values, Benjamini–Hochberg, statuses, atlases.

The spatial null's calibration and power on store-like selections are in test_spatial_nulls.py.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_spatial_nulls import part_distances, smooth_field, store_like_selection

from neurocine_toolbox.data.grayordinates import N_GRAYORDINATES, mmp_labels
from neurocine_toolbox.interpretation.roi_summary import YEO17_NAMES, atlas, roi_table
from neurocine_toolbox.interpretation.spatial_nulls import moran_surrogates

COLUMNS = ["region", "n_voxels", "mean_importance", "ci_low", "ci_high", "rank", "p_spatial", "n_null",
           "p_permutation", "q_spatial", "status"]


@pytest.fixture(scope="module")
def selection():
    return store_like_selection()


@pytest.fixture(scope="module")
def distances(selection):
    return part_distances(selection)


def test_a_map_that_lights_one_parcel_ranks_it_first_with_small_p_values(selection):
    labels = mmp_labels()
    rng = np.random.default_rng(1)
    values = np.full(N_GRAYORDINATES, np.nan)
    values[selection] = rng.normal(0.0, 0.1, len(selection))
    values[selection[labels[selection] == "L_V4"]] += 1.0
    table = roi_table(values, "HCP-MMP1.0", moran_surrogates(values, 100, seed=0), n_permutations=200, seed=0)
    assert list(table.columns) == COLUMNS
    assert str(table["rank"].dtype) == "Int64"
    top = table.iloc[0]
    assert top["region"] == "L_V4" and top["rank"] == 1 and top["status"] == "tested"
    assert top["n_voxels"] == (labels[selection] == "L_V4").sum()
    assert top["p_permutation"] == pytest.approx(1 / 201)
    assert top["p_spatial"] == pytest.approx(1 / 101) and top["n_null"] == 100
    others = table.iloc[1:]
    others = others[others["status"] == "tested"]
    assert (others["p_permutation"] > 0.01).mean() > 0.9  # no other parcel stands out
    assert others["p_spatial"].median() > 0.2
    assert table["ci_low"].isna().all()  # no per-window values given: no interval


def test_q_spatial_is_benjamini_hochberg_over_the_tested_regions(selection, distances):
    labels = mmp_labels()
    values = smooth_field(selection, np.random.default_rng(2), 6.0, distances=distances)
    sd = np.nanstd(values)
    for region, effect in (("L_V4", 2.0), ("R_V3A", 1.0), ("L_FFC", 0.7), ("R_V2", 0.4)):
        values[selection[labels[selection] == region]] += effect * sd
    table = roi_table(values, "HCP-MMP1.0", moran_surrogates(values, 200, seed=3), n_permutations=0)
    tested = table["status"] == "tested"
    assert tested.sum() >= 35 and (table.loc[tested, "p_spatial"] < 0.05).sum() >= 2
    p, q = table.loc[tested, "p_spatial"].to_numpy(), table.loc[tested, "q_spatial"].to_numpy()
    np.testing.assert_allclose(q, stats.false_discovery_control(p))
    assert (q >= p - 1e-12).all() and (q > p + 1e-9).any()
    assert table.loc[~tested, ["p_spatial", "q_spatial"]].isna().all().all()


def test_regions_under_min_voxels_are_listed_but_neither_ranked_nor_tested(selection, distances):
    labels = mmp_labels()
    mt = selection[labels[selection] == "L_MT"]
    lo1 = selection[labels[selection] == "L_LO1"]
    chosen = np.setdiff1d(selection, np.concatenate([mt[9:], lo1[10:]]))  # L_MT: 9 voxels, L_LO1: 10
    values = smooth_field(chosen, np.random.default_rng(4), 5.0)
    values[mt[:9]] += 10 * np.nanstd(values)  # the highest mean of all, but too few voxels
    values[lo1[:10]] -= 10 * np.nanstd(values)  # the lowest ranked one
    table = roi_table(values, "HCP-MMP1.0", moran_surrogates(values, 50, seed=0), n_permutations=50,
                      min_voxels=10).set_index("region")
    few = table.loc["L_MT"]
    assert few["n_voxels"] == 9 and few["status"] == "too few voxels" and pd.isna(few["rank"])
    assert few[["p_spatial", "p_permutation", "q_spatial"]].isna().all() and few["n_null"] == 0
    at = table.loc["L_LO1"]
    assert at["n_voxels"] == 10 and at["status"] == "tested" and at["n_null"] == 50
    assert np.isfinite(at[["p_spatial", "p_permutation", "q_spatial"]].astype(float)).all()
    ranked = table[table["status"] != "too few voxels"]
    # Ranks among ranked regions only: 1 is the highest mean, L_LO1 the last.
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    assert ranked["mean_importance"].is_monotonic_decreasing and ranked.index[-1] == "L_LO1"
    assert ranked.loc["L_LO1", "rank"] == len(ranked)
    # Ranked regions first, then the too-few ones by mean.
    unranked = table[table["status"] == "too few voxels"]
    assert list(table.index[:len(ranked)]) == list(ranked.index) and unranked.index[0] == "L_MT"
    assert unranked["mean_importance"].is_monotonic_decreasing


def cole_anticevic_selection():
    """Visual cortex, 15 frontoparietal cortical voxels and 80 cerebellar voxels: 40 frontoparietal
    (by the Cole–Anticevic labels), 40 cingulo-opercular."""
    labels, names = atlas("Cole-Anticevic networks")
    code = {name: label for label, name in names.items()}
    mmp = mmp_labels()
    rng = np.random.default_rng(6)
    cortex = store_like_selection(6, subcortical=())
    frontoparietal_cortex = np.flatnonzero(mmp == "L_p9-46v")[:15]
    cerebellum = mmp == "cerebellum_left"
    sub = {network: rng.choice(np.flatnonzero(cerebellum & (labels == code[network])), 40, replace=False)
           for network in ("Frontoparietal", "Cingulo-Opercular")}
    return np.sort(np.concatenate([cortex, frontoparietal_cortex, *sub.values()])), sub


def test_cole_anticevic_networks_are_judged_over_their_cortical_and_subcortical_voxels():
    selection, sub = cole_anticevic_selection()
    labels, names = atlas("Cole-Anticevic networks")
    frontoparietal = selection[labels[selection] == next(k for k, v in names.items() if v == "Frontoparietal")]
    values = smooth_field(selection, np.random.default_rng(7), 6.0)
    sd = np.nanstd(values)

    # The whole subcortex raised: each part keeps its own level in the surrogates, so a network
    # whose null mean covers its subcortical voxels too is not called; a null over its cortex
    # alone would call it at the smallest p.
    shifted = values.copy()
    shifted[selection[selection >= 59412]] += 5 * sd
    surrogates = moran_surrogates(shifted, 200, seed=1)
    table = roi_table(shifted, "Cole-Anticevic networks", surrogates, n_permutations=0).set_index("region")
    row = table.loc["Frontoparietal"]
    assert row["n_voxels"] == 55 == len(frontoparietal) and row["status"] == "tested"
    assert row["mean_importance"] == pytest.approx(shifted[frontoparietal].mean())
    rows = np.searchsorted(surrogates.grayordinates, frontoparietal)
    null = surrogates.values[rows].mean(axis=0)
    assert row["p_spatial"] == pytest.approx((1 + (null >= row["mean_importance"]).sum()) / 201)
    assert row["p_spatial"] > 0.1

    # Only the frontoparietal subcortical voxels raised: that network stands out.
    raised = values.copy()
    raised[sub["Frontoparietal"]] += 3 * sd
    table = roi_table(raised, "Cole-Anticevic networks", moran_surrogates(raised, 200, seed=1),
                      n_permutations=0).set_index("region")
    assert table.loc["Frontoparietal", "p_spatial"] < 0.01
    assert table.loc["Cingulo-Opercular", "p_spatial"] > 0.1

    # Subcortex not modelled (fewer voxels than asked for): networks touching it get no spatial
    # null at all, never one from their cortical voxels alone; cortical ones still do.
    surrogates = moran_surrogates(raised, 50, seed=1, min_part_voxels=100)
    assert not surrogates.parts.set_index("part").loc["subcortex", "modelled"]
    table = roi_table(raised, "Cole-Anticevic networks", surrogates, n_permutations=20).set_index("region")
    for network in ("Frontoparietal", "Cingulo-Opercular"):
        assert table.loc[network, "status"] == "no spatial null"
        assert np.isnan(table.loc[network, "p_spatial"]) and table.loc[network, "n_null"] == 0
        assert np.isfinite(table.loc[network, "p_permutation"]) and not pd.isna(table.loc[network, "rank"])
    assert (table.loc[["Visual1", "Visual2"], "status"] == "tested").all()


def test_without_surrogates_regions_are_ranked_with_no_spatial_null(selection):
    labels, names = atlas("HCP-MMP1.0")
    values = np.full(N_GRAYORDINATES, np.nan)
    v1 = np.flatnonzero(labels == next(k for k, v in names.items() if v == "R_V1"))
    thalamus = np.flatnonzero(labels == next(k for k, v in names.items() if v == "thalamus_left"))
    values[v1[:50]] = np.linspace(0, 1, 50)
    values[thalamus[:20]] = 2.0
    table = roi_table(values, "HCP-MMP1.0", None, n_permutations=0).set_index("region")
    assert set(table.index) == {"R_V1", "thalamus_left"}  # only regions with selected voxels
    assert (table["status"] == "no spatial null").all() and (table["n_null"] == 0).all()
    assert table[["p_spatial", "p_permutation", "q_spatial"]].isna().all().all()
    assert table.loc["thalamus_left", "rank"] == 1 and table.loc["R_V1", "rank"] == 2
    # Surrogates of another map (other grayordinates) are refused.
    other = values.copy()
    other[v1[50:60]] = 0.5
    with pytest.raises(ValueError, match="other grayordinates"):
        roi_table(values, "HCP-MMP1.0", moran_surrogates(other, 5, min_part_voxels=30))


def test_atlases_carry_their_published_names():
    _, yeo17 = atlas("Yeo 17")
    assert [yeo17[k] for k in sorted(yeo17)] == list(YEO17_NAMES)
    _, yeo7 = atlas("Yeo 7")
    assert yeo7[1] == "Visual" and yeo7[7] == "Default"
    _, networks = atlas("Cole-Anticevic networks")
    assert {"Visual1", "Visual2", "Default", "Frontoparietal"} <= set(networks.values())
    with pytest.raises(ValueError, match="unknown atlas"):
        atlas("Glasser 2016")


def test_mean_importance_gets_a_block_bootstrap_interval_over_windows():
    """Per-window values: the interval holds the mean, is narrow where windows agree and wide where
    they vary, and a region whose values all agree has a zero-width interval."""
    from neurocine_toolbox.interpretation.roi_summary import window_region_means

    labels = mmp_labels()
    columns = np.concatenate([np.flatnonzero(labels == name)[:20] for name in ("L_V1", "L_V2", "L_V3")])
    rng = np.random.default_rng(0)
    n = 60
    per_window = np.empty((n, len(columns)))
    per_window[:, :20] = 1.0                                   # L_V1: the same in every window
    per_window[:, 20:40] = 2.0 + 0.05 * rng.normal(size=(n, 1))  # L_V2: a little variation
    per_window[:, 40:] = 2.0 + 1.0 * rng.normal(size=(n, 1))     # L_V3: much more
    runs = np.repeat([0, 1, 2], n // 3)
    means = window_region_means(per_window, columns, "HCP-MMP1.0")
    values = np.full(N_GRAYORDINATES, np.nan)
    values[columns] = per_window.mean(axis=0)
    table = roi_table(values, "HCP-MMP1.0", None, n_permutations=0, min_voxels=1, window_means=means, runs=runs,
                      n_boot=500).set_index("region")
    assert table.loc["L_V1", "ci_low"] == table.loc["L_V1", "ci_high"] == pytest.approx(1.0)
    for region in ("L_V2", "L_V3"):
        assert table.loc[region, "ci_low"] < table.loc[region, "mean_importance"] < table.loc[region, "ci_high"]
    width = table["ci_high"] - table["ci_low"]
    assert width["L_V3"] > 5 * width["L_V2"]
