"""The report's ROI importance against a simulated dataset's true encoding model."""

import numpy as np
import pytest

from neurocine_toolbox.data.grayordinates import N_GRAYORDINATES, mmp_labels
from neurocine_toolbox.interpretation.roi_summary import roi_table, spin_samples, window_region_means
from neurocine_toolbox.interpretation.simulation_truth import parcel_truth, truth_correlations

AREAS = ("V1", "V2", "V3", "V4", "MT", "MST", "LO1", "LO2", "FFC", "PIT", "V3A", "V6", "V7", "V8")


@pytest.fixture(scope="module")
def setting():
    """Selected voxels in 28 visual parcels; the truth says half of them carry signal."""
    labels = mmp_labels()
    selected = np.isin(labels, [f"{h}_{a}" for a in AREAS for h in "LR"])
    group = np.zeros(N_GRAYORDINATES, np.int8)
    driven = np.isin(labels, [f"{h}_{a}" for a in AREAS[::2] for h in "LR"])
    group[driven] = 1
    gains = np.zeros((2, N_GRAYORDINATES), np.float32)
    gains[0, driven] = 1.0
    gains[1] = np.random.default_rng(0).random(N_GRAYORDINATES)
    truth = {"group": group, "gains": gains, "block_names": np.array(["colour", "noise"])}
    return labels, selected, driven, truth


def test_parcel_truth_is_the_share_of_driven_voxels_and_mean_gains(setting):
    labels, selected, driven, truth = setting
    table = parcel_truth(truth, selected)
    assert len(table) == 2 * len(AREAS)
    assert table.loc["L_V1", "stimulus_driven"] == 1.0 and table.loc["L_V2", "stimulus_driven"] == 0.0
    assert table.loc["R_V1", "gain_colour"] == 1.0
    assert table.loc["L_MT", "gain_noise"] == pytest.approx(truth["gains"][1][labels == "L_MT"].mean())


def test_importance_that_follows_the_truth_correlates_and_noise_does_not(setting):
    labels, selected, driven, truth = setting
    spins = spin_samples(50, 0)
    rng = np.random.default_rng(1)
    following = np.where(selected, rng.normal(0, 0.1, N_GRAYORDINATES) + driven, np.nan)
    table = roi_table(following, "HCP-MMP1.0", None, n_permutations=0)
    # Windows that each show the map plus noise: rho's interval comes from resampling them.
    windows = following[selected][None] + rng.normal(0, 0.3, (40, selected.sum()))
    means = window_region_means(windows, np.flatnonzero(selected), "HCP-MMP1.0")
    result = truth_correlations(table, truth, following, spins, means, np.repeat([0, 1], 20), n_boot=200)
    result = result.set_index("truth")
    low, high = result.loc["stimulus_driven", ["ci_low", "ci_high"]]
    assert low <= result.loc["stimulus_driven", "spearman_rho"] <= high and low > 0.5
    assert result.loc["stimulus_driven", "spearman_rho"] > 0.8
    assert result.loc["stimulus_driven", "p"] < 1e-4
    assert result.loc["stimulus_driven", "n_parcels"] == 2 * len(AREAS)
    assert 0 < result.loc["stimulus_driven", "n_spins"] <= 50
    assert abs(result.loc["gain_noise", "spearman_rho"]) < 0.5

    noise = np.where(selected, rng.normal(0, 1, N_GRAYORDINATES), np.nan)
    table = roi_table(noise, "HCP-MMP1.0", None, n_permutations=0)
    result = truth_correlations(table, truth, noise, spins).set_index("truth")
    assert result.loc["stimulus_driven", "p"] > 0.01 and result.loc["stimulus_driven", "p_spin"] > 0.01
