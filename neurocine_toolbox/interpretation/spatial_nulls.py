"""Spatial null maps on the selected grayordinates: Moran spectral randomisation (MSR).

A store selects a few thousand grayordinates (mostly visual cortex of both hemispheres, some
subcortical voxels). A null that keeps the map's spatial autocorrelation must be drawn on those
grayordinates themselves: a spin test rotates values onto vertices without data, and leaves
sparse selections almost without a null.

MSR (Wagner & Dray 2015; ``brainspace.null_models``) expresses the map in the eigenvectors of a
doubly centred spatial weight matrix (Moran eigenvector maps) and flips the sign of each
coefficient at random ("singleton" procedure). The surrogates keep the map's mean, its variance
and how the variance spreads over spatial scales, so they keep its correlogram.

The selection is modelled in three parts, each separately: the left and the right cortex
(great-circle distances on that hemisphere's fs_LR sphere) and the subcortex (Euclidean distance
between voxel centres). Per part, the weights are a Gaussian kernel
``exp(-d² / (2 ℓ²))`` whose correlation length ℓ is fitted to the map's own correlogram
(:func:`fit_correlation_length`, on a fixed grid so that maps sharing a selection share
eigendecompositions). A part with fewer than ``min_part_voxels`` selected voxels, more than
``max_part_voxels``, or on which the map is constant gets no surrogates: its rows are NaN, and
a region touching it has no spatial null.
"""

import functools
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.grayordinates import N_CORTEX, hcp, standard_brain_model_axis

PARTS = ("left cortex", "right cortex", "subcortex")

#: Correlation lengths (mm) a part's kernel may take: a fixed grid, so that the
#: eigendecomposition of one selection at one length is computed once and reused.
LENGTH_GRID_MM = np.geomspace(0.3, 60.0, 40)

#: Distance bins of the correlogram (quantiles over the nearest half of voxel pairs).
N_DISTANCE_BINS = 25

#: At most this many voxels (a fixed random subset) enter a part's correlogram: pairs grow
#: quadratically and a few million already pin the curve down.
CORRELOGRAM_VOXELS = 3000


@dataclass
class Surrogates:
    """Spatial null maps of one grayordinate map, on its selected grayordinates.

    Attributes
    ----------
    grayordinates : ndarray of int ``[n_selected]``
        The rows' grayordinates (sorted): where the map is finite.
    values : ndarray ``[n_selected, n_surrogates]``
        The surrogate maps; NaN rows in parts that were not modelled.
    parts : pandas.DataFrame
        One row per part (:data:`PARTS`): ``part``, ``n_voxels``, ``correlation_length_mm``
        (NaN if not modelled), ``modelled`` (bool), ``reason`` (why not; "" if modelled).
    """

    grayordinates: np.ndarray
    values: np.ndarray
    parts: pd.DataFrame

    @property
    def n_surrogates(self):
        """Number of surrogate maps (columns of :attr:`values`)."""
        return self.values.shape[1]


def part_of(grayordinates):
    """Index into :data:`PARTS` of each grayordinate (0 left cortex, 1 right cortex, 2 subcortex)."""
    g = np.asarray(grayordinates)
    n_left = len(hcp().vertex_info.grayl)
    return np.where(g < n_left, 0, np.where(g < N_CORTEX, 1, 2))


def part_coordinates(part, grayordinates):
    """Positions (mm) of one part's grayordinates: on the hemisphere's fs_LR sphere, or voxel centres.

    Parameters
    ----------
    part : int
        Index into :data:`PARTS`.
    grayordinates : ndarray of int
        Grayordinates of that part.

    Returns
    -------
    ndarray ``[n, 3]``
    """
    g = np.asarray(grayordinates)
    h = hcp()
    if part == 0:
        return np.asarray(h.mesh.sphere_left[0], np.float64)[h.vertex_info.grayl[g]]
    if part == 1:
        return np.asarray(h.mesh.sphere_right[0], np.float64)[h.vertex_info.grayr[g - len(h.vertex_info.grayl)]]
    axis = standard_brain_model_axis()
    ijk = np.asarray(axis.voxel[g], np.float64)
    return ijk @ axis.affine[:3, :3].T + axis.affine[:3, 3]


def part_distances(part, grayordinates):
    """Distances (mm, float32 ``[n, n]``) between one part's grayordinates.

    Cortex: great-circle distance on the hemisphere's fs_LR sphere (radius ~100 mm), the
    registration sphere on which neighbouring vertices are neighbours on the cortical sheet.
    Subcortex: Euclidean distance between voxel centres.
    """
    x = part_coordinates(part, grayordinates)
    if part == 2:
        return np.sqrt(np.maximum(_squared_norms(x) - 2.0 * x @ x.T, 0.0)).astype(np.float32)
    radius = np.linalg.norm(x, axis=1).mean()
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    return (radius * np.arccos(np.clip(u @ u.T, -1.0, 1.0))).astype(np.float32)


def _squared_norms(x):
    """``|x_i|² + |x_j|²`` for every pair (rows of ``x``)."""
    s = (x * x).sum(axis=1)
    return s[:, None] + s[None, :]


@dataclass(frozen=True)
class Geometry:
    """One part's selection: its distances and the pairs its correlogram is measured on.

    Attributes
    ----------
    distances : ndarray float32 ``[n, n]``
    first, second : ndarray of int ``[n_pairs]``
        The voxel pairs within the nearest half of pair distances (of at most
        :data:`CORRELOGRAM_VOXELS` voxels).
    bins : ndarray of int ``[n_pairs]``
        Each pair's distance bin (:data:`N_DISTANCE_BINS` quantile bins).
    bin_distance : ndarray ``[N_DISTANCE_BINS]``
        Mean distance of each bin's pairs.
    """

    distances: np.ndarray
    first: np.ndarray
    second: np.ndarray
    bins: np.ndarray
    bin_distance: np.ndarray


def part_geometry(part, grayordinates):
    """The :class:`Geometry` of one part's selected grayordinates (cached per selection)."""
    g = np.ascontiguousarray(grayordinates, dtype=np.int64)
    return _cached_geometry(int(part), g.tobytes())


@functools.lru_cache(maxsize=4)
def _cached_geometry(part, key):
    g = np.frombuffer(key, dtype=np.int64)
    distances = part_distances(part, g)
    voxels = np.arange(len(g))
    if len(g) > CORRELOGRAM_VOXELS:
        # A fixed subset: the same selection always gets the same correlogram pairs.
        voxels = np.sort(np.random.default_rng(0).choice(len(g), CORRELOGRAM_VOXELS, replace=False))
    first, second = np.triu_indices(len(voxels), 1)
    first, second = voxels[first], voxels[second]
    d = distances[first, second].astype(np.float64)
    # Only the nearest half of pairs: at long range few pairs and little correlation remain.
    edges = np.quantile(d, np.linspace(0.0, 0.5, N_DISTANCE_BINS + 1))
    bins = np.digitize(d, edges) - 1
    keep = (bins >= 0) & (bins < N_DISTANCE_BINS)
    first, second, bins, d = first[keep], second[keep], bins[keep], d[keep]
    counts = np.bincount(bins, minlength=N_DISTANCE_BINS)
    bin_distance = np.bincount(bins, d, N_DISTANCE_BINS) / np.maximum(counts, 1)
    return Geometry(distances, first.astype(np.int32), second.astype(np.int32), bins.astype(np.int16),
                    bin_distance)


def correlogram(values, geometry):
    """Mean product of z-scored values per distance bin: ``(bin_distance, correlation)``."""
    x = np.asarray(values, np.float64)
    z = (x - x.mean()) / x.std()
    products = z[geometry.first] * z[geometry.second]
    counts = np.bincount(geometry.bins, minlength=N_DISTANCE_BINS)
    r = np.bincount(geometry.bins, products, N_DISTANCE_BINS) / np.maximum(counts, 1)
    return geometry.bin_distance, np.where(counts > 0, r, np.nan)


def fit_correlation_length(values, geometry):
    """Index into :data:`LENGTH_GRID_MM` of the Gaussian ``exp(-h² / (2 ℓ²))`` closest to the correlogram.

    Least squares over the correlogram's bins (:func:`correlogram`).
    """
    h, r = correlogram(values, geometry)
    ok = np.isfinite(r)
    model = np.exp(-h[ok, None] ** 2 / (2.0 * LENGTH_GRID_MM[None, :] ** 2))
    return int(np.argmin(((r[ok, None] - model) ** 2).sum(axis=0)))


#: Eigendecompositions kept for reuse, by size (2,300 voxels: ~20 MB each).
EIGENVECTOR_CACHE_BYTES = 1 << 30

_eigenvector_cache = OrderedDict()


def moran_eigenvectors(part, grayordinates, length_index):
    """Moran eigenvector maps of one part's selection at one grid length (cached).

    The eigendecomposition is the cost of MSR (~2.4 s at 2,300 voxels), and a report's maps
    share a selection and often a length: the most recently used ones are kept, up to
    :data:`EIGENVECTOR_CACHE_BYTES`.

    Returns
    -------
    ndarray float32 ``[n, n_components]``
        ``brainspace.null_models.compute_mem`` of ``exp(-d² / (2 ℓ²))``, nonzero spectrum.
    """
    g = np.ascontiguousarray(grayordinates, dtype=np.int64)
    key = (int(part), g.tobytes(), int(length_index))
    if key in _eigenvector_cache:
        _eigenvector_cache.move_to_end(key)
        return _eigenvector_cache[key]
    mem = _eigenvectors(*key)
    _eigenvector_cache[key] = mem
    while len(_eigenvector_cache) > 1 and sum(m.nbytes for m in _eigenvector_cache.values()) > EIGENVECTOR_CACHE_BYTES:
        _eigenvector_cache.popitem(last=False)
    return mem


def _eigenvectors(part, key, length_index):
    """``compute_mem`` of the Gaussian weights of one part's selection at one grid length."""
    from brainspace.null_models import compute_mem

    distances = _cached_geometry(part, key).distances
    length = np.float32(LENGTH_GRID_MM[length_index])
    weights = np.exp(-(distances ** 2) / (2 * length ** 2))
    mem = compute_mem(weights, spectrum="nonzero", tol=1e-10)[0]
    # compute_mem's float32 eigh can leave the constant vector (eigenvalue ~1e-7, above its tol)
    # when the kernel is narrower than the voxels' spacing (a map without autocorrelation):
    # its correlation with the map is undefined and would make every surrogate NaN.
    return mem[:, mem.std(axis=0) > 1e-2 / np.sqrt(len(mem))]


def _part_seed(seed, part):
    """An independent random stream per part (one seed for the whole map)."""
    return int(np.random.SeedSequence([int(seed), int(part)]).generate_state(1)[0])


def _not_modelled_reason(values, min_part_voxels, max_part_voxels):
    """Why a part gets no surrogates ("" if it does)."""
    n = len(values)
    if n == 0:
        return "no selected voxels"
    if n < min_part_voxels:
        return f"fewer than {min_part_voxels} selected voxels"
    if n > max_part_voxels:
        return f"more than {max_part_voxels} selected voxels (eigendecomposition too costly)"
    if np.std(values) <= 1e-12 * max(1.0, abs(float(np.mean(values)))):
        return "the map is constant here"
    return ""


def moran_surrogates(grayordinate_map, n_surrogates, seed=0, min_part_voxels=30, max_part_voxels=8000):
    """Moran spectral randomisation surrogates of a map, on its selected grayordinates.

    Parameters
    ----------
    grayordinate_map : ndarray ``[91282]``
        Values per grayordinate, NaN where nothing is selected.
    n_surrogates : int
    seed : int
        Same seed, same surrogates.
    min_part_voxels, max_part_voxels : int
        A part (:data:`PARTS`) with fewer or more selected voxels gets no surrogates: too few
        voxels to fit a correlogram, or too many for a dense eigendecomposition.

    Returns
    -------
    Surrogates
    """
    from brainspace.null_models import moran_randomization

    values = np.asarray(grayordinate_map, np.float64)
    grayordinates = np.flatnonzero(np.isfinite(values))
    parts = part_of(grayordinates)
    out = np.full((len(grayordinates), int(n_surrogates)), np.nan)
    rows = []
    for part, name in enumerate(PARTS):
        where = np.flatnonzero(parts == part)
        x = values[grayordinates[where]]
        reason = _not_modelled_reason(x, min_part_voxels, max_part_voxels)
        length = np.nan
        if not reason:
            g = grayordinates[where]
            length_index = fit_correlation_length(x, part_geometry(part, g))
            length = float(LENGTH_GRID_MM[length_index])
            if n_surrogates:
                mem = moran_eigenvectors(part, g, length_index)
                drawn = moran_randomization(x, mem, n_rep=int(n_surrogates), procedure="singleton",
                                            random_state=_part_seed(seed, part))
                out[where] = np.reshape(drawn, (int(n_surrogates), len(where))).T
        rows.append({"part": name, "n_voxels": len(where), "correlation_length_mm": length,
                     "modelled": not reason, "reason": reason})
    return Surrogates(grayordinates, out, pd.DataFrame(rows))
