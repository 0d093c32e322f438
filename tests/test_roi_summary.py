"""ROI tables: a map that lights one parcel, the spin test against the permutation, atlas names."""

import numpy as np
import pytest

from neurocine_toolbox.data.grayordinates import N_CORTEX, N_GRAYORDINATES, hcp, mmp_labels
from neurocine_toolbox.interpretation.roi_summary import YEO17_NAMES, atlas, roi_table, spin_samples

N_SPINS = 100


@pytest.fixture(scope="module")
def spins():
    return spin_samples(N_SPINS, 0)


def test_spins_are_rotations_that_keep_neighbours_together(spins):
    assert spins.shape == (N_CORTEX, N_SPINS)
    assert spins.min() >= 0 and spins.max() < N_CORTEX
    h = hcp()
    n_left = len(h.vertex_info.grayl)
    # The left hemisphere stays left; a rotation moves every vertex but keeps most of the
    # resampled values distinct (nearest-vertex matching of a rotated sphere).
    assert (spins[:n_left] < n_left).all() and (spins[n_left:] >= n_left).all()
    assert (spins[:, 0] != np.arange(N_CORTEX)).mean() > 0.9
    assert len(np.unique(spins[:n_left, 0])) > 0.5 * n_left


def test_a_map_that_lights_one_parcel_ranks_it_first_with_small_p_values(spins):
    labels = mmp_labels()
    rng = np.random.default_rng(1)
    values = np.full(N_GRAYORDINATES, np.nan)
    values[:N_CORTEX] = rng.normal(0.0, 0.1, N_CORTEX)
    values[labels == "L_V4"] += 1.0
    table = roi_table(values, "HCP-MMP1.0", spins, n_permutations=200, seed=0)
    top = table.iloc[0]
    assert top["region"] == "L_V4" and top["rank"] == 1
    assert top["n_voxels"] == (labels == "L_V4").sum()
    assert top["p_permutation"] == pytest.approx(1 / 201)
    assert top["p_spin"] <= 0.05 and top["n_spins"] > 0.9 * N_SPINS
    others = table.iloc[1:]
    assert (others["p_permutation"] > 0.01).mean() > 0.95  # no other parcel stands out
    assert others["p_spin"].median() > 0.2
    assert set(table.columns) == {"region", "n_voxels", "mean_importance", "ci_low", "ci_high", "rank", "p_spin",
                                  "n_spins", "p_permutation", "q_spin"}
    assert table["ci_low"].isna().all()  # no per-window values given: no interval
    assert table["q_spin"].min() >= table["p_spin"].min()  # BH never lowers a p-value


def smooth_random_field(rng, n_waves=20, frequency=4.0):
    """A spatially smooth random map on the cortex: plane waves on the fs_LR sphere (no parcel effect)."""
    h = hcp()
    vertices = np.concatenate([h.vertex_info.grayl, h.vertex_info.grayr])
    field = np.zeros(N_CORTEX)
    for hemisphere, sphere, part in ((0, h.mesh.sphere_left[0], slice(0, len(h.vertex_info.grayl))),
                                     (1, h.mesh.sphere_right[0], slice(len(h.vertex_info.grayl), N_CORTEX))):
        x = np.asarray(sphere, float)[vertices[part]]
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        for _ in range(n_waves):
            u = rng.normal(size=3)
            field[part] += np.cos(frequency * x @ (u / np.linalg.norm(u)) + rng.uniform(0, 2 * np.pi))
    values = np.full(N_GRAYORDINATES, np.nan)
    values[:N_CORTEX] = field
    return values


def test_the_spin_test_respects_spatial_autocorrelation_where_the_permutation_does_not(spins):
    """Smooth random maps with no parcel effect: shuffling voxels calls many parcels significant
    (neighbouring voxels move together), rotating the map keeps the false positives near 5 %."""
    rng = np.random.default_rng(2)
    spin_hits, perm_hits = [], []
    for _ in range(3):
        table = roi_table(smooth_random_field(rng), "HCP-MMP1.0", spins, n_permutations=200, seed=0)
        spin_hits.append((table["p_spin"] < 0.05).mean())
        perm_hits.append((table["p_permutation"] < 0.05).mean())
    assert np.mean(perm_hits) > 0.25
    assert np.mean(spin_hits) < 0.12


def test_only_regions_with_selected_voxels_are_listed_and_subcortex_has_no_spin_p(spins):
    labels, names = atlas("HCP-MMP1.0")
    values = np.full(N_GRAYORDINATES, np.nan)
    v1 = np.flatnonzero(labels == next(k for k, v in names.items() if v == "R_V1"))
    thalamus = np.flatnonzero(labels == next(k for k, v in names.items() if v == "thalamus_left"))
    values[v1[:50]] = 1.0
    values[thalamus[:20]] = 2.0
    table = roi_table(values, "HCP-MMP1.0", spins, n_permutations=50).set_index("region")
    assert set(table.index) == {"R_V1", "thalamus_left"}
    assert table.loc["R_V1", "n_voxels"] == 50 and np.isfinite(table.loc["R_V1", "p_spin"])
    assert np.isnan(table.loc["thalamus_left", "p_spin"]) and table.loc["thalamus_left", "rank"] == 1
    without = roi_table(values, "HCP-MMP1.0", None, n_permutations=0)
    assert without["p_spin"].isna().all() and without["p_permutation"].isna().all()
    # Regions with too few selected voxels are listed, untested.
    few = roi_table(values, "HCP-MMP1.0", spins, n_permutations=50, min_voxels=30).set_index("region")
    assert np.isnan(few.loc["thalamus_left", "p_permutation"]) and few.loc["thalamus_left", "n_voxels"] == 20
    assert np.isfinite(few.loc["R_V1", "p_permutation"])


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
