"""Moran spectral randomisation on a store's selected grayordinates: calibrated, powerful, faithful.

The selection is shaped like a store's: ~4,500 grayordinates in visual cortex of both
hemispheres (a random two thirds of 19 visual areas' grayordinates) and a few dozen subcortical
voxels. Null maps are smooth random fields drawn per part (left cortex, right cortex, subcortex)
with Gaussian or exponential kernels of widths 3–15 mm, on distances computed here (chords of
the fs_LR sphere), not with the module's own geometry.
"""

import numpy as np
import pytest

from neurocine_toolbox.data.grayordinates import N_CORTEX, N_GRAYORDINATES, hcp, mmp_labels, standard_brain_model_axis
from neurocine_toolbox.interpretation import spatial_nulls
from neurocine_toolbox.interpretation.roi_summary import roi_table
from neurocine_toolbox.interpretation.spatial_nulls import (
    LENGTH_GRID_MM,
    PARTS,
    fit_correlation_length,
    moran_surrogates,
    part_geometry,
    part_of,
)

VISUAL_AREAS = ("V1", "V2", "V3", "V4", "V3A", "V3B", "V6", "V7", "V8", "FFC", "VVC", "PIT", "LO1", "LO2", "LO3",
                "MT", "MST", "FST", "V4t")
#: Subcortical voxels of a store's selection (structure, count), as in the demo store.
SUBCORTICAL = (("cerebellum_left", 25), ("cerebellum_right", 24), ("brainStem", 7), ("putamen_left", 3),
               ("thalamus_right", 3))
N_SURROGATES = 200


def store_like_selection(seed=0, subcortical=SUBCORTICAL, share=0.67):
    """Sorted grayordinates: a random ``share`` of the visual areas' grayordinates and some subcortical voxels."""
    labels = mmp_labels()
    rng = np.random.default_rng(seed)
    visual = np.flatnonzero(np.isin(labels, [f"{h}_{a}" for a in VISUAL_AREAS for h in "LR"]))
    chosen = [visual[rng.random(len(visual)) < share]]
    for structure, count in subcortical:
        chosen.append(rng.choice(np.flatnonzero(labels == structure), count, replace=False))
    return np.sort(np.concatenate(chosen))


def positions(grayordinates):
    """Positions in mm: cortex on each hemisphere's fs_LR sphere, subcortex at voxel centres."""
    h = hcp()
    n_left = len(h.vertex_info.grayl)
    g = np.asarray(grayordinates)
    out = np.empty((len(g), 3))
    left, right, sub = g < n_left, (g >= n_left) & (g < N_CORTEX), g >= N_CORTEX
    out[left] = np.asarray(h.mesh.sphere_left[0])[h.vertex_info.grayl[g[left]]]
    out[right] = np.asarray(h.mesh.sphere_right[0])[h.vertex_info.grayr[g[right] - n_left]]
    axis = standard_brain_model_axis()
    out[sub] = axis.voxel[g[sub]] @ axis.affine[:3, :3].T + axis.affine[:3, 3]
    return out, np.where(left, 0, np.where(right, 1, 2))


def part_distances(selection):
    """``[(grayordinates, distances)]`` of the three parts (chords: close to arcs at these scales)."""
    x, part = positions(selection)
    out = []
    for p in range(3):
        y = x[part == p]
        squared = (y * y).sum(axis=1)
        out.append((selection[part == p], np.sqrt(np.maximum(squared[:, None] + squared[None] - 2 * y @ y.T, 0))))
    return out


def smooth_field(selection, rng, width, kernel="gauss", distances=None):
    """A smooth random map on the selection (NaN elsewhere): white noise blurred within each part."""
    values = np.full(N_GRAYORDINATES, np.nan)
    for g, d in distances or part_distances(selection):
        k = np.exp(-d ** 2 / (2 * width ** 2)) if kernel == "gauss" else np.exp(-d / width)
        values[g] = k @ rng.standard_normal(len(g))
    return values


@pytest.fixture(scope="module")
def selection():
    return store_like_selection()


@pytest.fixture(scope="module")
def null_maps(selection):
    """20 smooth null maps: Gaussian and exponential kernels, widths 3, 6, 10 and 15 mm."""
    rng = np.random.default_rng(5)
    distances = part_distances(selection)
    return [smooth_field(selection, rng, (3.0, 6.0, 10.0, 15.0)[(m // 2) % 4], ("gauss", "exp")[m % 2], distances)
            for m in range(20)]


def test_the_selection_is_shaped_like_a_store(selection):
    counts = np.bincount(part_of(selection), minlength=3)
    assert 4200 < len(selection) < 4800
    assert counts[0] > 2000 and counts[1] > 2000 and 50 < counts[2] < 100


def test_distances_are_arcs_on_each_hemispheres_sphere_and_euclidean_in_the_subcortex(selection):
    x, part = positions(selection)
    rng = np.random.default_rng(0)
    for p in range(3):
        g = selection[part == p]
        some = np.sort(rng.choice(len(g), 40, replace=False))
        d = spatial_nulls.part_distances(p, g[some])
        chord = np.linalg.norm(x[part == p][some][:, None] - x[part == p][some][None], axis=-1)
        if p < 2:
            radius = np.linalg.norm(x[part == p], axis=1).mean()
            assert radius == pytest.approx(100.0, rel=0.01)
            chord = 2 * radius * np.arcsin(np.minimum(chord / (2 * radius), 1.0))
        np.testing.assert_allclose(d, chord, atol=0.05)
    assert spatial_nulls.part_distances(2, selection[part == 2]).max() > 50  # cerebellum to putamen


@pytest.mark.slow
def test_the_spatial_p_is_calibrated_on_sparse_smooth_null_maps(null_maps):
    """About 5 % of MMP regions come out at p_spatial < 0.05 on maps without any regional effect,
    where shuffling voxels (no spatial structure) calls far more of them."""
    spatial, permutation = [], []
    for m, values in enumerate(null_maps):
        surrogates = moran_surrogates(values, N_SURROGATES, seed=m)
        assert surrogates.parts["modelled"].all()
        table = roi_table(values, "HCP-MMP1.0", surrogates, n_permutations=100, seed=m)
        tested = table[table["status"] == "tested"]
        assert len(tested) >= 35 and (tested["n_null"] == N_SURROGATES).all()
        spatial.append((tested["p_spatial"] < 0.05).to_numpy())
        permutation.append((tested["p_permutation"] < 0.05).to_numpy())
    spatial, permutation = np.concatenate(spatial), np.concatenate(permutation)
    assert len(spatial) >= 700
    assert 0.03 <= spatial.mean() <= 0.07, spatial.mean()
    assert permutation.mean() > 0.25


@pytest.mark.slow
def test_a_planted_effect_of_one_and_a_half_sd_in_one_area_is_found_in_most_maps(null_maps, selection):
    """1.5 SD (of the map over the selection) added to L_V4's ~230 selected voxels: p_spatial < 0.05
    in at least 80 % of maps (measured: 94 %; 1 SD: 69 %, 0.5 SD: 38 %)."""
    labels = mmp_labels()
    v4 = selection[labels[selection] == "L_V4"]
    p = []
    for m, values in enumerate(null_maps[:12]):
        planted = values.copy()
        planted[v4] += 1.5 * np.nanstd(values)
        table = roi_table(planted, "HCP-MMP1.0", moran_surrogates(planted, N_SURROGATES, seed=m),
                          n_permutations=0).set_index("region")
        assert table.loc["L_V4", "status"] == "tested"
        p.append(table.loc["L_V4", "p_spatial"])
    assert np.mean(np.array(p) < 0.05) >= 0.8, p


def test_surrogates_keep_the_maps_autocorrelation_mean_and_spread(selection):
    rng = np.random.default_rng(3)
    lengths = {}
    for width in (3.0, 12.0):
        values = smooth_field(selection, rng, width)
        surrogates = moran_surrogates(values, 50, seed=1)
        assert np.array_equal(surrogates.grayordinates, np.flatnonzero(np.isfinite(values)))
        assert surrogates.values.shape == (len(selection), 50) and surrogates.n_surrogates == 50
        parts = part_of(surrogates.grayordinates)
        for p in (0, 1):
            g = surrogates.grayordinates[parts == p]
            x, drawn = values[g], surrogates.values[parts == p]
            # Each part keeps its mean exactly and its spread closely.
            np.testing.assert_allclose(drawn.mean(axis=0), x.mean(), atol=0.01 * x.std())
            np.testing.assert_allclose(drawn.std(axis=0, ddof=1), x.std(ddof=1), rtol=0.02)
            geometry = part_geometry(p, g)
            own = fit_correlation_length(x, geometry)
            assert LENGTH_GRID_MM[own] == pytest.approx(surrogates.parts.loc[p, "correlation_length_mm"])
            theirs = np.median([fit_correlation_length(drawn[:, k], geometry) for k in range(20)])
            assert abs(theirs - own) <= 2  # within two grid steps (~30 %) of the map's length
            lengths[width, p] = LENGTH_GRID_MM[own]
            # Not a copy of the map: surrogates are rearrangements, nearly uncorrelated with it.
            assert np.abs([np.corrcoef(x, drawn[:, k])[0, 1] for k in range(20)]).mean() < 0.5
    # The fitted length follows the field's width (Gaussian blur of width w: correlation w·√2).
    for p in (0, 1):
        assert 3.0 < lengths[3.0, p] < 7.0 and 8.0 < lengths[12.0, p] < 24.0
        assert lengths[12.0, p] > 1.8 * lengths[3.0, p]


def test_parts_too_small_or_constant_get_no_surrogates_and_the_seed_fixes_them():
    selection = store_like_selection(1, subcortical=(("cerebellum_left", 20),))
    values = smooth_field(selection, np.random.default_rng(0), 6.0)
    n_left = len(hcp().vertex_info.grayl)
    values[n_left:N_CORTEX] = np.where(np.isfinite(values[n_left:N_CORTEX]), 2.5, np.nan)  # right cortex constant
    surrogates = moran_surrogates(values, 30, seed=4, min_part_voxels=30)
    parts = surrogates.parts.set_index("part")
    assert list(parts.index) == list(PARTS)
    assert parts.loc["left cortex", "modelled"] and parts.loc["left cortex", "reason"] == ""
    assert not parts.loc["right cortex", "modelled"] and "constant" in parts.loc["right cortex", "reason"]
    assert not parts.loc["subcortex", "modelled"] and "fewer than 30" in parts.loc["subcortex", "reason"]
    assert parts.loc["subcortex", "n_voxels"] == 20 and np.isnan(parts.loc["subcortex", "correlation_length_mm"])
    rows = part_of(surrogates.grayordinates)
    assert np.isfinite(surrogates.values[rows == 0]).all()
    assert np.isnan(surrogates.values[rows > 0]).all()

    again = moran_surrogates(values, 30, seed=4, min_part_voxels=30)
    np.testing.assert_array_equal(again.values, surrogates.values)
    other = moran_surrogates(values, 30, seed=5, min_part_voxels=30)
    assert not np.allclose(other.values[rows == 0], surrogates.values[rows == 0])
    # With a lower bar the 20 subcortical voxels are modelled too.
    assert moran_surrogates(values, 5, seed=4, min_part_voxels=20).parts.loc[2, "modelled"]


def test_eigendecompositions_are_shared_by_maps_with_one_selection_and_length(selection, monkeypatch):
    calls = []
    compute = spatial_nulls._eigenvectors
    monkeypatch.setattr(spatial_nulls, "_eigenvectors", lambda *key: calls.append(key) or compute(*key))
    values = smooth_field(selection, np.random.default_rng(8), 5.0)
    first = moran_surrogates(values, 10, seed=0)
    n_first = len(calls)
    second = moran_surrogates(2.0 * values + 1.0, 10, seed=1)  # same correlogram, same lengths
    assert len(calls) == n_first
    assert first.parts["correlation_length_mm"].equals(second.parts["correlation_length_mm"])


def test_a_map_without_autocorrelation_gets_surrogates_too(selection):
    """White noise fits a short length, down to a kernel narrower than the voxels' spacing (the
    demo's attribution map); its surrogates must still exist everywhere (not NaN from a
    constant eigenvector), and call about 5 % of regions."""
    rng = np.random.default_rng(11)
    shares = []
    for m in range(2):
        values = np.full(N_GRAYORDINATES, np.nan)
        values[selection] = rng.standard_normal(len(selection))
        surrogates = moran_surrogates(values, N_SURROGATES, seed=m)
        assert np.isfinite(surrogates.values).all()
        table = roi_table(values, "HCP-MMP1.0", surrogates, n_permutations=0)
        shares.append((table.loc[table["status"] == "tested", "p_spatial"] < 0.05).to_numpy())
    assert 0.0 < np.concatenate(shares).mean() < 0.12


def test_the_narrowest_kernel_keeps_no_constant_eigenvector(selection):
    left = selection[part_of(selection) == 0][:300]
    mem = spatial_nulls.moran_eigenvectors(0, left, 0)  # 0.3 mm: narrower than any two voxels
    assert mem.shape[1] >= 250 and (mem.std(axis=0) > 1e-2 / np.sqrt(len(mem))).all()
