"""The report's ROI importance against a simulated dataset's true encoding model."""

import numpy as np
import pytest
from scipy import stats
from test_spatial_nulls import part_distances, smooth_field

from neurocine_toolbox.data.grayordinates import N_CORTEX, N_GRAYORDINATES, mmp_labels
from neurocine_toolbox.interpretation.roi_summary import roi_table, window_region_means
from neurocine_toolbox.interpretation.simulation_truth import parcel_truth, truth_correlations
from neurocine_toolbox.interpretation.spatial_nulls import moran_surrogates

AREAS = ("V1", "V2", "V3", "V4", "MT", "MST", "LO1", "LO2", "FFC", "PIT", "V3A", "V6", "V7", "V8")
N_SURROGATES = 200


@pytest.fixture(scope="module")
def setting():
    """Selected voxels (a random 60 %) in 28 visual parcels; the truth says half of them carry signal."""
    labels = mmp_labels()
    selected = np.isin(labels, [f"{h}_{a}" for a in AREAS for h in "LR"])
    selected &= np.random.default_rng(9).random(N_GRAYORDINATES) < 0.6
    group = np.zeros(N_GRAYORDINATES, np.int8)
    driven = np.isin(labels, [f"{h}_{a}" for a in AREAS[::2] for h in "LR"])
    group[driven] = 1
    gains = np.zeros((2, N_GRAYORDINATES), np.float32)
    gains[0, driven] = 1.0
    gains[1] = np.random.default_rng(0).random(N_GRAYORDINATES)
    truth = {"group": group, "gains": gains, "block_names": np.array(["colour", "noise"])}
    return labels, selected, driven, truth


def test_parcel_truth_is_the_share_of_driven_voxels_and_mean_gains(setting):
    labels, selected, _, truth = setting
    table = parcel_truth(truth, selected)
    assert len(table) == 2 * len(AREAS)
    assert table.loc["L_V1", "stimulus_driven"] == 1.0 and table.loc["L_V2", "stimulus_driven"] == 0.0
    assert table.loc["R_V1", "gain_colour"] == 1.0
    assert table.loc["L_MT", "gain_noise"] == pytest.approx(truth["gains"][1][selected & (labels == "L_MT")].mean())


def test_importance_that_follows_the_truth_correlates_beyond_the_spatial_null(setting):
    _, selected, driven, truth = setting
    rng = np.random.default_rng(1)
    smooth = smooth_field(np.flatnonzero(selected), rng, 6.0)
    following = smooth / np.nanstd(smooth) + 2.0 * driven  # the truth on top of smooth noise
    table = roi_table(following, "HCP-MMP1.0", None, n_permutations=0)
    # Windows that each show the map plus noise: rho's interval comes from resampling them.
    windows = following[selected][None] + rng.normal(0, 0.3, (40, selected.sum()))
    means = window_region_means(windows, np.flatnonzero(selected), "HCP-MMP1.0")
    surrogates = moran_surrogates(following, N_SURROGATES, seed=0)
    result = truth_correlations(table, truth, following, surrogates, means, np.repeat([0, 1], 20), n_boot=200)
    assert list(result.columns) == ["truth", "n_parcels", "spearman_rho", "ci_low", "ci_high", "p", "p_spatial",
                                    "n_null"]
    result = result.set_index("truth")
    row = result.loc["stimulus_driven"]
    assert row["ci_low"] <= row["spearman_rho"] <= row["ci_high"] and row["ci_low"] > 0.5
    assert row["spearman_rho"] > 0.8 and row["p"] < 1e-4
    assert row["p_spatial"] == pytest.approx(1 / (N_SURROGATES + 1)) and row["n_null"] == N_SURROGATES
    assert row["n_parcels"] == 2 * len(AREAS)
    assert abs(result.loc["gain_noise", "spearman_rho"]) < 0.5 and result.loc["gain_noise", "p_spatial"] > 0.05


def test_a_smooth_map_unrelated_to_the_truth_is_not_called(setting):
    """Smooth maps without the truth's pattern: the spatial p is not small in any of them."""
    _, selected, _, truth = setting
    rng = np.random.default_rng(2)
    distances = part_distances(np.flatnonzero(selected))
    for m, width in enumerate((4.0, 10.0)):
        smooth = smooth_field(np.flatnonzero(selected), rng, width, distances=distances)
        table = roi_table(smooth, "HCP-MMP1.0", None, n_permutations=0)
        result = truth_correlations(table, truth, smooth, moran_surrogates(smooth, N_SURROGATES, seed=m))
        row = result.set_index("truth").loc["stimulus_driven"]
        assert abs(row["spearman_rho"]) < 0.6 and row["p_spatial"] > 0.05 and row["n_null"] == N_SURROGATES


def test_the_spatial_null_is_each_surrogates_rho_over_the_ranked_parcels(setting):
    labels, selected, driven, truth = setting
    chosen = selected.copy()
    chosen[np.flatnonzero(chosen & (labels == "L_MT"))[5:]] = False  # 5 voxels: too few, left out of the correlation
    values = np.where(chosen, smooth_field(np.flatnonzero(chosen), np.random.default_rng(3), 5.0) + driven, np.nan)
    table = roi_table(values, "HCP-MMP1.0", None, n_permutations=0, min_voxels=10)
    surrogates = moran_surrogates(values, 30, seed=1)
    row = truth_correlations(table, truth, values, surrogates).set_index("truth").loc["stimulus_driven"]
    parcels = [f"{h}_{a}" for a in AREAS for h in "LR" if f"{h}_{a}" != "L_MT"]
    assert row["n_parcels"] == len(parcels) == 27
    where = [np.isin(surrogates.grayordinates, np.flatnonzero(labels == p)) for p in parcels]
    truth_values = [driven[chosen & (labels == p)].mean() for p in parcels]
    rho = stats.spearmanr([np.nanmean(values[labels == p]) for p in parcels], truth_values).statistic
    null = [stats.spearmanr([surrogates.values[w, k].mean() for w in where], truth_values).statistic
            for k in range(30)]
    assert row["spearman_rho"] == pytest.approx(rho)
    assert row["p_spatial"] == pytest.approx((1 + np.sum(np.array(null) >= rho - 1e-12)) / 31)
    assert row["n_null"] == 30


def test_no_spatial_p_where_a_parcel_lacks_surrogate_values(setting):
    """A ranked subcortical parcel in a subcortex too small to model: no partial null, no p_spatial."""
    labels, selected, driven, truth = setting
    chosen = selected.copy()
    chosen[np.flatnonzero(labels == "thalamus_left")[:20]] = True
    values = np.where(chosen, smooth_field(np.flatnonzero(chosen), np.random.default_rng(4), 5.0), np.nan)
    values[chosen] += driven[chosen]
    table = roi_table(values, "HCP-MMP1.0", None, n_permutations=0)
    surrogates = moran_surrogates(values, 20, seed=0, min_part_voxels=30)
    assert np.isnan(surrogates.values[surrogates.grayordinates >= N_CORTEX]).all()
    result = truth_correlations(table, truth, values, surrogates).set_index("truth")
    assert result.loc["stimulus_driven", "n_parcels"] == 2 * len(AREAS) + 1
    assert np.isfinite(result.loc["stimulus_driven", "p"])
    assert np.isnan(result.loc["stimulus_driven", "p_spatial"]) and result.loc["stimulus_driven", "n_null"] == 0
    without = truth_correlations(table, truth, values).set_index("truth")
    assert without["p_spatial"].isna().all() and (without["n_null"] == 0).all()
    with pytest.raises(ValueError, match="other grayordinates"):
        truth_correlations(table, truth, np.where(selected, values, np.nan), surrogates)
