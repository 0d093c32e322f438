"""Vertex data from fs_LR 32k to fsaverage5, through the HCP's registration spheres.

fs_LR and fsaverage are different meshes in different spherical registrations: their spheres
cannot be overlaid as they are (sulcal depth carried through the undeformed fs_LR sphere
correlates about 0 with fsaverage5's own). The HCP ships the fs_LR sphere *deformed into
fsaverage's registration*; on it, each fsaverage5 vertex falls in an fs_LR triangle.

The weights follow Connectome Workbench's adaptive barycentric resampling with vertex areas
(``ADAP_BARY_AREA``), written here with numpy and scipy (no Workbench at run time):

- forward: each fsaverage5 vertex takes the barycentric weights of the deformed fs_LR triangle
  it falls in (3 fs_LR vertices);
- reverse: each fs_LR vertex falls in an fsaverage5 triangle; transposed, each fsaverage5
  vertex collects the fs_LR vertices that fall around it, weighted by their barycentric weight
  times their mean vertex area (fs_LR's midthickness ``va_avg``);
- adaptive: each fsaverage5 vertex uses whichever of the two involves more fs_LR vertices (the
  reverse one where fs_LR is denser, i.e. almost everywhere: 32k → 10k vertices), rows
  normalised to sum to 1, so a constant map stays constant and a map is averaged over the fs_LR
  vertices each fsaverage5 vertex stands for instead of sampled at 3 of them.

``scripts/derive_fslr_to_fsaverage5.py`` computes the table once and the package ships it
(``interpretation/data/``, with the HCP's notice); :func:`fslr_to_fsaverage5` applies it.
"""

import functools
from importlib import resources

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

TABLE = "fslr32k_to_fsaverage5.npz"
N_FSLR, N_FSAVERAGE5 = 32492, 10242


def _unit(points):
    points = np.asarray(points, np.float64)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def barycentric_weights(source_vertices, source_triangles, targets, k=12):
    """For every target point on the sphere, the source triangle it falls in and its weights.

    Parameters
    ----------
    source_vertices : float ``[V, 3]``
        A sphere's vertices (any radius; centred at the origin).
    source_triangles : int ``[T, 3]``
    targets : float ``[N, 3]``
        Points on the same sphere.
    k : int
        Nearest source vertices whose triangles are searched.

    Returns
    -------
    scipy.sparse.csr_matrix ``[N, V]``
        Three weights per row (the ray from the centre through the target meets the triangle's
        plane at ``Σ w_i v_i``), summing to 1; the nearest vertex alone where no triangle is
        found (never on a closed mesh).
    """
    vertices, points = _unit(source_vertices), _unit(targets)
    triangles = np.asarray(source_triangles, np.int64)
    # Which triangles touch each vertex (CSR adjacency).
    owner = sparse.csr_matrix((np.ones(triangles.size), (triangles.ravel(), np.repeat(np.arange(len(triangles)), 3))),
                              shape=(len(vertices), len(triangles)))
    _, nearest = cKDTree(vertices).query(points, k=k)
    rows, cols, vals = [], [], []
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    for i, point in enumerate(points):
        candidates = np.unique(owner[nearest[i]].indices)
        # Ray–plane intersection, then barycentric coordinates in the triangle's plane.
        ta, tb, tc = a[candidates], b[candidates], c[candidates]
        normal = np.cross(tb - ta, tc - ta)
        scale = np.einsum("ij,ij->i", normal, ta) / np.einsum("ij,j->i", normal, point)
        hit = scale[:, None] * point[None]
        area = np.einsum("ij,ij->i", normal, normal)
        wa = np.einsum("ij,ij->i", np.cross(tb - hit, tc - hit), normal) / area
        wb = np.einsum("ij,ij->i", np.cross(tc - hit, ta - hit), normal) / area
        wc = 1.0 - wa - wb
        weights = np.stack([wa, wb, wc], axis=1)
        inside = (weights.min(axis=1) >= -1e-9) & (scale > 0)
        if inside.any():
            j = int(np.flatnonzero(inside)[np.argmax(weights[inside].min(axis=1))])
            w = np.clip(weights[j], 0, None)
            rows += [i] * 3
            cols += triangles[candidates[j]].tolist()
            vals += (w / w.sum()).tolist()
        else:
            rows.append(i)
            cols.append(int(nearest[i, 0]))
            vals.append(1.0)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(points), len(vertices)))


def adaptive_area_weights(source_sphere, target_sphere, source_areas):
    """Adaptive barycentric weights with areas (Workbench's ``ADAP_BARY_AREA``), source → target.

    Parameters
    ----------
    source_sphere, target_sphere : tuple ``(vertices, triangles)``
        Both spheres in the same registration.
    source_areas : float ``[V_source]``
        Mean vertex areas of the source mesh.

    Returns
    -------
    scipy.sparse.csr_matrix ``[V_target, V_source]``
        Rows sum to 1: ``target = W @ source``.
    """
    forward = barycentric_weights(*source_sphere, target_sphere[0])                 # [T, S]
    reverse = barycentric_weights(*target_sphere, source_sphere[0]).T.tocsr()       # [T, S]
    reverse = reverse @ sparse.diags(np.asarray(source_areas, np.float64))
    use_reverse = np.diff(reverse.indptr) > np.diff(forward.indptr)
    chosen = sparse.diags(use_reverse.astype(float)) @ reverse + sparse.diags((~use_reverse).astype(float)) @ forward
    chosen = chosen.tocsr()
    chosen.eliminate_zeros()
    totals = np.asarray(chosen.sum(axis=1)).ravel()
    return (sparse.diags(1.0 / totals) @ chosen).tocsr()


@functools.lru_cache(maxsize=1)
def load_table():
    """The shipped fs_LR 32k → fsaverage5 weights: ``{"left": csr [10242, 32492], "right": …}``."""
    with resources.files("neurocine_toolbox.interpretation.data").joinpath(TABLE).open("rb") as f:
        stored = np.load(f)
        return {hemi: sparse.csr_matrix((stored[f"{hemi}_data"], stored[f"{hemi}_indices"], stored[f"{hemi}_indptr"]),
                                        shape=(N_FSAVERAGE5, N_FSLR))
                for hemi in ("left", "right")}


def fslr_to_fsaverage5(left, right, table=None):
    """Carry per-vertex fs_LR 32k data to fsaverage5.

    Parameters
    ----------
    left, right : float ``[32492]`` or ``[32492, K]``
        Values on each hemisphere's fs_LR 32k vertices (NaN where undefined, e.g. the medial wall:
        they are left out of each average, and a vertex with only NaN sources is NaN).
    table : dict, optional
        :func:`load_table`'s output (loaded when not given).

    Returns
    -------
    tuple of ndarray ``[10242]`` or ``[10242, K]``
    """
    table = table or load_table()
    out = []
    for hemi, values in (("left", left), ("right", right)):
        values = np.asarray(values, np.float64)
        if values.shape[0] != N_FSLR:
            raise ValueError(f"{hemi} hemisphere: {values.shape[0]} values, fs_LR 32k has {N_FSLR} vertices")
        defined = np.isfinite(values)
        weights = table[hemi]
        total = weights @ np.where(defined, values, 0.0)
        mass = weights @ defined.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(mass > 0, total / np.where(mass > 0, mass, 1), np.nan))
    return tuple(out)
